"""Routes of the pages for people: the network, a group, an event, a post, the widget,
and the files they use. Cached like the feeds: a repeated request is a look-up."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from aiohttp import web

from feeds.render.assets import assets
from feeds.render.pages import Page, render_missing
from feeds.urls import NETWORK, Urls
from feeds.web import views
from feeds.web.app_keys import network_key, store_key
from feeds.web.caching import Rendered, make_rendered
from feeds.web.handlers import base_url, cached, filters_of, scope_of
from feeds.web.http import respond

routes = web.RouteTableDef()
UUID = "[0-9a-f-]{36}"
PAGE_MAX_AGE = 60  # people reload pages; a minute keeps them close to the feeds
ASSET_MAX_AGE = 365 * 24 * 3600  # versioned addresses: a new version has a new address
EMBED_MAX_AGE = 3600  # embed.js is pasted into other sites with no version in its address
QR_MAX_AGE = 24 * 3600


@routes.get("/")
async def network_page(request: web.Request) -> web.Response:
    scope = views.resolve_scope(request.app[network_key], NETWORK)
    assert scope is not None
    return await _home(request, scope)


@routes.get("/{site}/")
async def group_page(request: web.Request) -> web.Response:
    return await _home(request, page_scope(request))


@routes.get("/{site}")
async def group_without_slash(request: web.Request) -> web.Response:
    raise web.HTTPPermanentRedirect(f"/{page_scope(request).slug}/")


def page_scope(request: web.Request) -> views.Scope:
    """The group a page is of; a person who mistyped it gets a page that says so."""
    scope = views.resolve_scope(request.app[network_key], request.match_info["site"])
    if scope is None:
        slug = request.match_info["site"]
        name = slug if len(slug) <= 40 else slug[:39] + "…"
        raise missing(request, None, f"Eine Gruppe „{name}“ gibt es hier nicht.")
    return scope


def missing(request: web.Request, scope: views.Scope | None, reason: str) -> web.HTTPNotFound:
    network, base = request.app[network_key], base_url(request)
    group = None if scope is None or scope.is_network else (scope.slug, scope.title)
    page = Page(
        urls=Urls(base), network=network.name, title=f"Nicht gefunden – {network.name}",
        description=reason, url=f"{base}{request.path}", group=group,
    )  # fmt: skip
    return web.HTTPNotFound(
        text=render_missing(page, reason).decode(),
        content_type="text/html",
        headers=dict(views.page_headers(base)),
    )


async def _home(request: web.Request, scope: views.Scope) -> web.Response:
    app, base = request.app, base_url(request)
    rendered = await cached(
        request,
        ("page", scope.slug, base),
        lambda rev: views.home_page(
            app[store_key], app[network_key], scope, base, rev, datetime.now(UTC)
        ),
    )
    return await respond(request, rendered, max_age=PAGE_MAX_AGE)


@routes.get(f"/{{site}}/events/{{item_id:{UUID}}}")
async def event_page(request: web.Request) -> web.Response:
    def render(scope: views.Scope, item_id: str, base: str, rev: int) -> Awaitable[Rendered]:
        app = request.app
        now = datetime.now(UTC)
        return views.event_page(app[store_key], app[network_key], scope, item_id, base, rev, now)

    reason = "Diesen Termin gibt es hier nicht (mehr). Vielleicht wurde er verschoben."
    return await _item_page(request, "event-page", render, views.NoSuchEventError, reason)


@routes.get(f"/{{site}}/posts/{{item_id:{UUID}}}")
async def post_page(request: web.Request) -> web.Response:
    def render(scope: views.Scope, item_id: str, base: str, rev: int) -> Awaitable[Rendered]:
        app = request.app
        return views.post_page(app[store_key], app[network_key], scope, item_id, base, rev)

    reason = "Diesen Beitrag gibt es hier nicht."
    return await _item_page(request, "post-page", render, views.NoSuchPostError, reason)


async def _item_page(
    request: web.Request,
    view: str,
    render: Callable[[views.Scope, str, str, int], Awaitable[Rendered]],
    missing_error: type[LookupError],
    reason: str,
) -> web.Response:
    scope, item_id, base = page_scope(request), request.match_info["item_id"], base_url(request)
    try:
        rendered = await cached(
            request,
            (view, scope.slug, item_id, base),
            lambda rev: render(scope, item_id, base, rev),
        )
    except missing_error:
        raise missing(request, scope, reason) from None
    return await respond(request, rendered, max_age=PAGE_MAX_AGE)


@routes.get("/{site}/widget")
async def widget(request: web.Request) -> web.Response:
    scope, filters, base = scope_of(request), filters_of(request), base_url(request)
    app = request.app
    rendered = await cached(
        request,
        ("widget", scope.slug, filters.cache_key(), base),
        lambda rev: views.widget_page(
            app[store_key], app[network_key], scope, filters, base, rev, datetime.now(UTC)
        ),
    )
    return await respond(request, rendered, max_age=PAGE_MAX_AGE)


@routes.get("/{site}/qr.svg")
async def qr_code(request: web.Request) -> web.Response:
    scope, base = scope_of(request), base_url(request)

    async def render(revision: int) -> Rendered:
        return views.qr_code(scope, base, revision)

    rendered = await cached(request, ("qr", scope.slug, base), render)
    return await respond(request, rendered, max_age=QR_MAX_AGE)


@routes.get("/embed")
async def embed_guide(request: web.Request) -> web.Response:
    network, base = request.app[network_key], base_url(request)

    async def render(revision: int) -> Rendered:
        return views.embed_guide(network, base, revision)

    rendered = await cached(request, ("embed-guide", base), render)
    return await respond(request, rendered, max_age=PAGE_MAX_AGE)


@routes.get("/embed.js")
async def embed_script(request: web.Request) -> web.Response:
    return await _asset(request, "embed.js", max_age=EMBED_MAX_AGE)


@routes.get("/static/{name}")
async def static(request: web.Request) -> web.Response:
    return await _asset(request, request.match_info["name"], max_age=ASSET_MAX_AGE)


async def _asset(request: web.Request, name: str, *, max_age: int) -> web.Response:
    asset = assets().get(name)
    if asset is None:
        raise web.HTTPNotFound(text=f"no file named {name[:80]}\n")

    async def render(revision: int) -> Rendered:
        # No date: the file came with the release; its ETag is the same on every instance.
        return make_rendered(asset.body, asset.content_type, None, revision)

    rendered = await cached(request, ("asset", name), render)
    return await respond(request, rendered, max_age=max_age)
