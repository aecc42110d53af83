"""Events from any ICS URL: Google, Outlook, Nextcloud exports and hand-made files.

icalendar parses; x-wr-timezone turns Google's X-WR-TIMEZONE calendars (UTC or floating
times plus a calendar-wide zone) into standard ones. Recurrence rules, exceptions and
overrides (RECURRENCE-ID) are kept as given; only times without a zone get the site's.

Real calendars are often a little broken (see tests/data/ical/): what a calendar app
would read around, this reader reads around too, and says so in a warning; an event that
has nothing readable left is skipped and named; a document is refused only when it holds
no calendar at all.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from html import escape
from typing import Any, ClassVar, Self

import aiohttp

from feeds.model import Coverage, Event, EventStatus, Location
from feeds.sanitize import plain_text, plain_text_opt
from sources import _http
from sources._events import status_from_title
from sources._ical_document import read_calendar
from sources._ical_ranges import split_this_and_future
from sources._ical_values import Values, Warnings
from sources.base import (
    MAX_EVENTS,
    Fetched,
    NotModified,
    SourceContext,
    Validators,
    digest,
    option_str,
    option_url,
    read_each,
    refuse_over,
    reject_unknown,
    require_some,
)
from sources.parsing import parse

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
        result = await parse(
            response.url, parse_calendar, response.body, self.context, url=response.url
        )
        require_some(result.events, result.skipped, self.url, "event")
        return replace(result, validators=response.validators, moved_to=response.moved_to)


def parse_calendar(body: bytes, context: SourceContext, *, url: str) -> Fetched:
    """Events of an iCalendar document, with what was skipped and what was read around."""
    refuse_over(body.upper().count(b"BEGIN:VEVENT"), MAX_EVENTS, "events", url)
    document = read_calendar(body, url)
    warnings = Warnings(list(document.warnings))
    values = Values(context.timezone, warnings)
    events, skipped = read_each(
        document.vevents,
        lambda located: _event(*located, context=context, values=values),
        lambda located: f"VEVENT {_label(*located)}",
        context,
    )
    events = split_this_and_future(
        _distinct_uids(events, warnings), values.this_and_future, warnings
    )
    skipped = [*document.skipped, *skipped]
    return Fetched(
        events=tuple(events),
        skipped=tuple(skipped),
        warnings=tuple(warnings.lines),
        # A whole calendar holds every event of its source: one it no longer holds is gone.
        coverage=Coverage() if document.whole and not skipped else None,
    )


def _label(component: Any, line: int | None) -> str:
    """How a VEVENT is named in messages: its title, else its UID, and its line."""
    summary = component.get("SUMMARY")
    summary = summary[0] if isinstance(summary, list) else summary
    uid = component.get("UID")
    uid = uid[0] if isinstance(uid, list) else uid
    name = repr(plain_text(str(summary))[:60]) if summary else f"UID {str(uid or '?')[:80]}"
    return f"{name} (line {line})" if line else name


def _event(component: Any, line: int | None, *, context: SourceContext, values: Values) -> Event:
    values.label, values.own_zone = _label(component, line), None
    start = values.moment(component, "DTSTART", required=True)
    if start is None:
        raise KeyError("DTSTART")
    end = values.end(component, start)
    uid = values.text(component, "UID")
    recurrence_id = values.moment(component, "RECURRENCE-ID")
    summary = plain_text(values.text(component, "SUMMARY") or "") or "(ohne Titel)"
    title, marked = status_from_title(summary)
    status = STATUSES.get((values.text(component, "STATUS") or "").upper(), marked)
    if marked is EventStatus.CANCELLED:
        status = EventStatus.CANCELLED
    rrule = values.rule(component, start)
    rdates = values.dates(component, "RDATE", start) if rrule or "RDATE" in component else ()
    if rrule and values.own_zone is not None and isinstance(start, datetime):
        rdates, rrule = (*values.listed(component, rrule, start), *rdates), None
    event = Event(
        site=context.site,
        source=context.source,
        external_id=_external_id(uid, recurrence_id, component, values),
        uid=uid,
        title=title,
        start=start,
        end=end,
        description=_text_html(values.text(component, "DESCRIPTION")),
        url=values.url(component),
        location=_location(component, values),
        rrule=rrule,
        rdates=rdates,
        exdates=values.dates(component, "EXDATE", start),
        recurrence_id=recurrence_id,
        status=status,
        categories=_categories(component),
        organizer=_organizer(component.get("ORGANIZER")),
    )
    if values.ranges_forward(component):
        values.this_and_future.add(event.external_id)
    return event


def _external_id(
    uid: str | None, recurrence_id: date | datetime | None, component: Any, values: Values
) -> str:
    # Without a UID: the same digest as ever, so events kept in stores keep their ids.
    summary = values.single(component, "SUMMARY") or ""
    dtstart = values.single(component, "DTSTART")
    base = uid or digest(f"{summary}", repr(dtstart.to_ical()))
    return f"{base}#{recurrence_id.isoformat()}" if recurrence_id is not None else base


def _distinct_uids(events: list[Event], warnings: Warnings) -> list[Event]:
    """Two VEVENTs with one UID and no RECURRENCE-ID are two events (a buggy exporter):
    the later ones get a UID of their own, so neither is lost and no client sees two
    masters of one series."""
    seen: set[str] = set()
    result = []
    for event in events:
        if event.recurrence_id is None and event.uid is not None:
            if event.uid in seen:
                uid = f"{event.uid}-{digest(event.title, event.start.isoformat(), length=12)}"
                warnings.add(
                    f"{event.title!r}: UID {event.uid} is used by another event too;"
                    f" kept as its own event ({uid})"
                )
                event = replace(event, uid=uid, external_id=uid)
            seen.add(event.uid or "")
        result.append(event)
    return result


def _text_html(value: str | None) -> str | None:
    if not value:
        return None
    text = plain_text(value)
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    return "".join(f"<p>{escape(p).replace(chr(10), '<br>')}</p>" for p in paragraphs) or None


def _location(component: Any, values: Values) -> Location | None:
    name = plain_text_opt(values.text(component, "LOCATION"))
    geo = values.geo(component)
    if not name and geo is None:
        return None
    return Location(name=name or None, geo=geo)


def _categories(component: Any) -> tuple[str, ...]:
    values = component.get("CATEGORIES")
    if values is None:
        return ()
    groups = values if isinstance(values, list) else [values]
    names = (
        plain_text(str(c)) for group in groups for c in getattr(group, "cats", None) or [group]
    )
    return tuple(name for name in names if name)


def _organizer(value: Any) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    if value is None:
        return None
    name = value.params.get("CN") if hasattr(value, "params") else None
    return plain_text(str(name)) or None if name else None
