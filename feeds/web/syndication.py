"""Feeds for readers: a group's or the network's news and upcoming events as Atom, RSS and
JSON Feed, and every feed in one OPML file. Each route parses its request, asks the render
cache (feeds/web/cache.py), which on a miss runs the render below it: store, then bytes."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from aiohttp import web

from feeds import urls
from feeds.filters import Filters, Scheduled, item_query, last_departure, select_events
from feeds.model import Network
from feeds.render.digest import Week as DigestWeek
from feeds.render.digest import week_entry
from feeds.render.digest import weeks as digest_weeks
from feeds.render.entries import (
    Entry,
    FeedInfo,
    SiteRef,
    event_entry,
    feed_id,
    post_entry,
    site_ref,
)
from feeds.render.jsonfeed import render_json_feed
from feeds.render.opml import render_opml
from feeds.render.syndication import render_atom, render_rss
from feeds.scope import EPOCH, Scope, merged_of, newest_change, upcoming, valid_until
from feeds.store import Store
from feeds.web.app_keys import configured_key, settings_key, store_key
from feeds.web.cache import answers_key
from feeds.web.pictures import with_own_images
from feeds.web.render_pool import RenderPool
from feeds.web.rendered import Rendered, make_rendered
from feeds.web.request import Asked, filters_of, max_age, page_of, scope_of, urls_of

routes = web.RouteTableDef()
NEWS_LIMIT = 50
EVENTS_LIMIT = 50
RENDERERS: dict[str, Callable[[FeedInfo, Sequence[Entry]], bytes]] = {
    "atom": render_atom,
    "rss": render_rss,
    "json": render_json_feed,
}
assert RENDERERS.keys() == urls.FEEDS.keys(), "a feed format without its renderer"
OPML_MAX_AGE = 3600


@routes.get(urls.OPML_FILE.route)
async def opml(request: web.Request) -> web.Response:
    links = urls_of(request)
    answers, network = request.app[answers_key], request.app[configured_key].network
    async with answers.slot(Asked("opml", urls=links).key) as slot:
        if slot.found is None:
            slot.keep(await _opml(network, links, slot.revision))
    return await answers.respond(request, slot.rendered, max_age=OPML_MAX_AGE)


@routes.get(urls.NEWS.route)
async def news(request: web.Request) -> web.Response:
    feed, answers, store = Feed.of(request), request.app[answers_key], request.app[store_key]
    async with answers.slot(feed.key("news")) as slot:
        if slot.found is None:
            slot.keep(await _news(store, feed, answers.pool, slot.revision))
    return await answers.respond(request, slot.rendered, max_age=max_age(request))


@routes.get(urls.EVENTS_FEED.route)
async def events(request: web.Request) -> web.Response:
    feed, answers, store = Feed.of(request), request.app[answers_key], request.app[store_key]
    now = datetime.now(UTC)
    async with answers.slot(feed.key("events")) as slot:
        if slot.found is None:
            slot.keep(await _events(store, feed, now, answers.pool, slot.revision))
    return await answers.respond(request, slot.rendered, max_age=max_age(request))


@routes.get(urls.DIGEST.route)
async def digest(request: web.Request) -> web.Response:
    """One item a week with that week's events, for newsletter tools."""
    scope, filters, links = scope_of(request), filters_of(request), urls_of(request)
    answers, store, now = request.app[answers_key], request.app[store_key], datetime.now(UTC)
    async with answers.slot(Asked("digest", scope, filters, links).key) as slot:
        if slot.found is None:
            slot.keep(await _digest(store, scope, filters, links, now, answers.pool, slot.revision))
    return await answers.respond(request, slot.rendered, max_age=max_age(request))


class Feed(NamedTuple):
    """What a feed's request asks for."""

    scope: Scope
    filters: Filters
    urls: urls.Urls
    fmt: str
    hub: str | None  # the WebSub hub the feed names

    @classmethod
    def of(cls, request: web.Request) -> Feed:
        hub = request.app[settings_key].websub_hub
        fmt = request.match_info["fmt"]
        return cls(scope_of(request), filters_of(request), urls_of(request), fmt, hub)

    def key(self, view: str) -> tuple[Hashable, ...]:
        return Asked(view, self.scope, self.filters, self.urls, self.fmt).key


# --- renders, on a cache miss ---------------------------------------------------------


async def _opml(network: Network, links: urls.Urls, revision: int) -> Rendered:
    body = render_opml(network, links)
    # No date: the list changes with the configuration, which has none we could give
    # alike on every instance; the ETag validates it.
    return make_rendered(body, urls.OPML.media_type, None, revision)


async def _news(store: Store, feed: Feed, pool: RenderPool, revision: int) -> Rendered:
    scope, filters, links, fmt, hub = feed
    query = item_query(filters, scope.site_slugs(filters), scope.zone, limit=NEWS_LIMIT)
    chosen = await with_own_images(store, await store.posts(query), links)
    refs = _refs(scope, links)
    render = RENDERERS[fmt]
    info = _info(scope, "news", "Neuigkeiten", links.news(scope.slug, fmt), links, hub)

    def build() -> bytes:  # all of it in a worker: the loop keeps answering meanwhile
        return render(
            info,
            [
                post_entry(
                    p, refs.get(p.item.site), page_url=links.post_page(p.item.site, p.item.uuid)
                )
                for p in chosen
            ],
        )

    body = await pool.run(build)
    # Last-Modified is when the store last changed what was selected, not an upstream date:
    # a post dated before the newest one still changes the feed (RFC 9110 8.8.2); so does
    # one the office hid or showed again.
    hidden = await store.latest_end(replace(query, after=None, before=None, limit=None), None,
                                    kind="post")  # fmt: skip
    changed = max(newest_change(chosen), hidden or EPOCH)
    return make_rendered(body, urls.FEEDS[fmt].media_type, changed, revision)


async def _events(
    store: Store, feed: Feed, now: datetime, pool: RenderPool, revision: int
) -> Rendered:
    scope, filters, links, fmt, hub = feed
    query = item_query(
        filters, scope.site_slugs(filters), scope.zone, after=now, limit=EVENTS_LIMIT
    )
    candidates = await with_own_images(store, await store.events(query), links)
    refs = _refs(scope, links)
    render = RENDERERS[fmt]
    info = _info(scope, "events", "Termine", links.events_feed(scope.slug, fmt), links, hub)

    def build() -> tuple[list[Scheduled], bytes, datetime | None]:
        # Occurrences, entries and bytes in a worker: the loop keeps answering meanwhile.
        chosen, also = upcoming(scope, candidates, filters, now, query.limit)
        entries = [
            event_entry(
                s,
                refs.get(s.stored.item.site),
                scope.zone,
                links.event_calendar(s.stored.item.site, s.stored.item.uuid),
                also=also(s.stored.item),
                page_url=links.event_page(s.stored.item.site, s.stored.item.uuid),
            )
            for s in chosen
        ]
        return chosen, render(info, entries), last_departure(candidates, now)

    chosen, body, departed = await pool.run(build)
    ended = await store.latest_end(replace(query, after=None, before=None, limit=None), now)
    changed = max(
        newest_change(s.stored for s in chosen),
        ended or EPOCH,
        departed or EPOCH,  # series still running
    )
    return make_rendered(
        body, urls.FEEDS[fmt].media_type, changed, revision, valid_until=valid_until(chosen, now)
    )


DIGEST_WEEKS_BACK = 4  # weeks of history a digest keeps


async def _digest(
    store: Store,
    scope: Scope,
    filters: Filters,
    links: urls.Urls,
    now: datetime,
    pool: RenderPool,
    revision: int,
) -> Rendered:
    zone = scope.zone
    held = digest_weeks(now.astimezone(zone).date(), zone, now, DIGEST_WEEKS_BACK)
    whole = replace(filters, start=held[0].monday, end=held[-1].sunday, limit=None)
    candidates = await store.events(item_query(whole, scope.site_slugs(filters), zone))
    page = page_of(scope, filters, links)
    names = scope.names() if scope.is_network else None
    info = FeedInfo(
        id=feed_id(scope.slug, "digest"),
        title=f"{scope.title}: Termine der Woche",
        subtitle=f"Jede Woche die Termine von {scope.title}, für Newsletter",
        self_url=links.digest(scope.slug),
        alternate_url=page,
        author=None if scope.is_network else scope.title,
    )

    def build() -> tuple[bytes, datetime]:
        entries = []
        for week in held:
            window = replace(filters, start=week.monday, end=week.sunday, limit=None)
            chosen = select_events(candidates, window, zone)
            if scope.is_network:  # an event several groups carry, once
                merged = merged_of(scope, [s.stored for s in chosen])
                chosen = [s for s in chosen if merged.kept(s.stored.item)]
            if chosen:
                entries.append(week_entry(week, chosen, zone, links, scope.slug, page, names))
        entries.reverse()  # the newest week first, as feeds are read
        return render_rss(info, entries), max((e.updated for e in entries), default=EPOCH)

    body, changed = await pool.run(build)
    # The next week's item appears on the Monday before it: the digest moves on then.
    moves = DigestWeek(held[-1].monday + timedelta(days=7)).published(zone)
    return make_rendered(body, urls.FEEDS["rss"].media_type, changed, revision, valid_until=moves)


def _refs(scope: Scope, links: urls.Urls) -> dict[str, SiteRef]:
    return {s.slug: site_ref(s, links) for s in scope.sites} if scope.is_network else {}


def _info(
    scope: Scope, what: str, label: str, self_url: str, links: urls.Urls, hub: str | None
) -> FeedInfo:
    return FeedInfo(
        id=feed_id(scope.slug, what),
        title=f"{scope.title}: {label}",
        subtitle=None,
        self_url=self_url,
        alternate_url=scope.homepage or links.group_page(scope.slug),
        author=None if scope.is_network else scope.title,
        hub_url=hub,
    )
