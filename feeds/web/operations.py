"""Routes for the people who run the service: source status, health, metrics, harvesting
on demand."""

from __future__ import annotations

import asyncio
import hmac
import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from aiohttp import web

from feeds import metrics, urls
from feeds.alerts import Quiet, episodes, explain, quiet_sources
from feeds.config import Alerts, Config
from feeds.model import Network
from feeds.render import pages
from feeds.render.status import SourceRow, render_status_json, status_view
from feeds.store import SourceState, Store, StoreError
from feeds.web.app_keys import (
    background_key,
    configured_key,
    guard_key,
    harvester_key,
    settings_key,
    store_key,
)
from feeds.web.cache import answers_key
from feeds.web.pages import page_headers
from feeds.web.request import urls_of

routes = web.RouteTableDef()
NO_STORE = {"Cache-Control": "no-cache"}
STORE_CHECK_SECONDS = 2.0
LATE_GRACE = timedelta(minutes=5)


@routes.get(urls.STATUS.route)
async def status(request: web.Request) -> web.Response:
    if "application/json" in request.headers.get("Accept", ""):
        return await _status_json(request)
    config = request.app[configured_key].config
    network, links = config.network, urls_of(request)
    group = _group_asked(request, network)
    rows = await status_rows(request.app[store_key], config, group)
    view = status_view(
        rows, datetime.now(UTC), ZoneInfo(network.timezone), links.group_page,
        links.base + urls.STATUS_JSON() + (f"?group={group}" if group else ""),
    )  # fmt: skip
    site = network.site(group) if group else None
    name = site.name if site else None
    page = pages.Page(
        urls=links, network=network.name,
        title=f"Zustand der Quellen{f' von {name}' if name else ''} – {network.name}",
        description="Welche Websites der Gruppen gelesen werden können, und was bei den"
        " anderen los ist.", url=links.status(group),
    )  # fmt: skip
    body = await asyncio.to_thread(pages.render_status, page, view)
    return web.Response(
        body=body,
        content_type="text/html",
        charset="utf-8",
        headers={**NO_STORE, **dict(page_headers(links))},
    )


@routes.get(urls.METRICS.route)
async def metrics_text(request: web.Request) -> web.Response:
    request.app[answers_key].replays.flush_counts()  # this process's replays, up to now
    store = request.app[store_key]
    try:
        states, revision = await store.source_states(), await store.revision()
    except StoreError:
        states, revision = None, None  # feeds_store_up 0 says so
    body = await asyncio.to_thread(metrics.exposition, states, revision)
    return web.Response(
        body=body, headers={"Content-Type": metrics.CONTENT_TYPE, "Cache-Control": "no-store"}
    )


@routes.get(urls.STATUS_JSON.route)
async def status_json(request: web.Request) -> web.Response:
    return await _status_json(request)


def _group_asked(request: web.Request, network: Network) -> str | None:
    """`?group=slug`: one group's sources (what a group's alert mail links to)."""
    group = request.query.get("group")
    if group is None:
        return None
    if network.site(group) is None:
        shown = group if len(group) <= 40 else group[:39] + "…"
        raise web.HTTPBadRequest(
            text=f"group: there is no group {shown!r} (its short name, as in its address)\n"
        )
    return group


async def _status_json(request: web.Request) -> web.Response:
    config = request.app[configured_key].config
    group = _group_asked(request, config.network)
    rows = await status_rows(request.app[store_key], config, group)
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


@routes.post(urls.ADMIN_HARVEST.route)
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


@routes.get(urls.HEALTHZ.route)
async def healthz(request: web.Request) -> web.Response:
    """200 while this process can serve (its store answers) and its own harvesting goes
    on; 503 otherwise. A separate harvest worker's lateness is reported, not failed on:
    the web instances still serve the last good items, and taking them all out of a load
    balancer for it would serve nothing."""
    app, now = request.app, datetime.now(UTC)
    background = app[background_key]
    store = app[store_key]
    report: dict[str, object] = {"revision": app[answers_key].revision.store}
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
        late = last is None or now - last > 3 * app[configured_key].interval + LATE_GRACE
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


async def status_rows(store: Store, config: Config, group: str | None = None) -> list[SourceRow]:
    """Every configured source (of one group, if given) with what the store knows of it,
    whether it went still, and who was told."""
    network, alerts, now = config.network, config.alerts, datetime.now(UTC)
    states = {(s.site, s.source): s for s in await store.source_states()}
    told: set[str] = set()
    failing = {
        (e.site.slug, e.source.name): e.key("failing")
        for e in episodes(network, list(states.values()))
        if e.state.failures
    }
    quiet = {
        (q.site.slug, q.source.name): q
        for q in quiet_sources(network, list(states.values()), await store.activity(now), now)
    }
    if alerts is not None:
        told = await store.queued([*failing.values(), *(q.key() for q in quiet.values())])
    rows = []
    for site in network.sites:
        if group is not None and site.slug != group:
            continue
        for config_ in site.sources:
            still = quiet.get((site.slug, config_.name))
            state = states.get((site.slug, config_.name))
            problem = check = None
            if state is not None and state.failures:
                problem, check = explain(state.last_error or "", state.last_status)
            rows.append(
                SourceRow(
                    site=site.slug,
                    site_name=site.name,
                    source=config_.name,
                    kind=config_.kind,
                    interval_seconds=int(config_.interval.total_seconds()),
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
                    failing_since=state.failing_since if state and state.failures else None,
                    problem=problem,
                    check=check,
                    alert=_alert_state(
                        alerts, site.contact, failing.get((site.slug, config_.name)), told
                    )
                    or _still_state(alerts, site.contact, still, told),
                    quiet_since=still.still.last if still else None,
                    usual_gap_days=_days(still.still.usual) if still else None,
                )
            )
    return rows


def _days(gap: timedelta | None) -> float | None:
    return None if gap is None else round(gap / timedelta(days=1), 1)


def _still_state(
    alerts: Alerts | None, contact: tuple[str, ...], still: Quiet | None, told: set[str]
) -> str | None:
    if alerts is None or still is None:
        return None
    who = "Die Gruppe" if contact else "Das Netzwerkbüro"
    if still.key() in told:
        return f"{who} wurde per Mail gefragt, ob die Einträge jetzt woanders erscheinen."
    return None


def _alert_state(
    alerts: Alerts | None, contact: tuple[str, ...], failing: str | None, told: set[str]
) -> str | None:
    """Who was told of a failing source (`failing`: its alert's key), or when they will be."""
    if alerts is None or failing is None:
        return None
    if not (contact or alerts.office):
        return "Niemand wird benachrichtigt: die Gruppe hat keine Kontaktadresse."
    who = "Die Gruppe" if contact else "Das Netzwerkbüro"
    if failing in told:
        return f"{who} wurde per Mail benachrichtigt."
    return f"{who} wird ab {alerts.after} Fehlversuchen nacheinander per Mail benachrichtigt."


def _health(state: SourceState | None) -> str:
    if state is None or state.last_attempt is None:
        return "waiting"
    if state.gone:
        return "gone"
    return "failing" if state.failures else "ok"
