"""Calendars to subscribe to: a group's or the network's events as iCalendar, one event
(with its series) to add, and the QR code a phone subscribes with. Each route parses its
request, asks the render cache (feeds/web/cache.py), which on a miss runs the render
below it: store, then bytes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from functools import partial

from aiohttp import web

from feeds import urls
from feeds.filters import Filters, Scheduled, item_query, select_events
from feeds.model import Event, Stored
from feeds.render.ics import CalendarInfo, Credit, Memo, render_calendar
from feeds.render.links import webcal
from feeds.render.qr import qr_svg
from feeds.scope import EPOCH, Scope, carried_also, merged_of, newest_change
from feeds.scope import valid_until as upcoming_until
from feeds.store import ItemQuery, Store
from feeds.urls import Urls, with_query
from feeds.web.app_keys import settings_key, store_key
from feeds.web.cache import answers_key
from feeds.web.hidden import hidden_item
from feeds.web.pictures import with_own_images
from feeds.web.render_pool import RenderPool
from feeds.web.rendered import Rendered, make_rendered
from feeds.web.request import (
    Asked,
    filters_of,
    harvest_interval,
    max_age,
    region_of,
    scope_of,
    urls_of,
)

routes = web.RouteTableDef()
QR_MAX_AGE = 24 * 3600


class NoSuchEventError(LookupError):
    """No event of the scope has that id."""


@routes.get(urls.EVENTS_CALENDAR.route)
async def calendar(request: web.Request) -> web.Response:
    scope, filters, links = scope_of(request), filters_of(request), urls_of(request)
    app, now = request.app, datetime.now(UTC)
    answers, store, refresh = app[answers_key], app[store_key], harvest_interval(request)
    settings = app[settings_key]
    bounds = Bounds(settings.network_calendar_days, settings.network_calendar_events)
    async with answers.slot(Asked("calendar", scope, filters, urls=links).key) as slot:
        if slot.found is None:
            slot.keep(
                await _calendar(
                    store,
                    scope,
                    filters,
                    links,
                    refresh,
                    answers.vevents,
                    now,
                    bounds,
                    answers.pool,
                    slot.revision,
                )
            )
    return await answers.respond(request, slot.rendered, max_age=max_age(request))


@routes.get(urls.EVENT_CALENDAR.route)
async def event_calendar(request: web.Request) -> web.Response:
    scope, event_id = scope_of(request), request.match_info["event_id"]
    app, links = request.app, urls_of(request)
    answers, store, refresh = app[answers_key], app[store_key], harvest_interval(request)
    try:
        async with answers.slot(Asked("event", scope, urls=links, item_id=event_id).key) as slot:
            if slot.found is None:
                slot.keep(
                    await _event(
                        store,
                        scope,
                        event_id,
                        links,
                        refresh,
                        answers.vevents,
                        answers.pool,
                        slot.revision,
                    )
                )
    except NoSuchEventError:
        if await hidden_item(store, scope, event_id) is not None:
            raise web.HTTPGone(text=f"event {event_id} was taken down\n") from None
        raise web.HTTPNotFound(text=f"no event {event_id} in {scope.slug}\n") from None
    return await answers.respond(request, slot.rendered, max_age=max_age(request))


@routes.get(urls.QR_CODE.route)
async def qr_code(request: web.Request) -> web.Response:
    scope, links, region = scope_of(request), urls_of(request), region_of(request)
    answers = request.app[answers_key]
    # Only `region` counts here (a region's page shows its calendar's code): any other
    # parameter would make codes of calendars no page offers.
    filters = Filters(regions=(region,)) if region and scope.is_network else Filters()
    async with answers.slot(Asked("qr", scope, filters=filters, urls=links).key) as slot:
        if slot.found is None:
            slot.keep(await _qr_code(scope, filters, links, slot.revision))
    return await answers.respond(request, slot.rendered, max_age=QR_MAX_AGE)


# --- renders, on a cache miss ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bounds:
    """What a calendar of many groups holds without `from`: `days` back, and at most
    `events` (what is to come first): at 11,200 groups, still what a phone takes."""

    days: int
    events: int


async def _calendar(
    store: Store,
    scope: Scope,
    filters: Filters,
    links: Urls,
    refresh: timedelta,
    memo: Memo,
    now: datetime,
    bounds: Bounds,
    pool: RenderPool,
    revision: int,
) -> Rendered:
    sites = scope.site_slugs(filters)
    valid_until = None
    description = None
    if filters == Filters() and not scope.is_network:
        stored = await store.events(ItemQuery(sites=sites))  # a group's own: all of it
    else:
        if scope.is_network and filters.start is None:
            # Moves on at local midnight (the window), and with time (what is to come).
            today = now.astimezone(scope.zone).date()
            valid_until = datetime.combine(today + timedelta(days=1), time(), scope.zone)
        chosen, full = await _chosen(store, scope, filters, sites, now, bounds, pool)
        if full and filters.start is None and valid_until is not None:
            # What is to come moves on as each event ends: the next one comes in.
            valid_until = min(valid_until, upcoming_until(chosen, now))
        if full:
            description = (
                f"Die nächsten {bounds.events} Termine. Alle Termine einer Region, eines"
                " Themas oder einer Gruppe: deren eigene Kalender."
            )
        # A calendar must not split a series from its overrides: every part of a chosen UID.
        series = tuple(sorted({s.stored.item.ical_uid for s in chosen}))
        stored = await store.events(ItemQuery(sites=sites, series=series)) if series else []
    stored = await with_own_images(store, stored, links)
    # An event its upstream stopped listing left the calendar then: Last-Modified says so.
    removed = await store.latest_end(
        replace(item_query(filters, sites, scope.zone), after=None, before=None, limit=None), None
    )
    return await _ics(
        scope,
        stored,
        refresh,
        revision,
        memo,
        pool,
        name=f"{scope.title}: Termine",
        description=description,
        valid_until=valid_until,
        departed=removed,
    )


async def _chosen(
    store: Store,
    scope: Scope,
    filters: Filters,
    sites: Sequence[str],
    now: datetime,
    bounds: Bounds,
    pool: RenderPool,
) -> tuple[list[Scheduled], bool]:
    """The events of a calendar with a window, and whether a network's was cut at its
    bound. A network's holds at most `bounds.events`: from `from` on, or without it what
    is to come, soonest first, then the last `bounds.days` as far as room is left. The
    store is asked for that many (and the series), never for all a network has."""
    if not scope.is_network:
        candidates = await store.events(item_query(filters, sites, scope.zone))
        return await pool.run(select_events, candidates, filters, scope.zone), False
    most = min(filters.limit or bounds.events, bounds.events)
    if filters.start is not None:
        ahead = replace(filters, limit=most)
        candidates = await store.events(item_query(ahead, sites, scope.zone))
        chosen = await pool.run(select_events, candidates, ahead, scope.zone)
        return chosen, len(chosen) >= bounds.events
    ahead = replace(filters, limit=most)
    candidates = await store.events(item_query(ahead, sites, scope.zone, after=now))
    coming = await pool.run(partial(select_events, candidates, ahead, scope.zone, now=now))
    if len(coming) >= most:
        return coming, len(coming) >= bounds.events
    today = now.astimezone(scope.zone).date()
    back = replace(filters, start=today - timedelta(days=bounds.days), end=today, limit=None)
    candidates = await store.events(item_query(back, sites, scope.zone))
    known = {s.stored.item.uuid for s in coming}
    past = [
        s
        for s in await pool.run(select_events, candidates, back, scope.zone)
        if s.stored.item.uuid not in known and s.end <= now
    ]
    room = most - len(coming)
    chosen = sorted(past[-room:] + coming, key=lambda s: (s.start, s.stored.item.title))
    return chosen, len(past) > room and most == bounds.events


async def _event(
    store: Store,
    scope: Scope,
    event_id: str,
    links: Urls,
    refresh: timedelta,
    memo: Memo,
    pool: RenderPool,
    revision: int,
) -> Rendered:
    sites = scope.site_slugs()
    found = await store.events(ItemQuery(sites=sites, ids=(event_id,)))
    if not found:
        raise NoSuchEventError(event_id)
    wanted = found[0]
    series = await store.events(ItemQuery(sites=sites, series=(wanted.item.ical_uid,)))
    series = await with_own_images(store, series, links)
    return await _ics(
        scope,
        series,
        refresh,
        revision,
        memo,
        pool,
        name=wanted.item.title,
        filename=f"{wanted.item.title}.ics",  # "add to calendar" saves a file: name it
    )


async def _ics(
    scope: Scope,
    events: list[Stored[Event]],
    refresh: timedelta,
    revision: int,
    memo: Memo,
    pool: RenderPool,
    *,
    name: str,
    description: str | None = None,
    filename: str | None = None,
    valid_until: datetime | None = None,
    departed: datetime | None = None,
) -> Rendered:
    info = CalendarInfo(
        name=name, description=description, timezone=scope.timezone, refresh=refresh
    )

    def build() -> bytes:
        if not scope.is_network:
            return render_calendar(info, events, memo=memo)
        merged = merged_of(scope, events)
        kept = [e for e in events if merged.kept(e.item)]
        names, also = scope.names(), carried_also(scope, merged)

        def credit(event: Event) -> Credit:
            return names[event.site], also(event)

        return render_calendar(info, kept, attribution=credit, memo=memo)

    body = await pool.run(build)
    return make_rendered(
        body,
        urls.CALENDAR.media_type,
        max(newest_change(events), departed or EPOCH),
        revision,
        filename=filename,
        valid_until=valid_until,
    )


async def _qr_code(scope: Scope, filters: Filters, links: Urls, revision: int) -> Rendered:
    query = {"region": filters.regions[0]} if filters.regions else {}
    calendar = webcal(with_query(links.calendar(scope.slug), query))
    title = " in ".join([scope.title, *filters.regions])
    body = qr_svg(calendar, f"Kalender abonnieren: {title}")
    return make_rendered(body, "image/svg+xml", None, revision)
