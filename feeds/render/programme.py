"""A programme to print: a group's or the network's events of a few weeks as an A4 page
for the noticeboard, the flyer or the monthly programme, readable in black and white:
dates in German, the place, the group, and the QR code and address of the calendar to
subscribe. The same HTML as a web page (its stylesheet a file of ours) and as PDF.

The PDF is WeasyPrint's, with the fonts that come with the package (DejaVu Sans, in
feeds/render/fonts) and a fetcher that reads only those: rendering reaches no network.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date

from feeds.model import Event, EventStatus
from feeds.render.assets import asset_url
from feeds.render.entries import STATUS_PREFIX, UNTITLED
from feeds.render.pages import template_env
from feeds.render.when import LOCALE, hours
from feeds.urls import Urls

MOST = 150  # occurrences on one programme; the rest are a link away


class PdfUnavailableError(RuntimeError):
    """This machine cannot make PDFs: WeasyPrint or Pango is missing."""


@dataclass(frozen=True, slots=True)
class Line:
    time: str
    title: str
    prefix: str  # "Abgesagt: ", "Verschoben: "
    detail: str  # the place, and on the network's the group
    cancelled: bool


@dataclass(frozen=True, slots=True)
class Programme:
    name: str  # the group's or the network's
    title: str
    period: str
    days: tuple[tuple[str, tuple[Line, ...]], ...]
    more: int  # occurrences left out past MOST
    qr: str  # a data: URI of the subscription's QR code (SVG)
    calendar: str  # the calendar's https address, to type
    page: str  # where every event is, kept current
    pdf: str
    generated: str


def programme(
    name: str,
    first: date,
    last: date,
    occurrences: Sequence[tuple[Event, datetime, datetime]],
    zone: ZoneInfo,
    *,
    names: dict[str, str] | None,
    qr_svg: bytes,
    calendar: str,
    page: str,
    pdf: str,
    now: datetime,
) -> Programme:
    """`occurrences` in order; `names`: the groups' names, on the network's programme."""
    days: dict[date, list[Line]] = {}
    for event, start, end in occurrences[:MOST]:
        place = event.location.label() if event.location else None
        group = names.get(event.site) if names else None
        days.setdefault(start.astimezone(zone).date(), []).append(
            Line(
                time=hours(start, end, all_day=event.all_day, zone=zone),
                title=event.title or UNTITLED,
                prefix=STATUS_PREFIX.get(event.status, ""),
                detail=" · ".join(filter(None, [place, group])),
                cancelled=event.status is EventStatus.CANCELLED,
            )
        )
    return Programme(
        name=name,
        title=f"{name}: Termine",
        period=_period(first, last),
        days=tuple(
            (format_date(day, "EEEE, d. MMMM y", locale=LOCALE), tuple(lines))
            for day, lines in sorted(days.items())
        ),
        more=max(0, len(occurrences) - MOST),
        qr="data:image/svg+xml;base64," + base64.b64encode(qr_svg).decode(),
        calendar=calendar,
        page=page,
        pdf=pdf,
        generated=format_date(now.astimezone(zone).date(), "d. MMMM y", locale=LOCALE),
    )


def render_programme(p: Programme, urls: Urls) -> bytes:
    html: str = _template().render(p=p, inline_css="", asset=lambda name: asset_url(urls, name))
    return html.encode()


def render_programme_pdf(p: Programme, urls: Urls) -> bytes:
    """The same as PDF (about half a second of CPU for two pages: a render thread)."""
    try:
        import weasyprint  # here: Pango is needed only where a PDF is asked for
    except (ImportError, OSError) as exc:  # OSError: Pango's library is not installed
        raise PdfUnavailableError(str(exc)) from exc

    logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)  # a line per step
    html = _template().render(p=p, inline_css=_print_css(), asset=lambda name: "")
    fonts = Path(str(resources.files("feeds.render") / "fonts")).as_uri() + "/"
    document = weasyprint.HTML(string=html, base_url=fonts, url_fetcher=_local_only())
    pdf: bytes = document.write_pdf()
    return pdf


@cache
def _print_css() -> str:
    folder = resources.files("feeds.render")
    fonts = folder / "fonts"
    faces = "".join(
        f'@font-face {{ font-family: "DejaVu Sans"; font-weight: {weight};'
        f' src: url("{Path(str(fonts / name)).as_uri()}"); }}\n'
        for weight, name in (("normal", "DejaVuSans.ttf"), ("bold", "DejaVuSans-Bold.ttf"))
    )
    return faces + (folder / "static" / "programme.css").read_text(encoding="utf-8")


def _local_only() -> Any:
    """WeasyPrint's fetcher, for the package's own fonts and data: URIs only."""
    from weasyprint.urls import URLFetcher

    fonts = Path(str(resources.files("feeds.render") / "fonts")).as_uri() + "/"

    class LocalOnly(URLFetcher):  # type: ignore[misc]
        def fetch(self, url: str, headers: Any = None) -> Any:
            if not url.startswith(("data:", fonts)):
                raise ValueError(f"the programme reaches nothing outside the package: {url[:80]}")
            return super().fetch(url, headers)

    return LocalOnly(allowed_protocols=("file", "data"))


@cache
def _template() -> Any:
    return template_env().get_template("programme.html")


def _period(first: date, last: date) -> str:
    end = format_date(last, "d. MMMM y", locale=LOCALE)
    if first.year == last.year:
        return f"{format_date(first, 'd. MMMM', locale=LOCALE)} bis {end}"
    return f"{format_date(first, 'd. MMMM y', locale=LOCALE)} bis {end}"
