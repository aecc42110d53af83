"""The widget: upcoming events for a frame on another website, and the page that tells a
web editor how to embed them (the script, /embed.js, is one of feeds/web/assets.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial

from aiohttp import web

from feeds import urls
from feeds.filters import Filters
from feeds.model import Network
from feeds.render import pages
from feeds.scope import Scope, resolve_scope
from feeds.store import Store
from feeds.urls import NETWORK, Urls
from feeds.web.app_keys import configured_key, store_key
from feeds.web.cache import answers_key
from feeds.web.pages import PAGE_MAX_AGE, frame, page_headers, upcoming_cards
from feeds.web.render_pool import RenderPool
from feeds.web.rendered import Rendered, make_rendered
from feeds.web.request import Asked, filters_of, page_of, scope_of, urls_of

routes = web.RouteTableDef()
WIDGET_EVENTS = 5


@routes.get(urls.WIDGET.route)
async def widget(request: web.Request) -> web.Response:
    scope, filters, links = scope_of(request), filters_of(request), urls_of(request)
    app, now = request.app, datetime.now(UTC)
    answers, network, store = app[answers_key], app[configured_key].network, app[store_key]
    # heading=none: the page around the frame has its own heading, as for the script.
    heading = request.query.get("heading") != "none"
    view = "widget" if heading else "widget-without-heading"
    async with answers.slot(Asked(view, scope, filters, links).key) as slot:
        if slot.found is None:
            slot.keep(
                await _widget(
                    store,
                    network,
                    scope,
                    filters,
                    links,
                    now,
                    answers.pool,
                    slot.revision,
                    heading=heading,
                )
            )
    return await answers.respond(request, slot.rendered, max_age=PAGE_MAX_AGE)


@routes.get(urls.EMBED_GUIDE.route)
async def embed_guide(request: web.Request) -> web.Response:
    links = urls_of(request)
    answers, network = request.app[answers_key], request.app[configured_key].network
    async with answers.slot(Asked("embed-guide", urls=links).key) as slot:
        if slot.found is None:
            slot.keep(await _embed_guide(network, links, slot.revision))
    return await answers.respond(request, slot.rendered, max_age=PAGE_MAX_AGE)


# --- renders, on a cache miss ---------------------------------------------------------


async def _widget(
    store: Store,
    network: Network,
    scope: Scope,
    filters: Filters,
    links: Urls,
    now: datetime,
    pool: RenderPool,
    revision: int,
    *,
    heading: bool = True,
) -> Rendered:
    """Upcoming events for a frame on another website (the script's alternative)."""
    limit = filters.limit or WIDGET_EVENTS
    events, changed, until = await upcoming_cards(store, scope, filters, links, now, limit, pool)
    title = " – ".join([scope.title, *filters.regions])
    page = frame(
        scope,
        network,
        links,
        title=f"Termine: {title}",
        description=f"Die nächsten Termine: {title}",
        url=links.widget(scope.slug),
    )
    more = page_of(scope, filters, links)  # a region's widget leads to the region's page
    body = await pool.run(
        partial(pages.render_widget, more_url=more, heading=heading), page, events
    )
    return make_rendered(
        body,
        "text/html",
        changed,
        revision,
        valid_until=until,
        headers=page_headers(links, framed=True),
    )


async def _embed_guide(network: Network, links: Urls, revision: int) -> Rendered:
    regions = sorted({s.region for s in network.sites if s.region})
    scope = resolve_scope(network, NETWORK)
    assert scope is not None
    page = frame(
        scope,
        network,
        links,
        title=f"Termine von {network.name} auf der eigenen Website zeigen",
        description="Eine Zeile Code zeigt die nächsten Termine auf Ihrer Website.",
        url=links.embed_guide(),
        feeds=pages.feed_links(links, NETWORK, network.name),
    )
    body = pages.render_embed_guide(page, regions, regions[0] if regions else None)
    return make_rendered(body, "text/html", None, revision, headers=page_headers(links))
