"""Route handlers: parse the request, ask the cache (which asks store and render), respond."""

from __future__ import annotations

from aiohttp import web

from feeds.web import views
from feeds.web.app_keys import (
    cache_key,
    max_age_key,
    network_key,
    revision_key,
    settings_key,
    store_key,
)
from feeds.web.http import respond

routes = web.RouteTableDef()


def base_url(request: web.Request) -> str:
    """The public address for links; FEEDS_BASE_URL wins over what the request says."""
    return request.app[settings_key].base_url or f"{request.scheme}://{request.host}"


def scope_of(request: web.Request) -> views.Scope:
    scope = views.resolve_scope(request.app[network_key], request.match_info["site"])
    if scope is None:
        raise web.HTTPNotFound(text=f"no group named {request.match_info['site']!r}\n")
    return scope


@routes.get("/")
async def index(request: web.Request) -> web.Response:
    app = request.app
    base = base_url(request)
    revision = app[revision_key].value
    rendered = await app[cache_key].get_or_render(
        ("index", base),
        revision,
        lambda: views.index(app[store_key], app[network_key], base, revision),
    )
    return respond(request, rendered, max_age=60)


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "revision": request.app[revision_key].value})


@routes.get("/{site}/news.{fmt:atom|rss|json}")
async def news(request: web.Request) -> web.Response:
    app = request.app
    scope = scope_of(request)
    fmt = request.match_info["fmt"]
    base = base_url(request)
    revision = app[revision_key].value
    rendered = await app[cache_key].get_or_render(
        ("news", scope.slug, fmt, base),
        revision,
        lambda: views.news(app[store_key], scope, fmt, base, revision),
    )
    return respond(request, rendered, max_age=request.app[max_age_key])


@routes.get("/{site}/events.ics")
async def calendar(request: web.Request) -> web.Response:
    app = request.app
    scope = scope_of(request)
    refresh = request.app[max_age_key] * 2
    revision = app[revision_key].value
    rendered = await app[cache_key].get_or_render(
        ("calendar", scope.slug),
        revision,
        lambda: views.calendar(app[store_key], scope, refresh, revision),
    )
    return respond(request, rendered, max_age=request.app[max_age_key])
