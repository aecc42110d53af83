"""RECURRENCE-ID;RANGE=THISANDFUTURE: an override that changes its occurrence and every
later one (RFC 5545 3.8.4.4), published so that every client shows the same dates.

Few clients read RANGE (Google and Apple do not), so a series is split where its
upstream changed it: each such override begins a series of its own (its content, the
master's rule, a UID of its own), and the part before it ends the day before. RFC 5545
counts RECURRENCE-ID in the master's original dates, so:

- several such overrides cut the series into several parts, each part running from its
  override to the next one's original date;
- the change of time or day an override makes (its start less its RECURRENCE-ID, in wall
  time) moves every later date of its part: the rule's weekdays move with it, or, where a
  rule cannot say the moved dates (the day after the second Wednesday), the part lists
  them as RDATEs;
- exceptions (EXDATE), added dates (RDATE) and single overrides of later dates move to
  the part that holds them, shifted as its dates are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from itertools import islice
from typing import Any

import icalendar as _icalendar
from dateutil.rrule import rrule, rrulestr

from feeds.model import Event

icalendar: Any = _icalendar
When = date | datetime
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
# A part whose moved dates no rule can say lists them; an endless one, this many.
LISTED_AT_MOST = 366
# Rule parts that pin dates to the calendar: a shift by days cannot keep them.
_DAY_PINNED = ("BYMONTHDAY", "BYYEARDAY", "BYWEEKNO", "BYSETPOS", "BYMONTH")
_TIME_PINNED = ("BYHOUR", "BYMINUTE", "BYSECOND")


def split_this_and_future(events: list[Event], forward: set[str], notes: Any) -> list[Event]:
    """The events with each series that has RANGE=THISANDFUTURE overrides (their
    external ids in `forward`) split into parts, as the module says; `notes.add` hears
    of each split."""
    masters = {e.uid: e for e in events if e.recurrence_id is None and e.rrule and e.uid}
    cuts: dict[str, list[Event]] = {}
    for event in events:
        if event.external_id in forward and event.uid in masters and event.recurrence_id:
            cuts.setdefault(event.uid, []).append(event)
    replacing: dict[str, list[Event]] = {}  # external id -> the events in its place
    for uid, overrides in cuts.items():
        master = masters[uid]
        overrides.sort(key=lambda o: _instant(_rid(o)))
        singles = [
            e
            for e in events
            if e.uid == uid and e.recurrence_id is not None and e.external_id not in forward
        ]
        for single in singles:
            replacing[single.external_id] = []  # each comes back with the part holding it
        for content, (part, held) in zip(
            [master, *overrides], _split(master, overrides, singles, notes), strict=True
        ):
            replacing[content.external_id] = [part, *held]
    if not replacing:
        return events
    return [new for event in events for new in replacing.get(event.external_id, [event])]


def _split(
    master: Event, overrides: Sequence[Event], singles: Sequence[Event], notes: Any
) -> list[tuple[Event, list[Event]]]:
    """Each part of the series (the master's first) with the single overrides it holds."""
    assert master.rrule is not None
    bounds = [_rid(o) for o in overrides]
    recur = icalendar.vRecur.from_ical(master.rrule)
    counted = _counted(master, bounds) if "COUNT" in recur else None
    parts: list[tuple[Event, list[Event]]] = []
    for index, content in enumerate([master, *overrides]):
        begin = master.start if index == 0 else bounds[index - 1]
        end = bounds[index] if index < len(bounds) else None

        def inside(value: When, begin: When = begin, end: When | None = end) -> bool:
            after = _instant(begin) <= _instant(value)
            return after and (end is None or _instant(value) < _instant(end))

        shift = _wall(content.start, master) - _wall(begin, master)
        uid = master.uid if index == 0 else f"{master.uid}-from-{_stamp(begin)}"
        assert uid is not None
        rule, listed = _part_rule(master, recur, begin, end, shift, counted, index, notes)
        part = replace(
            content,
            uid=uid,
            external_id=master.external_id if index == 0 else uid,
            recurrence_id=None,
            rrule=rule,
            rdates=(*listed, *(_moved(d, shift, master) for d in master.rdates if inside(d))),
            exdates=tuple(_moved(d, shift, master) for d in master.exdates if inside(d)),
        )
        held = []
        for single in (s for s in singles if inside(_rid(s))):
            moved = _moved(_rid(single), shift, master)
            held.append(
                single
                if index == 0
                else replace(
                    single, uid=uid, external_id=f"{uid}#{moved.isoformat()}", recurrence_id=moved
                )
            )
        parts.append((part, held))
        if index > 0:
            notes.add(
                f"{content.title!r}: changed from {begin.isoformat()} on"
                f" (RANGE=THISANDFUTURE); published as a series of its own, UID {uid}"
            )
    return parts


def _part_rule(
    master: Event,
    recur: Any,
    begin: When,
    end: When | None,
    shift: timedelta,
    counted: list[int] | None,
    index: int,
    notes: Any,
) -> tuple[str | None, list[When]]:
    """The rule of one part, or (where no rule can say its moved dates) None and its
    dates, listed."""
    part = icalendar.vRecur(recur)
    if counted is not None:  # COUNT: how many of the master's dates fall in this part
        if counted[index] <= 1:
            return None, []
        part["COUNT"] = [counted[index]]
    else:
        until = _until_value(part["UNTIL"][0], master) if "UNTIL" in part else None
        if end is not None and (until is None or _instant(end) <= _instant(until)):
            until = _before(end)
        if until is not None:
            part["UNTIL"] = [_utc(_moved(until, shift, master))]
    days = (_wall(begin, master) + shift).date().toordinal() - _wall(
        begin, master
    ).date().toordinal()
    clock_moved = bool((shift - timedelta(days=days)).total_seconds())
    weekdays = [str(d) for d in part.get("BYDAY", [])]
    ordinal = any(d[:-2].strip("+-") for d in weekdays)
    if (days % 7 and (ordinal or any(k in part for k in _DAY_PINNED))) or (
        clock_moved and any(k in part for k in _TIME_PINNED)
    ):
        listed = _listed(master, begin, end, shift, counted, index)
        if counted is None and "UNTIL" not in part and len(listed) + 1 >= LISTED_AT_MOST:
            notes.add(
                f"{master.title!r}: the dates moved from {begin.isoformat()} on are listed"
                f" for the next {LISTED_AT_MOST}"
            )
        return None, listed
    if days % 7 and weekdays:
        part["BYDAY"] = [WEEKDAYS[(WEEKDAYS.index(d[-2:].upper()) + days) % 7] for d in weekdays]
    text: str = icalendar.vRecur(part).to_ical().decode()
    return text, []


def _listed(
    master: Event,
    begin: When,
    end: When | None,
    shift: timedelta,
    counted: list[int] | None,
    index: int,
) -> list[When]:
    """The part's dates, moved: for rules that cannot say them. The first (DTSTART) is
    listed too: ical.js leaves DTSTART out of a series of RDATEs alone, and RFC 5545 reads
    a date given twice once."""
    dates = (d for d in _dates(master) if _instant(d) >= _instant(begin))
    if end is not None:
        dates = (d for d in dates if _instant(d) < _instant(end))
    limit = counted[index] if counted is not None else LISTED_AT_MOST
    return [_moved(d, shift, master) for d in islice(dates, limit)]


def _counted(master: Event, bounds: Sequence[When]) -> list[int]:
    """How many of a COUNT rule's dates fall in each part."""
    counts = [0] * (len(bounds) + 1)
    for value in _dates(master):
        counts[sum(1 for b in bounds if _instant(b) <= _instant(value))] += 1
    return counts


def _dates(master: Event) -> Any:
    """The master's own dates (its rule from its start), as the model keeps its start."""
    assert master.rrule is not None
    start = master.start
    dtstart = start if isinstance(start, datetime) else datetime.combine(start, time())
    rules = rrulestr(f"RRULE:{master.rrule}", dtstart=dtstart)
    assert isinstance(rules, rrule)
    for value in rules:
        yield value if isinstance(start, datetime) else value.date()


def _until_value(value: Any, master: Event) -> When:
    if isinstance(value, datetime) and value.tzinfo is None and isinstance(master.start, datetime):
        return value.replace(tzinfo=master.start.tzinfo)
    return value  # type: ignore[no-any-return]


def _utc(value: When) -> When:
    return value.astimezone(UTC) if isinstance(value, datetime) else value


def _before(value: When) -> When:
    """The last moment before `value`, as UNTIL says it (UTC, or the day before)."""
    if isinstance(value, datetime):
        return (value - timedelta(seconds=1)).astimezone(UTC)
    return value - timedelta(days=1)


def _rid(event: Event) -> When:
    assert event.recurrence_id is not None
    return event.recurrence_id


def _wall(value: When, master: Event) -> datetime:
    """A moment as a clock in the series' zone shows it (shifts are in wall time)."""
    if isinstance(value, datetime):
        zone = master.start.tzinfo if isinstance(master.start, datetime) else None
        return (value.astimezone(zone) if zone else value).replace(tzinfo=None)
    return datetime.combine(value, time())


def _moved(value: When, shift: timedelta, master: Event) -> When:
    """`value` moved by `shift` of wall time in the series' zone."""
    if isinstance(value, datetime):
        zone = master.start.tzinfo if isinstance(master.start, datetime) else value.tzinfo
        return (_wall(value, master) + shift).replace(tzinfo=zone)
    return value + timedelta(days=shift.days)


def _instant(value: When) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.combine(value, time(), tzinfo=UTC)


def _stamp(value: When) -> str:
    return value.strftime("%Y%m%dT%H%M%S") if isinstance(value, datetime) else value.isoformat()
