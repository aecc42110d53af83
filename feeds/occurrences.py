"""When a (possibly recurring) event takes place, by dateutil's RFC 5545 recurrence rules."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from dateutil.rrule import rruleset, rrulestr

from feeds.model import DEFAULT_TIMEZONE, Event

log = logging.getLogger(__name__)


def occurrences(
    event: Event, after: datetime, before: datetime
) -> Iterator[tuple[datetime, datetime]]:
    """(start, end) of every occurrence overlapping [after, before), as aware datetimes."""
    duration = event.end_instant() - event.start_instant()
    if not event.rrule and not event.rdates:
        if _overlaps(event.start_instant(), event.end_instant(), after, before):
            yield event.start_instant(), event.end_instant()
        return
    rules = _ruleset(event)
    if rules is None:  # an unreadable rule: judge by the first occurrence alone
        if _overlaps(event.start_instant(), event.end_instant(), after, before):
            yield event.start_instant(), event.end_instant()
        return
    zone = _zone(event)
    low, high = after - duration, before
    if event.all_day:  # the set runs on naive local midnights
        low, high = _naive(low, zone), _naive(high, zone)
    for start in rules.between(low, high, inc=True):
        begin = start.replace(tzinfo=zone) if start.tzinfo is None else start
        end = begin + duration
        if _overlaps(begin, end, after, before):
            yield begin, end


def _ruleset(event: Event) -> rruleset | None:
    dtstart = _rule_start(event.start)
    try:
        rules = rruleset()
        if event.rrule:
            parsed = rrulestr(f"RRULE:{event.rrule}", dtstart=dtstart, forceset=True)
            assert isinstance(parsed, rruleset)
            rules = parsed
        else:
            rules.rdate(dtstart)
        for value in event.rdates:
            rules.rdate(_rule_start(value))
        for value in event.exdates:
            rules.exdate(_rule_start(value))
    except (ValueError, TypeError) as exc:
        log.warning(
            "%s/%s %s: unreadable RRULE %r: %s",
            *(event.site, event.source, event.external_id, event.rrule, exc),
        )
        return None
    return rules


def _overlaps(start: datetime, end: datetime, after: datetime, before: datetime) -> bool:
    # An event without duration still happens at its start.
    return start < before and (end > after or start >= after)


def _rule_start(value: date | datetime) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.combine(value, time())


def _zone(event: Event) -> ZoneInfo:
    return ZoneInfo(event.timezone or DEFAULT_TIMEZONE)


def _naive(value: datetime, zone: ZoneInfo) -> datetime:
    return value.astimezone(zone).replace(tzinfo=None)


MAX_COUNTED = 5000  # past this many occurrences a series is treated as open-ended


def last_end(event: Event) -> datetime | None:
    """When the last occurrence ends; None for a series without end (or too long to count).

    The store keeps this beside each event so a date window is an indexed range: it only
    narrows which events are looked at, so erring towards None (open-ended) is always safe.
    """
    if not event.rrule and not event.rdates:
        return event.end_instant()
    rules = _ruleset(event)
    if rules is None:  # judged by its first occurrence, as `occurrences` does
        return event.end_instant()
    if event.rrule and "COUNT=" not in event.rrule.upper() and "UNTIL=" not in event.rrule.upper():
        return None
    last = None
    try:
        for index, start in enumerate(rules):
            if index >= MAX_COUNTED:
                return None
            last = start
    except (ValueError, TypeError, OverflowError):  # a rule dateutil cannot run to its end
        return None
    if last is None:  # every occurrence excluded
        return event.end_instant()
    begin = last.replace(tzinfo=_zone(event)) if last.tzinfo is None else last
    return max(begin + (event.end_instant() - event.start_instant()), event.end_instant())
