"""Routes for the people who run the service: source status, health, metrics, harvesting
on demand."""

from __future__ import annotations

import asyncio
import hmac
import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from aiohttp import web

from feeds import metrics
from feeds.render.status import render_status_html, render_status_json
from feeds.store import StoreError
from feeds.web import views
from feeds.web.app_keys import (
    background_key,
    guard_key,
    harvester_key,
    hot_key,
    interval_key,
    network_key,
    revision_key,
    settings_key,
    store_key,
)

routes = web.RouteTableDef()
NO_STORE = {"Cache-Control": "no-cache"}
STORE_CHECK_SECONDS = 2.0
LATE_GRACE = timedelta(minutes=5)


@routes.get("/status")
async def status(request: web.Request) -> web.Response:
    if "application/json" in request.headers.get("Accept", ""):
        return await _status_json(request)
    network = request.app[network_key]
    rows = await views.status_rows(request.app[store_key], network)
    body = render_status_html(rows, network.name, datetime.now(UTC), ZoneInfo(network.timezone))
    return web.Response(body=body, content_type="text/html", charset="utf-8", headers=NO_STORE)


@routes.get("/metrics")
async def metrics_text(request: web.Request) -> web.Response:
    request.app[hot_key].flush_counts()  # this process's replays, up to now
    store = request.app[store_key]
    try:
        states, revision = await store.source_states(), await store.revision()
    except StoreError:
        states, revision = None, None  # feeds_store_up 0 says so
    body = await asyncio.to_thread(metrics.exposition, states, revision)
    return web.Response(
        body=body, headers={"Content-Type": metrics.CONTENT_TYPE, "Cache-Control": "no-store"}
    )


@routes.get("/status.json")
async def status_json(request: web.Request) -> web.Response:
    return await _status_json(request)


async def _status_json(request: web.Request) -> web.Response:
    rows = await views.status_rows(request.app[store_key], request.app[network_key])
    body = render_status_json(rows, datetime.now(UTC))
    return web.Response(
        body=body, content_type="application/json", charset="utf-8", headers=NO_STORE
    )


def bearer_token(header: str) -> str | None:
    """The token of `Authorization: Bearer <token>` (RFC 9110 11.6.2, RFC 6750 2.1): the
    scheme is required and case-insensitive; a header that is not ASCII holds none."""
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or not token.isascii() or " " in token:
        return None
    return token


@routes.post("/admin/harvest")
async def harvest_now(request: web.Request) -> web.Response:
    """Harvest all sources, a site's (?site=…) or one (?site=…&source=…) now."""
    token = request.app[settings_key].admin_token
    if token is None:
        raise web.HTTPForbidden(text="harvesting on demand is off: set FEEDS_ADMIN_TOKEN\n")
    guard, address = request.app[guard_key], request.remote or "unknown"
    async with guard.turn(address):
        given = bearer_token(request.headers.get("Authorization", ""))
        if given is None or not hmac.compare_digest(given.encode(), token.encode()):
            guard.failed(address, request)
            raise web.HTTPUnauthorized(
                text="send Authorization: Bearer <FEEDS_ADMIN_TOKEN>\n",
                headers={"WWW-Authenticate": 'Bearer realm="admin"'},
            )
        guard.succeeded(address)
    harvester = request.app[harvester_key]
    site, source = request.query.get("site"), request.query.get("source")
    keys = [
        k
        for k in harvester.sources
        if (site is None or k[0] == site) and (source is None or k[1] == source)
    ]
    if not keys:
        raise web.HTTPNotFound(text=f"no source matches site={site!r} source={source!r}\n")
    outcomes = await harvester.run_once(keys)
    body = [
        {
            "site": o.site,
            "source": o.source,
            "status": o.status,
            "new": o.new,
            "changed": o.changed,
            "error": o.error,
        }
        for o in outcomes
    ]
    return web.Response(text=json.dumps(body, ensure_ascii=False), content_type="application/json")


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    """200 while this process can serve (its store answers) and its own harvesting goes
    on; 503 otherwise. A separate harvest worker's lateness is reported, not failed on:
    the web instances still serve the last good items, and taking them all out of a load
    balancer for it would serve nothing."""
    app, now = request.app, datetime.now(UTC)
    background = app[background_key]
    store = app[store_key]
    report: dict[str, object] = {"revision": app[revision_key].value}
    try:
        async with asyncio.timeout(STORE_CHECK_SECONDS):
            report["store"] = {"state": "ok", "revision": await store.revision()}
            last = await store.last_harvest()
        store_ok = True
    except (StoreError, TimeoutError) as exc:
        report["store"] = {"state": "failing", "error": str(exc) or "no answer in time"}
        store_ok, last = False, None
    if background.task.done():
        healthy = False
        report["harvester"] = {"state": "stopped", "task": background.task.get_name()}
    elif background.harvesting:
        healthy, details = app[harvester_key].liveness(now)
        report["harvester"] = {"state": "running" if healthy else "stuck", **details}
    else:  # a separate worker harvests; this process follows the store's revision
        healthy = True
        late = last is None or now - last > 3 * app[interval_key] + LATE_GRACE
        report["harvester"] = {
            "state": "elsewhere",
            "last_harvest": last.isoformat() if last else None,
            "late": late,
        }
    healthy = healthy and store_ok
    report["status"] = "ok" if healthy else "failing"
    return web.json_response(
        report, status=200 if healthy else 503, headers={"Cache-Control": "no-store"}
    )
