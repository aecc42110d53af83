"""The programme to print: a group's or the network's next weeks (every filter; four
weeks from today unless `from`/`to` say otherwise) as an A4 page and as PDF."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

from aiohttp import web

from feeds import urls
from feeds.filters import Filters, item_query
from feeds.model import Event
from feeds.occurrences import occurrences
from feeds.render.links import webcal
from feeds.render.programme import (
    PdfUnavailableError,
    Programme,
    programme,
    render_programme,
    render_programme_pdf,
)
from feeds.render.qr import qr_svg
from feeds.scope import Scope, merged_of
from feeds.store import Store
from feeds.urls import Urls
from feeds.web.app_keys import store_key
from feeds.web.cache import answers_key
from feeds.web.pages import PAGE_MAX_AGE, page_headers
from feeds.web.render_pool import RenderPool
from feeds.web.rendered import Rendered, attachment, make_rendered
from feeds.web.request import Asked, filters_of, page_of, scope_of, urls_of

routes = web.RouteTableDef()
WEEKS = 4


@routes.get(urls.PROGRAMME.route)
async def programme_page(request: web.Request) -> web.Response:
    return await _answer(request, "html")


@routes.get(urls.PROGRAMME_PDF.route)
async def programme_pdf(request: web.Request) -> web.Response:
    return await _answer(request, "pdf")


async def _answer(request: web.Request, fmt: str) -> web.Response:
    scope, filters, links = scope_of(request), filters_of(request), urls_of(request)
    answers, store, now = request.app[answers_key], request.app[store_key], datetime.now(UTC)
    async with answers.slot(Asked("programme", scope, filters, links, fmt).key) as slot:
        if slot.found is None:
            slot.keep(await _render(store, scope, filters, links, fmt, now, answers.pool,
                                    slot.revision))  # fmt: skip
    return await answers.respond(request, slot.rendered, max_age=PAGE_MAX_AGE)


async def _render(
    store: Store,
    scope: Scope,
    filters: Filters,
    links: Urls,
    fmt: str,
    now: datetime,
    pool: RenderPool,
    revision: int,
) -> Rendered:
    zone = scope.zone
    today = now.astimezone(zone).date()
    first: date = filters.start or today
    last: date = filters.end or first + timedelta(weeks=WEEKS, days=-1)
    window = replace(filters, start=first, end=last, limit=None)
    low, high = window.window(zone)
    assert low is not None
    assert high is not None
    candidates = await store.events(item_query(window, scope.site_slugs(filters), zone))
    if scope.is_network:  # an event several groups carry, once
        merged = merged_of(scope, candidates)
        candidates = [c for c in candidates if merged.kept(c.item)]
    calendar = links.calendar(scope.slug)

    def build() -> bytes:
        dated: list[tuple[Event, datetime, datetime]] = [
            (c.item, start, end)
            for c in candidates
            for start, end in occurrences(c.item, low, high)
        ]
        dated.sort(key=lambda d: (d[1], d[0].title))
        made = programme(
            scope.title, first, last, dated, zone,
            names=scope.names() if scope.is_network else None,
            qr_svg=qr_svg(webcal(calendar), f"Kalender abonnieren: {scope.title}"),
            calendar=calendar,
            page=page_of(scope, filters, links),
            pdf=links.programme_pdf(scope.slug),
            now=now,
        )  # fmt: skip
        return _bytes(made, links, fmt)

    try:
        body = await pool.run(build)
    except PdfUnavailableError as exc:
        raise web.HTTPServiceUnavailable(
            text="The PDF cannot be made on this server: WeasyPrint needs Pango (Debian:"
            f" libpango-1.0-0 libpangoft2-1.0-0). {links.programme(scope.slug)} prints as"
            f" well.\n({exc})\n"
        ) from None
    changed = max((c.changed for c in candidates), default=None)
    # Without `from`, the programme starts today: it moves on at local midnight.
    until = None if filters.start else datetime.combine(today + timedelta(days=1), time(), zone)
    if fmt == "pdf":
        rendered = make_rendered(body, "application/pdf", changed, revision, valid_until=until)
        return replace(rendered, disposition=attachment(f"Programm {scope.title}.pdf").replace(
            "attachment", "inline", 1))  # fmt: skip
    return make_rendered(body, "text/html", changed, revision, valid_until=until,
                         headers=page_headers(links))  # fmt: skip


def _bytes(made: Programme, links: Urls, fmt: str) -> bytes:
    return render_programme_pdf(made, links) if fmt == "pdf" else render_programme(made, links)
