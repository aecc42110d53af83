"""Store reads and renders for each route; they run only on a render-cache miss."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from functools import partial
from itertools import islice
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from feeds.duplicates import Merged, merge
from feeds.filters import (
    Filters,
    Scheduled,
    item_query,
    last_departure,
    select_events,
    select_sites,
)
from feeds.model import Event, Network, Post, Site
from feeds.occurrences import occurrences
from feeds.render import pages
from feeds.render.entries import (
    Entry,
    FeedInfo,
    SiteRef,
    event_entry,
    feed_id,
    post_entry,
    site_ref,
)
from feeds.render.ics import CalendarInfo, Credit, Memo, render_calendar
from feeds.render.jsonfeed import render_json_feed
from feeds.render.links import webcal
from feeds.render.qr import qr_svg
from feeds.render.status import SourceRow
from feeds.render.syndication import render_atom, render_rss
from feeds.store import ItemQuery, SourceState, Store, Stored
from feeds.urls import FEEDS, NETWORK, Urls
from feeds.web.caching import Rendered, make_rendered

NEWS_LIMIT = 50
EVENTS_LIMIT = 50
FEED_RENDERERS: dict[str, Callable[[FeedInfo, Sequence[Entry]], bytes]] = {
    "atom": render_atom,
    "rss": render_rss,
    "json": render_json_feed,
}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SERIES_HORIZON = timedelta(days=366)


@dataclass(frozen=True, slots=True)
class Scope:
    """One group, or the whole network."""

    slug: str
    title: str
    homepage: str | None
    timezone: str
    sites: tuple[Site, ...]

    @property
    def is_network(self) -> bool:
        return self.slug == NETWORK

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def resolve_scope(network: Network, slug: str) -> Scope | None:
    if slug == NETWORK:
        return Scope(NETWORK, network.name, network.homepage, network.timezone, network.sites)
    site = network.site(slug)
    if site is None:
        return None
    return Scope(site.slug, site.name, site.homepage, site.timezone, (site,))


def _sites(scope: Scope, filters: Filters) -> list[str]:
    return [s.slug for s in select_sites(scope.sites, filters)]


def _refs(scope: Scope, base_url: str) -> dict[str, SiteRef]:
    urls = Urls(base_url)
    return {s.slug: site_ref(s, urls) for s in scope.sites} if scope.is_network else {}


def _info(
    scope: Scope, what: str, label: str, fmt: str, base_url: str, hub: str | None
) -> FeedInfo:
    return FeedInfo(
        id=feed_id(scope.slug, what),
        title=f"{scope.title}: {label}",
        subtitle=None,
        self_url=(Urls.news if what == "news" else Urls.events_feed)(
            Urls(base_url), scope.slug, fmt
        ),
        alternate_url=scope.homepage or Urls(base_url).group_page(scope.slug),
        author=None if scope.is_network else scope.title,
        hub_url=hub,
    )


async def news(
    store: Store,
    scope: Scope,
    fmt: str,
    filters: Filters,
    base_url: str,
    revision: int,
    *,
    hub: str | None = None,
) -> Rendered:
    query = item_query(filters, _sites(scope, filters), scope.zone, limit=NEWS_LIMIT)
    chosen = await store.posts(query)
    refs = _refs(scope, base_url)
    render, content_type = FEED_RENDERERS[fmt], FEEDS[fmt].media_type
    urls = Urls(base_url)
    info = _info(scope, "news", "Neuigkeiten", fmt, base_url, hub)

    def build() -> bytes:  # all of it in a worker: the loop keeps answering meanwhile
        return render(
            info,
            [
                post_entry(
                    p, refs.get(p.item.site), page_url=urls.post_page(p.item.site, p.item.uuid)
                )
                for p in chosen
            ],
        )

    body = await asyncio.to_thread(build)
    # Last-Modified is when the store last changed what was selected, not an upstream date:
    # a post dated before the newest one still changes the feed (RFC 9110 8.8.2).
    return make_rendered(body, content_type, _changed(chosen), revision)


async def events_feed(
    store: Store,
    scope: Scope,
    fmt: str,
    filters: Filters,
    base_url: str,
    revision: int,
    now: datetime,
    *,
    hub: str | None = None,
) -> Rendered:
    query = item_query(filters, _sites(scope, filters), scope.zone, after=now, limit=EVENTS_LIMIT)
    candidates = await store.events(query)
    refs = _refs(scope, base_url)
    render, content_type = FEED_RENDERERS[fmt], FEEDS[fmt].media_type
    urls = Urls(base_url)
    info = _info(scope, "events", "Termine", fmt, base_url, hub)

    def build() -> tuple[list[Scheduled], bytes, datetime | None]:
        # Occurrences, entries and bytes in a worker: the loop keeps answering meanwhile.
        chosen, also = _choose_upcoming(scope, candidates, filters, now, query.limit)
        entries = [
            event_entry(
                s,
                refs.get(s.stored.item.site),
                scope.zone,
                urls.event_calendar(s.stored.item.site, s.stored.item.uuid),
                also=also(s.stored.item),
                page_url=urls.event_page(s.stored.item.site, s.stored.item.uuid),
            )
            for s in chosen
        ]
        return chosen, render(info, entries), last_departure(candidates, now)

    chosen, body, departed = await asyncio.to_thread(build)
    valid_until = _valid_until(chosen, now)
    ended = await store.latest_end(replace(query, after=None, before=None, limit=None), now)
    changed = max(
        _changed(s.stored for s in chosen),
        ended or EPOCH,
        departed or EPOCH,  # series still running
    )
    return make_rendered(body, content_type, changed, revision, valid_until=valid_until)


async def calendar(
    store: Store,
    scope: Scope,
    filters: Filters,
    refresh: timedelta,
    revision: int,
    memo: Memo,
    *,
    now: datetime,
    past_days: int,
) -> Rendered:
    sites = _sites(scope, filters)
    valid_until = None
    if scope.is_network and filters.start is None:
        # The network's calendar starts `past_days` back unless `from` says otherwise,
        # and moves on at local midnight.
        today = now.astimezone(scope.zone).date()
        filters = replace(filters, start=today - timedelta(days=past_days))
        midnight = datetime.combine(today + timedelta(days=1), time(), scope.zone)
        valid_until = midnight
    if filters == Filters():
        stored = await store.events(ItemQuery(sites=sites))
    else:
        candidates = await store.events(item_query(filters, sites, scope.zone))
        chosen = await asyncio.to_thread(select_events, candidates, filters, scope.zone)
        # A calendar must not split a series from its overrides: every part of a chosen UID.
        series = tuple(sorted({s.stored.item.ical_uid for s in chosen}))
        stored = await store.events(ItemQuery(sites=sites, series=series)) if series else []
    # An event its upstream stopped listing left the calendar then: Last-Modified says so.
    removed = await store.latest_end(
        replace(item_query(filters, sites, scope.zone), after=None, before=None, limit=None), None
    )
    return await _ics(
        scope,
        stored,
        refresh,
        revision,
        memo,
        name=f"{scope.title}: Termine",
        valid_until=valid_until,
        departed=removed,
    )


class NoSuchEventError(LookupError):
    """No event of the scope has that id."""


async def single_event(
    store: Store, scope: Scope, event_id: str, refresh: timedelta, revision: int, memo: Memo
) -> Rendered:
    sites = [s.slug for s in scope.sites]
    found = await store.events(ItemQuery(sites=sites, ids=(event_id,)))
    if not found:
        raise NoSuchEventError(event_id)
    wanted = found[0]
    series = await store.events(ItemQuery(sites=sites, series=(wanted.item.ical_uid,)))
    return await _ics(
        scope,
        series,
        refresh,
        revision,
        memo,
        name=wanted.item.title,
        filename=f"{wanted.item.title}.ics",  # "add to calendar" saves a file: name it
    )


async def _ics(
    scope: Scope,
    events: list[Stored[Event]],
    refresh: timedelta,
    revision: int,
    memo: Memo,
    *,
    name: str,
    filename: str | None = None,
    valid_until: datetime | None = None,
    departed: datetime | None = None,
) -> Rendered:
    info = CalendarInfo(name=name, description=None, timezone=scope.timezone, refresh=refresh)

    def build() -> bytes:
        if not scope.is_network:
            return render_calendar(info, events, memo=memo)
        merged = _merged(scope, events)
        kept = [e for e in events if merged.kept(e.item)]
        names, also = {s.slug: s.name for s in scope.sites}, _also(scope, merged)

        def credit(event: Event) -> Credit:
            return names[event.site], also(event)

        return render_calendar(info, kept, attribution=credit, memo=memo)

    body = await asyncio.to_thread(build)
    return make_rendered(
        body,
        "text/calendar",
        max(_changed(events), departed or EPOCH),
        revision,
        filename=filename,
        valid_until=valid_until,
    )


def _choose_upcoming(
    scope: Scope,
    candidates: list[Stored[Event]],
    filters: Filters,
    now: datetime,
    limit: int | None,
) -> tuple[list[Scheduled], Callable[[Event], tuple[str, ...]]]:
    """What is to come among the store's candidates, each event once on network views,
    and who else carries it."""
    chosen = select_events(candidates, filters, scope.zone, now=now)
    merged = _merged(scope, [s.stored for s in chosen])
    chosen = [s for s in chosen if merged.kept(s.stored.item)][:limit]
    return chosen, _also(scope, merged)


def _valid_until(chosen: Sequence[Scheduled], now: datetime) -> datetime:
    # "Upcoming" moves with the clock: the list changes when its first event is over.
    valid_until = min((s.end for s in chosen if s.end > now), default=now + timedelta(hours=1))
    return min(valid_until, now + timedelta(hours=1))


def _merged(scope: Scope, events: list[Stored[Event]]) -> Merged:
    """Network views show an event carried by several groups once (feeds/duplicates.py)."""
    return merge(events) if scope.is_network else Merged(frozenset(), {})


def _also(scope: Scope, merged: Merged) -> Callable[[Event], tuple[str, ...]]:
    """The names of the other groups carrying an event (names looked up once per render)."""
    names = {s.slug: s.name for s in scope.sites}
    return lambda event: tuple(names.get(slug, slug) for slug in merged.others(event))


def _changed(stored: Iterable[Stored[Post] | Stored[Event]]) -> datetime:
    """The newest change among the items shown; fixed for none, so validators stay stable."""
    return max((s.changed for s in stored), default=EPOCH)


async def status_rows(store: Store, network: Network) -> list[SourceRow]:
    """Every configured source with what the store knows of it."""
    states = {(s.site, s.source): s for s in await store.source_states()}
    rows = []
    for site in network.sites:
        for config in site.sources:
            state = states.get((site.slug, config.name))
            rows.append(
                SourceRow(
                    site=site.slug,
                    site_name=site.name,
                    source=config.name,
                    kind=config.kind,
                    interval_seconds=int(config.interval.total_seconds()),
                    health=_health(state),
                    last_attempt=state.last_attempt if state else None,
                    last_success=state.last_success if state else None,
                    last_error=state.last_error if state else None,
                    http_status=state.last_status if state else None,
                    failures=state.failures if state else 0,
                    items=state.items if state else 0,
                    upstream_items=state.upstream_items if state else None,
                    next_run=state.next_run if state else None,
                    moved_to=state.moved_to if state else None,
                    skipped=state.notes.skipped if state else (),
                    warnings=state.notes.warnings if state else (),
                )
            )
    return rows


def _health(state: SourceState | None) -> str:
    if state is None or state.last_attempt is None:
        return "waiting"
    if state.gone:
        return "gone"
    return "failing" if state.failures else "ok"


# --- pages for people -------------------------------------------------------------------

PAGE_EVENTS = 8
PAGE_POSTS = 8
WIDGET_EVENTS = 5
SERIES_DATES = 10  # further dates of a series on its page


def page_headers(base_url: str, *, framed: bool = False) -> tuple[tuple[str, str], ...]:
    """Our pages run only our own scripts and styles; upstream images may come from
    anywhere. The widget's page may be framed by any website, the others by none."""
    origin = _origin(base_url)
    policy = (
        "default-src 'none'; "
        f"script-src 'self' {origin}; style-src 'self' {origin}; "
        f"connect-src 'self' {origin}; img-src 'self' {origin} https: http: data:; "
        "base-uri 'none'; form-action 'none'" + ("" if framed else "; frame-ancestors 'none'")
    )
    return (
        ("Content-Security-Policy", policy),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "strict-origin-when-cross-origin"),
    )


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _page(scope: Scope, network: Network, base_url: str, **fields: Any) -> pages.Page:
    fields.setdefault("group", None if scope.is_network else (scope.slug, scope.title))
    return pages.Page(urls=Urls(base_url), network=network.name, **fields)


async def _upcoming_cards(
    store: Store, scope: Scope, filters: Filters, base_url: str, now: datetime, limit: int
) -> tuple[list[pages.EventCard], datetime, datetime]:
    """Cards of what is to come, the newest change among them and until when they hold."""
    query = item_query(filters, _sites(scope, filters), scope.zone, after=now, limit=limit)
    candidates = await store.events(query)
    names = {s.slug: s.name for s in scope.sites}

    def build() -> tuple[list[Scheduled], list[pages.EventCard], datetime | None]:
        chosen, also = _choose_upcoming(scope, candidates, filters, now, limit)
        cards = [
            pages.event_card(
                s,
                scope.zone,
                Urls(base_url),
                group=names.get(s.stored.item.site) if scope.is_network else None,
                also=also(s.stored.item),
            )
            for s in chosen
        ]
        return chosen, cards, last_departure(candidates, now)

    chosen, cards, departed = await asyncio.to_thread(build)
    valid_until = _valid_until(chosen, now)
    ended = await store.latest_end(replace(query, after=None, before=None, limit=None), now)
    changed = max(_changed(s.stored for s in chosen), ended or EPOCH, departed or EPOCH)
    return cards, changed, valid_until


async def home_page(
    store: Store, network: Network, scope: Scope, base_url: str, revision: int, now: datetime
) -> Rendered:
    """The network's page (`/`) or a group's (`/{group}/`)."""
    sites = [s.slug for s in scope.sites]
    events, changed, valid_until = await _upcoming_cards(
        store, scope, Filters(), base_url, now, PAGE_EVENTS
    )
    posts = await store.posts(ItemQuery(sites=sites, limit=PAGE_POSTS))
    names = {s.slug: s.name for s in scope.sites}
    cards = [
        pages.post_card(
            p,
            scope.zone,
            Urls(base_url),
            group=names.get(p.item.site) if scope.is_network else None,
        )
        for p in posts
    ]
    urls = Urls(base_url)
    subscribe = pages.subscription(urls, scope.slug, scope.title, network=scope.is_network)
    if scope.is_network:
        counts = await store.item_counts()
        regions = pages.regions_of(
            (
                site.region,
                pages.GroupLink(
                    name=site.name,
                    url=urls.group_page(site.slug),
                    posts=counts.get((site.slug, "post"), 0),
                    events=counts.get((site.slug, "event"), 0),
                ),
            )
            for site in network.sites
        )
        page = _page(
            scope,
            network,
            base_url,
            title=f"{network.name}: Neuigkeiten und Termine",
            description=f"Neuigkeiten und Termine der {len(network.sites)} Gruppen von"
            f" {network.name}, zum Lesen und Abonnieren.",
            url=urls.network_page(),
            feeds=pages.feed_links(urls, scope.slug, scope.title),
        )
        # Templates in a worker, like every render: 112 groups make a long page.
        body = await asyncio.to_thread(pages.render_home, page, subscribe, events, cards, regions)
        # The groups' counts change with any harvest: the page is as new as the store
        # (read from the store, so every instance gives the same date).
        changed = max(changed, _changed(posts), await store.last_change() or EPOCH)
    else:
        site = scope.sites[0]
        page = _page(
            scope,
            network,
            base_url,
            title=f"{site.name}: Neuigkeiten und Termine",
            description=f"Neuigkeiten und Termine von {site.name}, zum Lesen und Abonnieren.",
            url=urls.group_page(site.slug),
            feeds=pages.feed_links(urls, scope.slug, scope.title),
        )
        body = await asyncio.to_thread(
            partial(pages.render_group, region=site.region, homepage=site.homepage),
            page,
            subscribe,
            events,
            cards,
        )
        changed = max(changed, _changed(posts))
    return make_rendered(
        body,
        "text/html",
        changed,
        revision,
        valid_until=valid_until,
        headers=page_headers(base_url),
    )


async def event_page(
    store: Store,
    network: Network,
    scope: Scope,
    event_id: str,
    base_url: str,
    revision: int,
    now: datetime,
) -> Rendered:
    found = await store.events(ItemQuery(sites=[s.slug for s in scope.sites], ids=(event_id,)))
    if not found:
        raise NoSuchEventError(event_id)
    stored = found[0]
    event = stored.item
    group, homepage, zone = _group_of(network, scope, event.site)
    # A series shows its next date (or the one going on) and lists the following ones.
    coming = list(islice(occurrences(event, now, now + SERIES_HORIZON), SERIES_DATES + 1))
    first = coming[0] if coming else (event.start_instant(), event.end_instant())
    scheduled = Scheduled(stored, *first)
    detail = pages.event_detail(
        scheduled,
        coming[1:],
        zone,
        Urls(base_url),
        group=group,
        group_homepage=homepage,
    )
    page = _page(
        scope,
        network,
        base_url,
        title=f"{detail.title} – {detail.when}",
        description=" · ".join(
            filter(
                None,
                [detail.when, event.location.label() if event.location else None, group],
            )
        ),
        url=Urls(base_url).event_page(event.site, event.uuid),
        feeds=pages.feed_links(Urls(base_url), event.site, group),
        image=event.image,
        group=(event.site, group),
    )
    body = await asyncio.to_thread(pages.render_event, page, detail)
    valid_until = first[1] if len(coming) > 1 else None
    return make_rendered(
        body,
        "text/html",
        stored.changed,
        revision,
        valid_until=valid_until,
        headers=page_headers(base_url),
    )


def _group_of(network: Network, scope: Scope, slug: str) -> tuple[str, str | None, ZoneInfo]:
    """An item's group: its name, website and zone (of a group no longer configured: its
    slug, none, and the scope's zone)."""
    site = network.site(slug)
    if site is None:
        return slug, None, scope.zone
    return site.name, site.homepage, site.zone


class NoSuchPostError(LookupError):
    """No post of the scope has that id."""


async def post_page(
    store: Store, network: Network, scope: Scope, post_id: str, base_url: str, revision: int
) -> Rendered:
    found = await store.posts(ItemQuery(sites=[s.slug for s in scope.sites], ids=(post_id,)))
    if not found:
        raise NoSuchPostError(post_id)
    stored = found[0]
    post = stored.item
    group, _, zone = _group_of(network, scope, post.site)
    urls = Urls(base_url)
    detail = pages.post_detail(stored, zone, urls, group=group)
    page = _page(
        scope,
        network,
        base_url,
        title=f"{detail.title} – {group}",
        description=pages.post_card(stored, zone, urls, group=None).summary or detail.title,
        url=urls.post_page(post.site, post.uuid),
        # The group's own article is the original: search engines should list that one.
        canonical=post.url,
        feeds=pages.feed_links(urls, post.site, group),
        image=post.image,
        og_type="article",
        group=(post.site, group),
    )
    body = await asyncio.to_thread(pages.render_post, page, detail)
    return make_rendered(
        body, "text/html", stored.changed, revision, headers=page_headers(base_url)
    )


async def widget_page(
    store: Store,
    network: Network,
    scope: Scope,
    filters: Filters,
    base_url: str,
    revision: int,
    now: datetime,
) -> Rendered:
    """Upcoming events for a frame on another website (the script's alternative)."""
    limit = filters.limit or WIDGET_EVENTS
    events, changed, valid_until = await _upcoming_cards(
        store, scope, filters, base_url, now, limit
    )
    title = " – ".join([scope.title, *filters.regions])
    page = _page(
        scope,
        network,
        base_url,
        title=f"Termine: {title}",
        description=f"Die nächsten Termine: {title}",
        url=Urls(base_url).widget(scope.slug),
    )
    urls = Urls(base_url)
    more = urls.network_page() if scope.is_network else urls.group_page(scope.slug)
    body = await asyncio.to_thread(partial(pages.render_widget, more_url=more), page, events)
    return make_rendered(
        body,
        "text/html",
        changed,
        revision,
        valid_until=valid_until,
        headers=page_headers(base_url, framed=True),
    )


def embed_guide(network: Network, base_url: str, revision: int) -> Rendered:
    regions = sorted({s.region for s in network.sites if s.region})
    scope = resolve_scope(network, NETWORK)
    assert scope is not None
    page = _page(
        scope,
        network,
        base_url,
        title=f"Termine von {network.name} auf der eigenen Website zeigen",
        description="Eine Zeile Code zeigt die nächsten Termine auf Ihrer Website.",
        url=Urls(base_url).embed_guide(),
        feeds=pages.feed_links(Urls(base_url), NETWORK, network.name),
    )
    body = pages.render_embed_guide(page, regions, regions[0] if regions else None)
    return make_rendered(body, "text/html", None, revision, headers=page_headers(base_url))


def qr_code(scope: Scope, base_url: str, revision: int) -> Rendered:
    calendar = webcal(Urls(base_url).calendar(scope.slug))
    body = qr_svg(calendar, f"Kalender abonnieren: {scope.title}")
    return make_rendered(body, "image/svg+xml", None, revision)
