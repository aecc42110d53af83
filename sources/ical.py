"""Events from any ICS URL: Google, Outlook, Nextcloud exports and hand-made files.

icalendar parses; x-wr-timezone turns Google's X-WR-TIMEZONE calendars (UTC or floating
times plus a calendar-wide zone) into standard ones. Recurrence rules, exceptions and
overrides (RECURRENCE-ID) are kept as given; only times without a zone get the site's.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from html import escape
from typing import Any, ClassVar, Self
from zoneinfo import ZoneInfo

import aiohttp
import icalendar
import x_wr_timezone

from feeds.model import Event, EventStatus, Location
from feeds.sanitize import plain_text, plain_text_opt
from sources import _http
from sources._events import status_from_title
from sources.base import (
    Fetched,
    NotModified,
    SourceContext,
    SourceError,
    Validators,
    option_str,
    option_url,
    read_each,
    reject_unknown,
)

log = logging.getLogger(__name__)
STATUSES = {
    "CONFIRMED": EventStatus.CONFIRMED,
    "TENTATIVE": EventStatus.TENTATIVE,
    "CANCELLED": EventStatus.CANCELLED,
}


@dataclass(frozen=True, slots=True)
class ICalSource:
    kind: ClassVar[str] = "ical"
    context: SourceContext
    url: str

    @classmethod
    def from_config(cls, context: SourceContext, options: Mapping[str, Any]) -> Self:
        reject_unknown(options, {"url"})
        # People paste subscribe links: webcal:// is https:// for fetching.
        raw = option_str(options, "url").strip()
        if raw.lower().startswith("webcal://"):
            raw = "https://" + raw[len("webcal://") :]
        return cls(context, option_url({"url": raw}, "url"))

    async def fetch(
        self, session: aiohttp.ClientSession, validators: Validators
    ) -> Fetched | NotModified:
        response = await _http.fetch(
            session, self.url, validators, accept="text/calendar, */*;q=0.1"
        )
        if isinstance(response, NotModified):
            return response
        events, skipped = await asyncio.to_thread(
            parse_events, response.body, self.context, url=response.url
        )
        if skipped and not events:
            raise SourceError(f"{self.url}: no event could be read: {skipped[0]}")
        return Fetched(
            events=tuple(events),
            validators=response.validators,
            skipped=tuple(skipped),
            moved_to=response.moved_to,
        )


def parse_events(body: bytes, context: SourceContext, *, url: str) -> tuple[list[Event], list[str]]:
    """Events of an iCalendar document; a broken VEVENT is reported, a broken file raises."""
    if not body.lstrip().upper().startswith(b"BEGIN:VCALENDAR"):
        start = body[:60].decode("utf-8", "replace").strip()
        raise SourceError(f"{url}: not an iCalendar file (no BEGIN:VCALENDAR); it starts {start!r}")
    try:
        calendar = icalendar.Calendar.from_ical(body)
        calendar = x_wr_timezone.to_standard(calendar)
    except (ValueError, KeyError, IndexError) as exc:
        raise SourceError(f"{url}: invalid iCalendar data: {exc}") from exc
    zone = ZoneInfo(context.timezone)
    events, skipped = read_each(
        calendar.walk("VEVENT"),
        lambda component: _event(component, context, zone),
        lambda component: f"VEVENT {component.get('UID') or component.get('SUMMARY', '?')}",
        context,
    )
    for error in getattr(calendar, "errors", []):
        skipped.append(f"calendar: {error}")
    return events, skipped


def _event(component: Any, context: SourceContext, zone: ZoneInfo) -> Event:
    if "DTSTART" not in component:
        raise KeyError("DTSTART")
    start = _when(component.decoded("DTSTART"), zone)
    end = _end(component, start, zone)
    uid = str(component["UID"]) if "UID" in component else None
    recurrence_id = (
        _when(component.decoded("RECURRENCE-ID"), zone) if "RECURRENCE-ID" in component else None
    )
    summary = plain_text(str(component.get("SUMMARY", ""))) or "(ohne Titel)"
    title, marked = status_from_title(summary)
    status = STATUSES.get(str(component.get("STATUS", "")).upper(), marked)
    if marked is EventStatus.CANCELLED:
        status = EventStatus.CANCELLED
    return Event(
        site=context.site,
        source=context.source,
        external_id=_external_id(uid, recurrence_id, component),
        uid=uid,
        title=title,
        start=start,
        end=end,
        description=_text_html(component.get("DESCRIPTION")),
        url=str(component["URL"]) if "URL" in component else None,
        location=_location(component),
        rrule=component["RRULE"].to_ical().decode() if "RRULE" in component else None,
        rdates=_dates(component, "RDATE", zone),
        exdates=_dates(component, "EXDATE", zone),
        recurrence_id=recurrence_id,
        status=status,
        categories=_categories(component),
        organizer=_organizer(component.get("ORGANIZER")),
    )


def _when(value: date | datetime, zone: ZoneInfo) -> date | datetime:
    if not isinstance(value, datetime):
        return value
    if value.tzinfo is None:  # floating time: local to the site
        return value.replace(tzinfo=zone)
    if getattr(value.tzinfo, "key", None) is None and value.utcoffset() != timedelta(0):
        # A zone icalendar could not name (a custom VTIMEZONE): keep the instant, in ours.
        return value.astimezone(zone)
    return value


def _end(component: Any, start: date | datetime, zone: ZoneInfo) -> date | datetime | None:
    if "DTEND" in component:
        end = _when(component.decoded("DTEND"), zone)
    elif "DURATION" in component:
        end = start + component.decoded("DURATION")
    else:
        return None
    if not isinstance(start, datetime):
        # iCalendar's DTEND of an all-day event is exclusive; ours is the last day.
        if isinstance(end, datetime):
            end = end.date()
        return max(start, end - timedelta(days=1))
    if not isinstance(end, datetime):
        raise ValueError("DTEND is a date but DTSTART a date-time")
    return end


def _dates(component: Any, name: str, zone: ZoneInfo) -> tuple[date | datetime, ...]:
    values = component.get(name)
    if values is None:
        return ()
    groups = values if isinstance(values, list) else [values]
    return tuple(_when(item.dt, zone) for group in groups for item in group.dts)


def _external_id(uid: str | None, recurrence_id: date | datetime | None, component: Any) -> str:
    base = (
        uid
        or hashlib.sha256(
            f"{component.get('SUMMARY', '')}\x1f{component.get('DTSTART').to_ical()!r}".encode()
        ).hexdigest()[:32]
    )
    return f"{base}#{recurrence_id.isoformat()}" if recurrence_id is not None else base


def _text_html(value: Any) -> str | None:
    if not value:
        return None
    text = plain_text(str(value))
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    return "".join(f"<p>{escape(p).replace(chr(10), '<br>')}</p>" for p in paragraphs) or None


def _location(component: Any) -> Location | None:
    name = plain_text_opt(str(component["LOCATION"])) if "LOCATION" in component else None
    geo = None
    if "GEO" in component:
        value = component["GEO"]
        geo = (float(value.latitude), float(value.longitude))
    if not name and geo is None:
        return None
    return Location(name=name or None, geo=geo)


def _categories(component: Any) -> tuple[str, ...]:
    values = component.get("CATEGORIES")
    if values is None:
        return ()
    groups = values if isinstance(values, list) else [values]
    return tuple(plain_text(str(c)) for group in groups for c in getattr(group, "cats", [group]))


def _organizer(value: Any) -> str | None:
    if value is None:
        return None
    name = value.params.get("CN") if hasattr(value, "params") else None
    return plain_text(str(name)) if name else None
