"""Route handlers: parse the request, ask the cache (which asks store and render), respond."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from datetime import UTC, datetime, timedelta

from aiohttp import web

from feeds.filters import Filters
from feeds.render.opml import render_opml
from feeds.urls import Urls
from feeds.web import views
from feeds.web.app_keys import (
    cache_key,
    interval_key,
    network_key,
    revision_key,
    settings_key,
    store_key,
    vevents_key,
)
from feeds.web.caching import Rendered, make_rendered
from feeds.web.http import respond
from feeds.web.query import QueryError, excerpt, parse_filters

routes = web.RouteTableDef()
FEED_FORMATS = "atom|rss|json"


def base_url(request: web.Request) -> str:
    """The public address for links; FEEDS_BASE_URL wins over what the request says."""
    return request.app[settings_key].base_url or f"{request.scheme}://{request.host}"


def scope_of(request: web.Request) -> views.Scope:
    scope = views.resolve_scope(request.app[network_key], request.match_info["site"])
    if scope is None:
        raise web.HTTPNotFound(text=f"no group named {excerpt(request.match_info['site'])}\n")
    return scope


def max_age(request: web.Request) -> int:
    # Half the harvest interval: a reader sees a change within one interval at worst.
    return max(60, int(request.app[interval_key].total_seconds() // 2))


async def cached(
    request: web.Request, key: Hashable, render: Callable[[int], Awaitable[Rendered]]
) -> Rendered:
    revision = request.app[revision_key].value
    return await request.app[cache_key].get_or_render(key, revision, lambda: render(revision))


def filters_of(request: web.Request) -> Filters:
    """The query's filters; a `site` that names no group is a 400 that lists them."""
    filters = parse_filters(request.query)
    network = request.app[network_key]
    unknown = [slug for slug in filters.sites if network.site(slug) is None]
    if unknown:
        known = ", ".join(s.slug for s in network.sites[:20])
        more = " …" if len(network.sites) > 20 else ""
        raise QueryError("site", f"no group is named {excerpt(unknown[0])}; groups: {known}{more}")
    return filters


@routes.get("/opml")
async def opml(request: web.Request) -> web.Response:
    app, base = request.app, base_url(request)

    async def render(revision: int) -> Rendered:
        body = render_opml(app[network_key], Urls(base))
        # No date: the list changes with the configuration, which has none we could give
        # alike on every instance; the ETag validates it.
        return make_rendered(body, "text/x-opml", None, revision)

    rendered = await cached(request, ("opml", base), render)
    return await respond(request, rendered, max_age=3600)


@routes.get(f"/{{site}}/news.{{fmt:{FEED_FORMATS}}}")
async def news(request: web.Request) -> web.Response:
    scope, fmt, base = scope_of(request), request.match_info["fmt"], base_url(request)
    filters = filters_of(request)
    store = request.app[store_key]
    rendered = await cached(
        request,
        ("news", scope.slug, fmt, filters.cache_key(), base),
        lambda rev: views.news(store, scope, fmt, filters, base, rev, hub=hub_of(request)),
    )
    return await respond(request, rendered, max_age=max_age(request))


@routes.get(f"/{{site}}/events.{{fmt:{FEED_FORMATS}}}")
async def events_feed(request: web.Request) -> web.Response:
    scope, fmt, base = scope_of(request), request.match_info["fmt"], base_url(request)
    filters = filters_of(request)
    store = request.app[store_key]
    rendered = await cached(
        request,
        ("events", scope.slug, fmt, filters.cache_key(), base),
        lambda rev: views.events_feed(
            store, scope, fmt, filters, base, rev, datetime.now(UTC), hub=hub_of(request)
        ),
    )
    return await respond(request, rendered, max_age=max_age(request))


@routes.get("/{site}/events.ics")
async def calendar(request: web.Request) -> web.Response:
    scope, filters = scope_of(request), filters_of(request)
    store, refresh = request.app[store_key], refresh_interval(request)
    rendered = await cached(
        request,
        ("calendar", scope.slug, filters.cache_key()),
        lambda rev: views.calendar(
            store,
            scope,
            filters,
            refresh,
            rev,
            request.app[vevents_key],
            now=datetime.now(UTC),
            past_days=request.app[settings_key].network_calendar_days,
        ),
    )
    return await respond(request, rendered, max_age=max_age(request))


@routes.get("/{site}/events/{event_id:[0-9a-f-]{36}}.ics")
async def single_event(request: web.Request) -> web.Response:
    scope, event_id = scope_of(request), request.match_info["event_id"]
    store, refresh = request.app[store_key], refresh_interval(request)
    try:
        rendered = await cached(
            request,
            ("event", scope.slug, event_id),
            lambda rev: views.single_event(
                store, scope, event_id, refresh, rev, request.app[vevents_key]
            ),
        )
    except views.NoSuchEventError:
        raise web.HTTPNotFound(text=f"no event {event_id} in {scope.slug}\n") from None
    return await respond(request, rendered, max_age=max_age(request))


def hub_of(request: web.Request) -> str | None:
    hub: str | None = request.app[settings_key].websub_hub
    return hub


def refresh_interval(request: web.Request) -> timedelta:
    interval: timedelta = request.app[interval_key]
    return interval
