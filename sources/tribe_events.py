"""Events from The Events Calendar (WordPress plugin): /wp-json/tribe/events/v1/events.

Reference: https://docs.theeventscalendar.com/apis/rest-api/ — a page holds `events`,
`total`, `total_pages` and, while more pages follow, `next_rest_url`. Each event has local
`start_date`/`end_date` ("2025-03-08 20:00:00") with its `timezone`, the same in UTC as
`utc_start_date`/`utc_end_date`, `all_day`, a `venue` object (an empty list when none),
`organizer` and `categories` lists, `cost`, and `image` (false when none).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, ClassVar, Self
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import aiohttp

from feeds.model import Coverage, Event, Image, Location
from feeds.sanitize import plain_text, safe_url, sanitize_html
from sources import _http
from sources._events import status_from_title
from sources.base import (
    Fetched,
    NotModified,
    SourceContext,
    SourceError,
    Validators,
    finite_geo,
    later_page_failed,
    load_json,
    option_int,
    read_each,
    reject_unknown,
    require_some,
    wordpress_api,
)
from sources.parsing import parse
from sources.prices import tribe_price

log = logging.getLogger(__name__)
FIRST_PAST_DAYS = 365


@dataclass(frozen=True, slots=True)
class TribeOptions:
    api: str
    per_page: int
    max_pages: int
    past_days: int  # recently past events are asked for too, so late changes arrive


@dataclass(frozen=True, slots=True)
class TribeEventsSource:
    kind: ClassVar[str] = "tribe_events"
    context: SourceContext
    options: TribeOptions

    @classmethod
    def from_config(cls, context: SourceContext, options: Mapping[str, Any]) -> Self:
        reject_unknown(options, {"url", "api", "per_page", "max_pages", "past_days"})
        return cls(
            context,
            TribeOptions(
                api=wordpress_api(options),
                per_page=option_int(options, "per_page", default=50, low=1, high=100),
                max_pages=option_int(options, "max_pages", default=10, low=1, high=100),
                past_days=option_int(options, "past_days", default=30, low=0, high=3650),
            ),
        )

    def since(self, today: date, first_time: bool = False) -> date:
        # A first harvest reaches back a year, so a new group's calendar arrives with its
        # recent history; later ones only `past_days`, for late changes.
        days = (
            max(self.options.past_days, FIRST_PAST_DAYS) if first_time else self.options.past_days
        )
        return today - timedelta(days=days)

    def first_url(self, today: date, *, first_time: bool = False) -> str:
        since = self.since(today, first_time)
        query = urlencode({"per_page": self.options.per_page, "start_date": since.isoformat()})
        return f"{self.options.api}tribe/events/v1/events?{query}"

    async def fetch(
        self, session: aiohttp.ClientSession, validators: Validators
    ) -> Fetched | NotModified:
        today = datetime.now(ZoneInfo(self.context.timezone)).date()
        # Without validators this is a first harvest (or a server that sends none).
        first_time = not (validators.etag or validators.last_modified)
        url = self.first_url(today, first_time=first_time)
        first = await _http.fetch(session, url, validators, accept="application/json")
        if isinstance(first, NotModified):
            return first
        events: list[Event] = []
        skipped: list[str] = []
        warnings: list[str] = []
        response = first
        seen = {url}
        whole = False  # every page read, to the last
        for number in range(1, self.options.max_pages + 1):
            page = await parse(
                response.url, parse_events, response.body, self.context, url=response.url
            )
            events.extend(page.events)
            skipped.extend(page.skipped)
            next_url = page.next_url
            if not next_url or number >= (page.total_pages or number + 1):
                whole = True
                break
            if next_url in seen:
                break
            seen.add(next_url)
            try:
                response = await _http.fetch_fresh(session, next_url, accept="application/json")
            except SourceError as exc:
                warnings.append(later_page_failed(number + 1, exc))
                break
        require_some(events, skipped, url, "event")
        # Every page read holds every event from the day asked for on (the API's
        # `start_date`); earlier ones are outside the read, not gone.
        since = datetime.combine(
            self.since(today, first_time), time(), ZoneInfo(self.context.timezone)
        )
        return Fetched(
            events=tuple(events),
            validators=first.validators,
            skipped=tuple(skipped),
            warnings=tuple(warnings),
            moved_to=first.moved_to,
            coverage=Coverage(since) if whole and not skipped else None,
        )


@dataclass(frozen=True, slots=True)
class Page:
    events: list[Event]
    skipped: list[str]  # the items that could not be read
    next_url: str | None
    total_pages: int | None


def parse_events(body: bytes, context: SourceContext, *, url: str) -> Page:
    """Events of one page, the items that could not be read, and where the next page is."""
    data = load_json(body, url)
    if not isinstance(data, dict) or not isinstance(data.get("events"), list):
        code = data.get("code") if isinstance(data, dict) else None
        raise SourceError(
            f"{url}: expected an object with a list of events{f' ({code})' if code else ''}"
        )
    events, skipped = read_each(
        data["events"],
        lambda raw: _event(raw, context),
        lambda raw: f"event {raw.get('id', '?') if isinstance(raw, dict) else '?'}",
        context,
    )
    next_url = data.get("next_rest_url")
    total = data.get("total_pages")
    return Page(
        events,
        skipped,
        next_url if isinstance(next_url, str) else None,
        total if isinstance(total, int) and not isinstance(total, bool) and total > 0 else None,
    )


def _event(raw: dict[str, Any], context: SourceContext) -> Event:
    title, status = status_from_title(plain_text(str(raw["title"])))
    start: date | datetime
    end: date | datetime
    if raw.get("all_day"):
        start = datetime.fromisoformat(raw["start_date"]).date()
        end = datetime.fromisoformat(raw["end_date"]).date()  # the last day, inclusive
    else:
        zone = _zone(raw.get("timezone"), context.timezone)
        start, end = _when(raw, "start", zone), _when(raw, "end", zone)
    url = safe_url(raw.get("url") if isinstance(raw.get("url"), str) else None)
    return Event(
        site=context.site,
        source=context.source,
        external_id=str(raw["id"]),
        title=title,
        start=start,
        end=end,
        description=sanitize_html(str(raw.get("description") or ""), base_url=url) or None,
        url=url,
        location=_venue(raw.get("venue")),
        status=status,
        categories=tuple(
            plain_text(c["name"]) for c in raw.get("categories") or [] if c.get("name")
        ),
        organizer=", ".join(
            plain_text(o["organizer"]) for o in raw.get("organizer") or [] if o.get("organizer")
        )
        or None,
        image=_image(raw.get("image")),
        price=tribe_price(raw),
    )


def _zone(name: Any, fallback: str) -> ZoneInfo | None:
    """The event's zone; None for WordPress's manual offsets ("UTC+1"), read from UTC then."""
    try:
        return ZoneInfo(str(name)) if name else ZoneInfo(fallback)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _when(raw: dict[str, Any], which: str, zone: ZoneInfo | None) -> datetime:
    if zone is not None:
        return datetime.fromisoformat(raw[f"{which}_date"]).replace(tzinfo=zone)
    return datetime.fromisoformat(raw[f"utc_{which}_date"]).replace(tzinfo=UTC)


def _venue(venue: Any) -> Location | None:
    if not isinstance(venue, dict) or not venue:
        return None
    town = " ".join(str(venue[k]) for k in ("zip", "city") if venue.get(k))
    address = ", ".join(p for p in (venue.get("address"), town, venue.get("country")) if p)
    # "nan", "", or a swapped pair: a position only when it is one.
    geo = finite_geo(venue.get("geo_lat"), venue.get("geo_lng"))
    name = plain_text(str(venue["venue"])) if venue.get("venue") else None
    return Location(name=name, address=plain_text(address) or None, geo=geo)


def _image(image: Any) -> Image | None:
    if not isinstance(image, dict) or not image.get("url"):
        return None
    url = safe_url(str(image["url"]))
    alt = plain_text(str(image.get("alt") or "")) or None
    return Image(url=url, alt=alt) if url else None
