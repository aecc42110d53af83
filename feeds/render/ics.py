"""iCalendar (RFC 5545) calendars for subscription and for a single event."""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Protocol

import icalendar

from feeds import __version__
from feeds.model import Event, EventStatus, Stored
from feeds.sanitize import html_to_text

log = logging.getLogger(__name__)
PRODID = f"-//engagement-feeds//engagement-feeds {__version__}//DE"


# Network calendars: the group an event comes from, and the others that carry it too.
Credit = tuple[str, tuple[str, ...]]


@dataclass(frozen=True, slots=True, kw_only=True)
class CalendarInfo:
    name: str
    description: str | None
    timezone: str
    refresh: timedelta  # how often subscribers should poll: the harvest interval


class Memo(Protocol):
    """Where rendered VEVENT bytes are kept between renders (the web layer owns it)."""

    def get(self, key: Hashable) -> bytes | None: ...

    def put(self, key: Hashable, value: bytes) -> None: ...


_END = b"END:VCALENDAR\r\n"


def render_calendar(
    info: CalendarInfo,
    events: Sequence[Stored[Event]],
    *,
    attribution: Callable[[Event], Credit | None] | None = None,
    memo: Memo | None = None,
) -> bytes:
    """A whole calendar; `attribution` names the group(s) of each event in network ones.

    icalendar spends about 0.3 ms on an event, so a calendar is assembled from each
    event's VEVENT bytes, kept in `memo` by item revision: after a harvest only the
    events that changed are rendered again.
    """
    head = _calendar_head(info).to_ical()
    parts = [head.removesuffix(_END)]
    parts.extend(_vtimezone_bytes(*span) for span in timezone_spans(s.item for s in events))
    for stored in events:
        credit = attribution(stored.item) if attribution else None
        try:
            parts.append(_vevent_bytes(stored, credit, memo))
        except Exception:  # one event must not cost the calendar, nor the network's
            log.exception("%s: event %s cannot be written", stored.item.site, stored.item.uuid)
    parts.append(_END)
    return b"".join(parts)


def _vevent_bytes(stored: Stored[Event], credit: Credit | None, memo: Memo | None) -> bytes:
    event = stored.item
    # The image too: our copy replaces the upstream address without a new revision.
    key = (event.site, event.source, event.external_id, stored.revision, event.image, credit)
    chunk = memo.get(key) if memo is not None else None
    if chunk is None:
        chunk = vevent(stored, credit=credit).to_ical()
        if memo is not None:
            memo.put(key, chunk)
    return chunk


def _calendar_head(info: CalendarInfo) -> icalendar.Calendar:
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    # icalendar types X- properties by value, not as TEXT: a str with a newline is not
    # escaped, and its content line asserts (under -O: a raw line break, an injected
    # property). vText escapes newlines, commas, semicolons and backslashes.
    calendar.add("x-wr-calname", icalendar.vText(info.name))
    calendar.add("x-wr-timezone", info.timezone)
    if info.description:
        calendar.add("x-wr-caldesc", icalendar.vText(info.description))
    calendar.add("refresh-interval", info.refresh, parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", icalendar.vDuration(info.refresh))
    return calendar


def vevent(stored: Stored[Event], *, credit: Credit | None = None) -> icalendar.Event:
    event = stored.item
    component = icalendar.Event()
    component.add("uid", event.ical_uid)
    # DTSTAMP is the time this revision was made, so the same revision renders the same bytes.
    component.add("dtstamp", stored.changed)
    component.add("created", stored.first_seen)
    component.add("last-modified", stored.changed)
    component.add("sequence", stored.sequence)
    component.add("summary", event.title)
    component.add("dtstart", event.start)
    end = ical_end(event)
    if end is not None:
        component.add("dtend", end)
    if event.rrule:
        component.add("rrule", icalendar.vRecur.from_ical(event.rrule))
    if event.recurrence_id is not None:
        component.add("recurrence-id", event.recurrence_id)
    for name, values in (("rdate", event.rdates), ("exdate", event.exdates)):
        for value in values:
            component.add(name, value)
    # RFC 5545 knows no postponement: the date given is not to be relied on, as tentative.
    status = EventStatus.TENTATIVE if event.status is EventStatus.POSTPONED else event.status
    component.add("status", status.value.upper())
    if event.status is EventStatus.CANCELLED:
        component.add("transp", "TRANSPARENT")
    description = _description(event, credit)
    if description:
        component.add("description", description)
    if event.url:
        component.add("url", event.url)
    if event.location:
        label = event.location.label()
        if label:
            component.add("location", label)
        if event.location.geo:
            component.add("geo", event.location.geo)
    group = credit[0] if credit else None
    categories = [*event.categories, *([group] if group else [])]
    if categories:
        component.add("categories", categories)
    if group:  # network calendars: which group's event this is, as data too
        component.add("x-engagement-group", icalendar.vText(group))
    if event.image:
        component.add("image", event.image.url, parameters={"VALUE": "URI", "DISPLAY": "BADGE"})
    return component


def ical_end(event: Event) -> date | datetime | None:
    """DTEND: exclusive for all-day events (RFC 5545 3.6.1), the given end otherwise.

    An end equal to the start is left out: RFC 5545 wants DTEND after DTSTART (calcurse
    refuses the event), and without DTEND the event takes no time, as meant.
    """
    if event.all_day:
        last = event.end or event.start
        return last + timedelta(days=1)
    return event.end if event.end != event.start else None


def timezone_spans(events: Iterable[Event]) -> list[tuple[str, int, int]]:
    """(TZID, first year, last year) for every TZID used, covering the years the events span."""
    spans: dict[str, tuple[date, date]] = {}
    for event in events:
        for value in (event.start, event.end, event.recurrence_id, *event.rdates, *event.exdates):
            key = getattr(getattr(value, "tzinfo", None), "key", None)
            if not isinstance(value, datetime) or key is None:
                continue
            low, high = spans.get(key, (value.date(), value.date()))
            spans[key] = (min(low, value.date()), max(high, value.date()))
        if event.rrule and event.timezone:
            low, high = spans[event.timezone]
            spans[event.timezone] = (low, max(high, date(high.year + 5, 1, 1)))
    return [(key, low.year - 1, high.year + 1) for key, (low, high) in sorted(spans.items())]


@lru_cache(maxsize=256)
def _vtimezone_bytes(tzid: str, first_year: int, last_year: int) -> bytes:
    timezone = icalendar.Timezone.from_tzid(
        tzid, first_date=date(first_year, 1, 1), last_date=date(last_year + 1, 1, 1)
    )
    body: bytes = _one_rdate_per_line(timezone).to_ical()
    return body


def _one_rdate_per_line(timezone: icalendar.Timezone) -> icalendar.Timezone:
    # icalendar writes the transitions as one comma-separated RDATE; ical.js 2.2 reads
    # only its first value and puts later summer-time events an hour off. One RDATE
    # per line means the same to RFC 5545 and is read right by every client.
    for observance in timezone.subcomponents:
        dates = observance.pop("RDATE", None)
        if dates is None:
            continue
        for group in dates if isinstance(dates, list) else [dates]:
            for value in group.dts:
                observance.add("rdate", value.dt)
    return timezone


def _description(event: Event, credit: Credit | None) -> str | None:
    parts = [html_to_text(event.description)] if event.description else []
    if event.organizer:
        parts.append(f"Veranstalter: {event.organizer}")
    parts.extend(f"{key.capitalize()}: {value}" for key, value in event.extra)
    if event.price:
        parts.append(f"Eintritt: {event.price.text}")
    if credit:
        group, others = credit
        parts.append(group + (f" · auch bei: {', '.join(others)}" if others else ""))
    text = "\n\n".join(p for p in parts if p)
    return text or None
