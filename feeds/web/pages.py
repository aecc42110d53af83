"""Pages for people: the network's, a group's, an event's, a post's, and the page that says
something is not here. Cached like the feeds: a repeated request is a look-up. What every
page shares (its frame, its headers, the cards of what is to come) is here too, for the
widget (feeds/web/widget.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from itertools import islice
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from aiohttp import web

from feeds import urls
from feeds.filters import Filters, Scheduled, item_query, last_departure, select_sites
from feeds.model import Network
from feeds.occurrences import occurrences
from feeds.render import pages
from feeds.scope import EPOCH, Scope, newest_change, resolve_scope, upcoming, valid_until
from feeds.store import ItemQuery, Store
from feeds.urls import NETWORK, Urls
from feeds.web.app_keys import configured_key, federation_key, settings_key, store_key
from feeds.web.cache import answers_key
from feeds.web.hidden import hidden_item
from feeds.web.pictures import og_image, picture, pictures_of
from feeds.web.render_pool import RenderPool
from feeds.web.rendered import Rendered, make_rendered
from feeds.web.request import Asked, region_named, urls_of

routes = web.RouteTableDef()
PAGE_MAX_AGE = 60  # people reload pages; a minute keeps them close to the feeds
PAGE_EVENTS = 8
PAGE_POSTS = 8
SERIES_DATES = 10  # further dates of a series on its page
SERIES_HORIZON = timedelta(days=366)
NO_EVENT = "Diesen Termin gibt es hier nicht (mehr). Vielleicht wurde er verschoben."
NO_POST = "Diesen Beitrag gibt es hier nicht."


class NoSuchItemError(LookupError):
    """No item of the scope has that id."""


@routes.get(urls.NETWORK_PAGE.route)
async def network_page(request: web.Request) -> web.Response:
    """The network's page; with `region`, the page of its groups in that state."""
    configured = request.app[configured_key]
    scope = resolve_scope(configured.network, NETWORK)
    assert scope is not None  # the network is always there
    asked = request.query.get("region")
    if asked is None:
        return await _home(request, scope)
    region = region_named(request, asked)
    if region is None:
        raise missing(
            request, scope, f"Ein Bundesland „{_shortened(asked)}“ hat hier keine Gruppen."
        )
    if asked != region:  # one address for each region's page: "bayern" leads to "Bayern"
        raise web.HTTPPermanentRedirect(urls_of(request).network_page(region=region))
    return await _home(request, scope, region=region)


@routes.get(urls.GROUP_PAGE.route)
async def group_page(request: web.Request) -> web.Response:
    return await _home(request, page_scope(request))


@routes.get(urls.GROUP_WITHOUT_SLASH.route)
async def group_without_slash(request: web.Request) -> web.Response:
    raise web.HTTPPermanentRedirect(urls.GROUP_PAGE(site=page_scope(request).slug))


@routes.get(urls.EVENT_PAGE.route)
async def event_page(request: web.Request) -> web.Response:
    scope, links, event_id = page_scope(request), urls_of(request), request.match_info["item_id"]
    app, now = request.app, datetime.now(UTC)
    answers, network, store = app[answers_key], app[configured_key].network, app[store_key]
    try:
        async with answers.slot(
            Asked("event-page", scope, urls=links, item_id=event_id).key
        ) as slot:
            if slot.found is None:
                slot.keep(
                    await _event_page(
                        store,
                        network,
                        scope,
                        links,
                        event_id,
                        now,
                        answers.pool,
                        slot.revision,
                        federated(request),
                    )
                )
    except NoSuchItemError:
        raise await absent(request, scope, event_id, NO_EVENT) from None
    return await answers.respond(request, slot.rendered, max_age=PAGE_MAX_AGE)


@routes.get(urls.POST_PAGE.route)
async def post_page(request: web.Request) -> web.Response:
    scope, links, post_id = page_scope(request), urls_of(request), request.match_info["item_id"]
    app = request.app
    answers, network, store = app[answers_key], app[configured_key].network, app[store_key]
    try:
        async with answers.slot(Asked("post-page", scope, urls=links, item_id=post_id).key) as slot:
            if slot.found is None:
                slot.keep(
                    await _post_page(
                        store,
                        network,
                        scope,
                        links,
                        post_id,
                        answers.pool,
                        slot.revision,
                        federated(request),
                    )
                )
    except NoSuchItemError:
        raise await absent(request, scope, post_id, NO_POST) from None
    return await answers.respond(request, slot.rendered, max_age=PAGE_MAX_AGE)


async def _home(request: web.Request, scope: Scope, region: str | None = None) -> web.Response:
    links, app, now = urls_of(request), request.app, datetime.now(UTC)
    answers, network, store = app[answers_key], app[configured_key].network, app[store_key]
    filters = Filters(regions=(region,)) if region else Filters()
    async with answers.slot(Asked("page", scope, filters=filters, urls=links).key) as slot:
        if slot.found is None:
            slot.keep(
                await _home_page(
                    store,
                    network,
                    scope,
                    links,
                    now,
                    answers.pool,
                    slot.revision,
                    federated(request),
                    region=region,
                    listed_up_to=app[settings_key].page_groups,
                )
            )
    return await answers.respond(request, slot.rendered, max_age=PAGE_MAX_AGE)


def federated(request: web.Request) -> Urls | None:
    """The fediverse's addresses, where the service federates (feeds/web/fediverse.py)."""
    found = request.app.get(federation_key)
    return found.urls if found is not None else None


def page_scope(request: web.Request) -> Scope:
    """The group a page is of; a person who mistyped it gets a page that says so."""
    scope = resolve_scope(request.app[configured_key].network, request.match_info["site"])
    if scope is None:
        name = _shortened(request.match_info["site"])
        raise missing(request, None, f"Eine Gruppe „{name}“ gibt es hier nicht.")
    return scope


def _shortened(asked: str) -> str:
    """A name a visitor typed, as a page repeats it: 40 characters at most."""
    return asked if len(asked) <= 40 else asked[:39] + "…"


async def absent(
    request: web.Request, scope: Scope, item_id: str, reason: str
) -> web.HTTPException:
    """The page of an item not found: gone for good if the office hid it, else missing."""
    hidden = await hidden_item(request.app[store_key], scope, item_id)
    if hidden is None:
        return missing(request, scope, reason)
    what = "Diesen Termin" if hidden.kind == "event" else "Diesen Beitrag"
    return missing(
        request,
        scope,
        f"{what} hat das Netzwerkbüro aus dem Angebot genommen.",
        heading="Nicht mehr verfügbar",
        error=web.HTTPGone,
    )


def missing(
    request: web.Request,
    scope: Scope | None,
    reason: str,
    *,
    heading: str = "Nicht gefunden",
    error: type[web.HTTPException] = web.HTTPNotFound,
) -> web.HTTPException:
    network, links = request.app[configured_key].network, urls_of(request)
    group = None if scope is None or scope.is_network else (scope.slug, scope.title)
    page = pages.Page(
        urls=links, network=network.name, title=f"{heading} – {network.name}",
        description=reason, url=links.base + request.path, group=group,
    )  # fmt: skip
    return error(
        text=pages.render_missing(page, reason, heading).decode(),
        content_type="text/html",
        headers=dict(page_headers(links)),
    )


# --- what every page shares --------------------------------------------------------------


def page_headers(links: Urls, *, framed: bool = False) -> tuple[tuple[str, str], ...]:
    """Our pages run only our own scripts and styles and show only our own images (the
    groups' are copied by the harvester: feeds/images.py), so a visitor's address goes
    to no other server. The widget's page may be framed by any website, the others by none."""
    parts = urlsplit(links.base)
    origin = f"{parts.scheme}://{parts.netloc}"
    policy = (
        "default-src 'none'; "
        f"script-src 'self' {origin}; style-src 'self' {origin}; "
        f"connect-src 'self' {origin}; img-src 'self' {origin} data:; "
        "base-uri 'none'; form-action 'none'" + ("" if framed else "; frame-ancestors 'none'")
    )
    return (
        ("Content-Security-Policy", policy),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "strict-origin-when-cross-origin"),
    )


def frame(scope: Scope, network: Network, links: Urls, **fields: Any) -> pages.Page:
    """The page's head and frame: the network's name, the way back to the group."""
    fields.setdefault("group", None if scope.is_network else (scope.slug, scope.title))
    return pages.Page(urls=links, network=network.name, **fields)


async def upcoming_cards(
    store: Store,
    scope: Scope,
    filters: Filters,
    links: Urls,
    now: datetime,
    limit: int,
    pool: RenderPool,
) -> tuple[list[pages.EventCard], datetime, datetime]:
    """Cards of what is to come, the newest change among them and until when they hold."""
    query = item_query(filters, scope.site_slugs(filters), scope.zone, after=now, limit=limit)
    candidates = await store.events(query)
    names = scope.names()
    copies = await pictures_of(store, [c.item for c in candidates])

    def build() -> tuple[list[Scheduled], list[pages.EventCard], datetime | None]:
        chosen, also = upcoming(scope, candidates, filters, now, limit)
        cards = [
            pages.event_card(
                s,
                scope.zone,
                links,
                group=names.get(s.stored.item.site) if scope.is_network else None,
                also=also(s.stored.item),
                image=picture(copies, s.stored.item, links),
            )
            for s in chosen
        ]
        return chosen, cards, last_departure(candidates, now)

    chosen, cards, departed = await pool.run(build)
    ended = await store.latest_end(replace(query, after=None, before=None, limit=None), now)
    changed = max(newest_change(s.stored for s in chosen), ended or EPOCH, departed or EPOCH)
    return cards, changed, valid_until(chosen, now)


# --- renders, on a cache miss ---------------------------------------------------------


async def _home_page(
    store: Store,
    network: Network,
    scope: Scope,
    links: Urls,
    now: datetime,
    pool: RenderPool,
    revision: int,
    federated: Urls | None = None,
    *,
    region: str | None = None,
    listed_up_to: int,
) -> Rendered:
    """The network's page (`/`), a region's (`/?region=Bayern`) or a group's (`/{group}/`)."""
    filters = Filters(regions=(region,)) if region else Filters()
    events, changed, until = await upcoming_cards(
        store, scope, filters, links, now, PAGE_EVENTS, pool
    )
    posts = await store.posts(ItemQuery(sites=scope.site_slugs(filters), limit=PAGE_POSTS))
    names = scope.names()
    copies = await pictures_of(store, [p.item for p in posts])
    cards = [
        pages.post_card(
            p,
            scope.zone,
            links,
            group=names.get(p.item.site) if scope.is_network else None,
            image=picture(copies, p.item, links),
        )
        for p in posts
    ]
    if scope.is_network:
        sites = scope.sites if region is None else select_sites(scope.sites, filters)
        # Past `listed_up_to` groups, the states with a page each: a page of 11,200 links
        # (1.3 MB) is no page for people, nor cheap to make.
        listed = region is not None or len(sites) <= listed_up_to
        counts = await store.item_counts() if listed else {}
        regions = pages.regions_of(
            (
                (
                    site.region,
                    pages.GroupLink(
                        name=site.name,
                        url=links.group_page(site.slug),
                        posts=counts.get((site.slug, "post"), 0),
                        events=counts.get((site.slug, "event"), 0),
                    ),
                )
                for site in sites
            ),
            links,
            listed=listed,
        )
        title = f"{network.name} in {region}" if region else network.name
        subscribe = pages.subscription(links, scope.slug, title, network=True, region=region)
        page = frame(
            scope,
            network,
            links,
            title=f"{title}: Neuigkeiten und Termine",
            description=f"Neuigkeiten und Termine der {len(sites)} Gruppen von {title},"
            " zum Lesen und Abonnieren.",
            url=links.network_page(region=region),
            feeds=subscribe.news,
            activity=federated.actor(NETWORK) if federated else None,
        )
        # Templates in a worker, like every render: 112 groups make a long page.
        body = await pool.run(
            partial(pages.render_home, region=region), page, subscribe, events, cards, regions
        )
        # The groups' counts change with any harvest: the page is as new as the store
        # (read from the store, so every instance gives the same date).
        changed = max(changed, newest_change(posts), await store.last_change() or EPOCH)
    else:
        site = scope.sites[0]
        subscribe = pages.subscription(links, scope.slug, scope.title)
        page = frame(
            scope,
            network,
            links,
            title=f"{site.name}: Neuigkeiten und Termine",
            description=f"Neuigkeiten und Termine von {site.name}, zum Lesen und Abonnieren.",
            url=links.group_page(site.slug),
            feeds=subscribe.news,
            activity=federated.actor(site.slug) if federated else None,
        )
        body = await pool.run(
            partial(pages.render_group, region=site.region, homepage=site.homepage),
            page,
            subscribe,
            events,
            cards,
        )
        # A post the office hid or showed again changed the page, though no shown one did.
        hidden = await store.latest_end(ItemQuery(sites=scope.site_slugs()), None, kind="post")
        changed = max(changed, newest_change(posts), hidden or EPOCH)
    return make_rendered(
        body, "text/html", changed, revision, valid_until=until, headers=page_headers(links)
    )


async def _event_page(
    store: Store,
    network: Network,
    scope: Scope,
    links: Urls,
    event_id: str,
    now: datetime,
    pool: RenderPool,
    revision: int,
    federated: Urls | None = None,
) -> Rendered:
    found = await store.events(ItemQuery(sites=scope.site_slugs(), ids=(event_id,)))
    if not found:
        raise NoSuchItemError(event_id)
    stored = found[0]
    event = stored.item
    group, homepage, zone = _group_of(network, scope, event.site)
    # A series shows its next date (or the one going on) and lists the following ones.
    coming = list(islice(occurrences(event, now, now + SERIES_HORIZON), SERIES_DATES + 1))
    first = coming[0] if coming else (event.start_instant(), event.end_instant())
    copies = await pictures_of(store, [event], in_texts=True)
    shown_image = picture(copies, event, links)
    detail = pages.event_detail(
        Scheduled(stored, *first), coming[1:], zone, links, group=group, group_homepage=homepage,
        picture=shown_image, copies=copies,
    )  # fmt: skip
    place = event.location.label() if event.location else None
    page = frame(
        scope,
        network,
        links,
        title=f"{detail.title} – {detail.when}",
        description=" · ".join(filter(None, [detail.when, place, group])),
        url=links.event_page(event.site, event.uuid),
        activity=federated.object(event.site, event.uuid) if federated else None,
        feeds=pages.feed_links(links, event.site, group),
        image=og_image(shown_image),
        group=(event.site, group),
    )
    body = await pool.run(pages.render_event, page, detail)
    until = first[1] if len(coming) > 1 else None
    return make_rendered(
        body, "text/html", stored.changed, revision, valid_until=until, headers=page_headers(links)
    )


async def _post_page(
    store: Store,
    network: Network,
    scope: Scope,
    links: Urls,
    post_id: str,
    pool: RenderPool,
    revision: int,
    federated: Urls | None = None,
) -> Rendered:
    found = await store.posts(ItemQuery(sites=scope.site_slugs(), ids=(post_id,)))
    if not found:
        raise NoSuchItemError(post_id)
    stored = found[0]
    post = stored.item
    group, _, zone = _group_of(network, scope, post.site)
    copies = await pictures_of(store, [post], in_texts=True)
    shown_image = picture(copies, post, links)
    detail = pages.post_detail(stored, zone, links, group=group, picture=shown_image, copies=copies)
    page = frame(
        scope,
        network,
        links,
        title=f"{detail.title} – {group}",
        description=pages.post_card(stored, zone, links, group=None).summary or detail.title,
        url=links.post_page(post.site, post.uuid),
        # The group's own article is the original: search engines should list that one.
        canonical=post.url,
        activity=federated.object(post.site, post.uuid) if federated else None,
        feeds=pages.feed_links(links, post.site, group),
        image=og_image(shown_image),
        og_type="article",
        group=(post.site, group),
    )
    body = await pool.run(pages.render_post, page, detail)
    return make_rendered(body, "text/html", stored.changed, revision, headers=page_headers(links))


def _group_of(network: Network, scope: Scope, slug: str) -> tuple[str, str | None, ZoneInfo]:
    """An item's group: its name, website and zone (of a group no longer configured: its
    slug, none, and the scope's zone)."""
    site = network.site(slug)
    if site is None:
        return slug, None, scope.zone
    return site.name, site.homepage, site.zone
