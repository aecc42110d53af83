"""Store reads and renders for each route; they run only on a render-cache miss."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
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
from feeds.render.entries import (
    Entry,
    FeedInfo,
    SiteRef,
    event_entry,
    feed_id,
    post_entry,
    site_ref,
)
from feeds.render.html import GroupSummary, render_index
from feeds.render.ics import CalendarInfo, Credit, Memo, render_calendar
from feeds.render.jsonfeed import render_json_feed
from feeds.render.status import SourceRow
from feeds.render.syndication import render_atom, render_rss
from feeds.store import ItemQuery, SourceState, Store, Stored
from feeds.web.caching import Rendered, make_rendered

NEWS_LIMIT = 50
EVENTS_LIMIT = 50
FEED_RENDERERS: dict[str, tuple[Callable[[FeedInfo, Sequence[Entry]], bytes], str]] = {
    "atom": (render_atom, "application/atom+xml"),
    "rss": (render_rss, "application/rss+xml"),
    "json": (render_json_feed, "application/feed+json"),
}
NETWORK = "network"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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
    return {s.slug: site_ref(s, base_url) for s in scope.sites} if scope.is_network else {}


def _info(
    scope: Scope, what: str, label: str, fmt: str, base_url: str, hub: str | None
) -> FeedInfo:
    return FeedInfo(
        id=feed_id(scope.slug, what),
        title=f"{scope.title}: {label}",
        subtitle=None,
        self_url=f"{base_url}/{scope.slug}/{what}.{fmt}",
        alternate_url=scope.homepage or f"{base_url}/{scope.slug}/",
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
    render, content_type = FEED_RENDERERS[fmt]
    info = _info(scope, "news", "Neuigkeiten", fmt, base_url, hub)

    def build() -> bytes:  # all of it in a worker: the loop keeps answering meanwhile
        return render(info, [post_entry(p, refs.get(p.item.site)) for p in chosen])

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
    render, content_type = FEED_RENDERERS[fmt]
    info = _info(scope, "events", "Termine", fmt, base_url, hub)

    def build() -> tuple[list[Scheduled], bytes, datetime | None]:
        # Occurrences, entries and bytes in a worker: the loop keeps answering meanwhile.
        chosen = select_events(candidates, filters, scope.zone, now=now)
        merged = _merged(scope, [s.stored for s in chosen])
        chosen = [s for s in chosen if merged.kept(s.stored.item)][: query.limit]
        also = _also(scope, merged)
        entries = [
            event_entry(
                s,
                refs.get(s.stored.item.site),
                scope.zone,
                f"{base_url}/{s.stored.item.site}/events/{s.stored.item.uuid}.ics",
                also=also(s.stored.item),
            )
            for s in chosen
        ]
        return chosen, render(info, entries), last_departure(candidates, now)

    chosen, body, departed = await asyncio.to_thread(build)
    # "Upcoming" moves with the clock: the list changes when its first event is over.
    valid_until = min((s.end for s in chosen if s.end > now), default=now + timedelta(hours=1))
    valid_until = min(valid_until, now + timedelta(hours=1))
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
    return await _ics(
        scope,
        stored,
        refresh,
        revision,
        memo,
        name=f"{scope.title}: Termine",
        valid_until=valid_until,
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
        _changed(events),
        revision,
        filename=filename,
        valid_until=valid_until,
    )


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


async def index(
    store: Store, network: Network, scope: Scope, base_url: str, revision: int
) -> Rendered:
    counts = await store.item_counts()
    groups = [
        GroupSummary(
            slug=site.slug,
            name=site.name,
            region=site.region,
            homepage=site.homepage,
            posts=counts.get((site.slug, "post"), 0),
            events=counts.get((site.slug, "event"), 0),
        )
        for site in scope.sites
    ]
    body = render_index(network, groups, base_url, scope=scope.slug)
    return make_rendered(body, "text/html", datetime.now(UTC), revision)


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
