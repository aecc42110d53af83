"""The fediverse's routes: WebFinger and NodeInfo (how servers find the accounts), each
actor's document, inbox, outbox and followers, and the inbox all actors share. They
answer 404 while FEEDS_FEDERATION is off."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from feeds import __version__, urls
from feeds.federation import NETWORK_ACTOR
from feeds.federation.planner import addressed, object_of
from feeds.federation.service import Federation
from feeds.federation.signatures import key_id_of
from feeds.model import Event, Network, Post, Stored
from feeds.render import activitypub
from feeds.render.assets import asset_url
from feeds.store import ItemQuery
from feeds.web.app_keys import configured_key, federation_key, store_key

routes = web.RouteTableDef()
JRD = "application/jrd+json"
MAX_INBOX_BYTES = 256 * 1024  # Mastodon's largest activities are a few KB
PROJECT = "https://github.com/engagement-feeds"
CORS = {"Access-Control-Allow-Origin": "*"}


def _federation(request: web.Request) -> Federation:
    found = request.app.get(federation_key)
    if found is None:
        raise web.HTTPNotFound(text="this service does not federate (FEEDS_FEDERATION is off)\n")
    return found


def actor_names(network: Network) -> list[str]:
    return [NETWORK_ACTOR, *(site.slug for site in network.sites)]


def _actor_name(request: web.Request, network: Network) -> str:
    name = request.match_info["site"]
    if name != NETWORK_ACTOR and network.site(name) is None:
        raise web.HTTPNotFound(text=f"no account {name[:40]!r} here\n")
    return name


def _json(document: Any, *, content_type: str = activitypub.MEDIA_TYPE, max_age: int = 300,
          status: int = 200) -> web.Response:  # fmt: skip
    return web.Response(
        body=json.dumps(document, ensure_ascii=False).encode(),
        status=status,
        content_type=content_type,
        charset="utf-8",
        headers={"Cache-Control": f"max-age={max_age}", **CORS},
    )


@routes.get(urls.WEBFINGER.route)
async def webfinger(request: web.Request) -> web.Response:
    fed, network = _federation(request), request.app[configured_key].network
    resource = request.query.get("resource", "").strip()
    if not resource:
        raise web.HTTPBadRequest(text="resource: expected acct:group@host, as acct:network@host\n")
    name = _account_of(resource, fed, network)
    if name is None:
        raise web.HTTPNotFound(text=f"no account {resource[:80]!r} here\n")
    subject = f"acct:{name}@{fed.host}"
    document = activitypub.webfinger(subject, fed.urls.actor(name), fed.urls.group_page(name))
    return _json(document, content_type=JRD, max_age=3600)


def _account_of(resource: str, fed: Federation, network: Network) -> str | None:
    """Which actor `resource` names: acct:name@host (the acct: may be left out), or the
    actor's or its page's address."""
    names = actor_names(network)
    if resource.startswith(("https://", "http://")):
        return next(
            (n for n in names if resource in (fed.urls.actor(n), fed.urls.group_page(n))), None
        )
    account = resource.removeprefix("acct:").lstrip("@")
    name, _, host = account.rpartition("@")
    if host.lower() != fed.host.lower() or name not in names:
        return None
    return name


@routes.get(urls.HOST_META.route)
async def host_meta(request: web.Request) -> web.Response:
    fed = _federation(request)
    return web.Response(
        body=activitypub.host_meta(fed.urls.webfinger()),
        content_type="application/xrd+xml",
        charset="utf-8",
        headers={"Cache-Control": "max-age=86400", **CORS},
    )


@routes.get(urls.NODEINFO_LINKS.route)
async def nodeinfo_links(request: web.Request) -> web.Response:
    fed = _federation(request)
    return _json(activitypub.nodeinfo_links(fed.urls.nodeinfo()), content_type="application/json")


@routes.get(urls.NODEINFO.route)
async def nodeinfo(request: web.Request) -> web.Response:
    _federation(request)
    network = request.app[configured_key].network
    counts = await request.app[store_key].item_counts()
    document = activitypub.nodeinfo(
        __version__, len(actor_names(network)), sum(counts.values()), network.name, PROJECT
    )
    profile = 'application/json; profile="http://nodeinfo.diaspora.software/ns/schema/2.1#"'
    return web.Response(
        body=json.dumps(document).encode(),
        headers={"Content-Type": profile, "Cache-Control": "max-age=3600", **CORS},
    )


def _for_people(request: web.Request) -> bool:
    """A browser, which asks for HTML and not for ActivityPub: it gets the page."""
    accept = request.headers.get("Accept", "")
    return "text/html" in accept and "activity+json" not in accept and "ld+json" not in accept


@routes.get(urls.ACTOR.route)
async def actor(request: web.Request) -> web.Response:
    fed, network = _federation(request), request.app[configured_key].network
    name = _actor_name(request, network)
    if _for_people(request):
        raise web.HTTPSeeOther(fed.urls.group_page(name))
    key = await fed.keys.of(name, datetime.now(UTC), fresh=True)
    site = network.site(name)
    if site is None:  # the network's own
        info = activitypub.ActorInfo(
            slug=name,
            name=network.name,
            summary=f"Neuigkeiten und Termine der {len(network.sites)} Gruppen von"
            f" {network.name}, hier geteilt, sobald sie auf den Websites der Gruppen erscheinen.",
            homepage=network.homepage,
            public_key=key.public_key,
            icon=asset_url(fed.urls, "icon.png"),
        )
    else:
        region = f" ({site.region})" if site.region else ""
        info = activitypub.ActorInfo(
            slug=name,
            name=site.name,
            summary=f"Neuigkeiten und Termine von {site.name}{region}, automatisch von der"
            f" Website der Gruppe übernommen. Ein Angebot von {network.name}.",
            homepage=site.homepage,
            public_key=key.public_key,
            icon=asset_url(fed.urls, "icon.png"),
        )
    return _json(activitypub.actor(info, fed.urls))


@routes.get(urls.ACTOR_FOLLOWERS.route)
async def followers(request: web.Request) -> web.Response:
    """How many follow; who they are is theirs to show, not ours."""
    fed, network = _federation(request), request.app[configured_key].network
    name = _actor_name(request, network)
    counts = await request.app[store_key].follower_counts()
    document = {
        "@context": activitypub.AS,
        "id": fed.urls.followers(name),
        "type": "OrderedCollection",
        "totalItems": counts.get(name, 0),
    }
    return _json(document, max_age=60)


@routes.post(urls.ACTOR_INBOX.route)
async def actor_inbox(request: web.Request) -> web.Response:
    network = request.app[configured_key].network
    return await _receive(request, _actor_name(request, network))


@routes.post(urls.SHARED_INBOX.route)
async def shared_inbox(request: web.Request) -> web.Response:
    return await _receive(request, None)


async def _receive(request: web.Request, to: str | None) -> web.Response:
    fed, network = _federation(request), request.app[configured_key].network
    # Per server: the host of the key it signs with (the address it comes from may be a
    # proxy shared by many).
    key_id = key_id_of(request.headers)
    server = urlsplit(key_id).netloc if key_id else (request.remote or "unknown")
    if not fed.rate.take(server):
        raise web.HTTPTooManyRequests(text="too many requests from your server; try later\n",
                                      headers={"Retry-After": "60"})  # fmt: skip
    if request.content_length is not None and request.content_length > MAX_INBOX_BYTES:
        raise web.HTTPRequestEntityTooLarge(MAX_INBOX_BYTES, request.content_length)
    body = await request.content.read(MAX_INBOX_BYTES + 1)
    if len(body) > MAX_INBOX_BYTES:
        raise web.HTTPRequestEntityTooLarge(MAX_INBOX_BYTES, len(body))
    answer = await fed.inbox.receive(
        fed.urls, actor_names(network), to, request.method, str(request.url), request.headers,
        body, datetime.now(UTC),
    )  # fmt: skip
    return web.Response(status=answer.status, text=answer.text + "\n")


@routes.get(urls.OBJECT.route)
async def item_object(request: web.Request) -> web.Response:
    """A post or event as the object followers were sent: the same document at its id."""
    fed, network = _federation(request), request.app[configured_key].network
    name, item_id = _actor_name(request, network), request.match_info["item_id"]
    store = request.app[store_key]
    query = ItemQuery(sites=[name], ids=(item_id,))
    found: list[Stored[Post]] | list[Stored[Event]] = await store.posts(query)
    if not found:
        found = await store.events(query)
    if found:
        item = found[0].item
        if _for_people(request):
            page = fed.urls.event_page if isinstance(item, Event) else fed.urls.post_page
            raise web.HTTPSeeOther(page(item.site, item.uuid))
        return _json(object_of(found[0], fed.urls, network))
    if await store.hidden([item_id]):
        document = activitypub.tombstone(fed.urls.object(name, item_id))
        return _json(document, status=410)
    raise web.HTTPNotFound(text=f"no post or event {item_id} of {name}\n")


OUTBOX_ITEMS = 20


@routes.get(urls.ACTOR_OUTBOX.route)
async def outbox(request: web.Request) -> web.Response:
    """The newest posts and events, as the activities that created them (the network's:
    its boosts of every group's)."""
    fed, network = _federation(request), request.app[configured_key].network
    name = _actor_name(request, network)
    store = request.app[store_key]
    sites = None if name == NETWORK_ACTOR else [name]
    counts = await store.item_counts()
    total = sum(n for (site, _), n in counts.items() if sites is None or site in sites)
    outbox_id = fed.urls.outbox(name)
    if request.query.get("page") is None:
        first = f"{outbox_id}?page=true"
        return _json(activitypub.collection(outbox_id, total, first), max_age=60)
    now = datetime.now(UTC)
    posts = await store.posts(ItemQuery(sites=sites, limit=OUTBOX_ITEMS))
    events = await store.events(ItemQuery(sites=sites, after=now, limit=OUTBOX_ITEMS))
    items: list[Stored[Post] | Stored[Event]] = [*posts, *events]
    items.sort(key=lambda s: s.first_seen, reverse=True)
    activities = []
    for stored in items[:OUTBOX_ITEMS]:
        document = object_of(stored, fed.urls, network)
        object_id, when = document["id"], stored.first_seen
        if name == NETWORK_ACTOR:  # its boosts of every group's
            by = addressed(fed.urls, NETWORK_ACTOR)
            done = activitypub.activity("Announce", f"{object_id}#announce", by, object_id, when)
        else:
            by = addressed(fed.urls, name)
            done = activitypub.activity("Create", f"{object_id}#create", by, document, when)
        activities.append(done)
    page = activitypub.collection_page(f"{outbox_id}?page=true", outbox_id, activities, None)
    return _json(page, max_age=60)
