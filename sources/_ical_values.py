"""Property values of a VEVENT, read the way calendar apps read them.

Each reading that works around a flaw (a property given twice, a date-valued DTEND beside
a date-time DTSTART, "PT1W", a broken GEO, an RDATE period) keeps the event and adds a
warning that names it; only an event without a readable start is skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import icalendar as _icalendar
from dateutil.rrule import rrulestr
from icalendar.timezone.tzid import get_equivalent_tzids
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from feeds.model import Event
from feeds.occurrences import rule_problem
from feeds.sanitize import safe_url
from sources.base import finite_geo

# icalendar's annotations are partial; its values are read as Any here.
icalendar: Any = _icalendar

When = date | datetime
# A date or date-time in RFC 5545's basic form, with whatever junk follows ("…T", "Z").
_BASIC = re.compile(r"^\s*(\d{8})(?:T(\d{6}))?(Z)?")
# Months a zone's offsets are compared at to decide it is the same as an IANA zone.
_PROBE_MONTHS = (1, 4, 7, 10)


@dataclass
class Warnings:
    """The warnings of one document, each once, in order."""

    lines: list[str] = field(default_factory=list)

    def add(self, line: str) -> None:
        if line not in self.lines:
            self.lines.append(line)


class Values:
    """Reads one VEVENT's values at a time; `label` names the event in warnings."""

    def __init__(self, timezone: str, notes: Warnings) -> None:
        self.zone = ZoneInfo(timezone)
        self.notes = notes
        self.label = ""
        self._zones: dict[str, tzinfo | None] = {}
        self.this_and_future: set[str] = set()  # external ids of RANGE=THISANDFUTURE overrides

    def warn(self, text: str) -> None:
        self.notes.add(f"{self.label}: {text}")

    def single(self, component: Any, name: str) -> Any:
        value = component.get(name)
        if isinstance(value, list):
            if len(value) > 1:
                self.warn(f"{name} is given {len(value)} times; the first is used")
            value = value[0] if value else None
        return value

    def text(self, component: Any, name: str) -> str | None:
        value = self.single(component, name)
        return None if value is None else str(value)

    def moment(self, component: Any, name: str, *, required: bool = False) -> When | None:
        """A date or an aware date-time; None when absent or unreadable (ValueError when
        `required`)."""
        prop = self.single(component, name)
        if prop is None:
            return None
        params = getattr(prop, "params", {})
        value = _dt(prop)
        if value is None:
            value = self._lenient(name, _raw(prop), params)
            if value is None:
                if required:
                    raise ValueError(f"{name} {_raw(prop).strip()[:40]!r} is no date")
                self.warn(f"{name} {_raw(prop).strip()[:40]!r} is no date; left out")
                return None
        if isinstance(value, tuple):  # a PERIOD: its start is the moment
            self.warn(f"{name} is a period; its start is used")
            value = value[0]
        if isinstance(value, timedelta) or not isinstance(value, date):
            self.warn(f"{name} {value!r} is no date; left out")
            return None
        if isinstance(value, datetime) and str(params.get("VALUE", "")).upper() == "DATE":
            value = value.date()  # "DTSTART;TZID=…;VALUE=DATE:20120714" is a date
        return self._aware(value, params)

    def end(self, component: Any, start: When) -> When | None:
        """The end as the model keeps it: inclusive last day for all-day events."""
        end = self.moment(component, "DTEND")
        if end is None and "DURATION" in component:
            duration = self._duration(component)
            end = start + duration if duration is not None else None
        if end is None:
            return None
        if not isinstance(start, datetime):
            if isinstance(end, datetime):
                end = end.astimezone(self.zone).date() if end.tzinfo else end.date()
            # iCalendar's DTEND of an all-day event is exclusive; ours is the last day.
            return max(start, end - timedelta(days=1))
        if not isinstance(end, datetime):
            # Seen from Lanyrd and phpicalendar; apps read it as "until that day begins".
            self.warn("DTEND is a date beside a DTSTART with a time; read as midnight")
            end = datetime.combine(end, time(), tzinfo=start.tzinfo)
        if end < start:
            self.warn(f"DTEND {end.isoformat()} is before DTSTART; the end is left out")
            return None
        return end

    def _duration(self, component: Any) -> timedelta | None:
        prop = self.single(component, "DURATION")
        value = _dt(prop)
        if not isinstance(value, timedelta):
            raw = _raw(prop).strip()
            fixed = re.sub(r"^([+-]?)PT(\d+W)$", r"\1P\2", raw)  # Synology writes "PT1W"
            try:
                value = icalendar.vDuration.from_ical(fixed)
            except ValueError:
                self.warn(f"DURATION {raw!r} is unreadable; the end is left out")
                return None
            self.warn(f"DURATION {raw!r} is not RFC 5545; read as {fixed}")
        if not isinstance(value, timedelta):
            return None
        if value < timedelta(0):
            self.warn("DURATION is negative; the end is left out")
            return None
        return value

    def rule(self, component: Any, start: When) -> str | None:
        """The RRULE as text, if dateutil can expand it; else the event stays a single one."""
        prop = self.single(component, "RRULE")
        if prop is None:
            return None
        try:
            recur = prop if isinstance(prop, icalendar.vRecur) else icalendar.vRecur.from_ical(prop)
            recur = icalendar.vRecur(recur)
            if isinstance(start, datetime) and "UNTIL" in recur:
                recur["UNTIL"] = [_until(u, start) for u in recur["UNTIL"]]
            text: str = recur.to_ical().decode()
            rrulestr(f"RRULE:{text}", dtstart=_naive_start(start))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            shown = _raw(prop)[:80]
            self.warn(f"unreadable RRULE {shown!r} ({exc}); kept as a single event")
            return None
        problem = rule_problem(text, start)
        if problem:
            self.warn(f"RRULE {text[:80]!r}: {problem}")
            return None
        return text

    def dates(self, component: Any, name: str, start: When) -> tuple[When, ...]:
        """RDATE or EXDATE values, each of the start's kind (date or date-time)."""
        values = component.get(name)
        if values is None:
            return ()
        found: list[When] = []
        for group in values if isinstance(values, list) else [values]:
            params = getattr(group, "params", {})
            try:
                items = [item.dt for item in group.dts]
            except (AttributeError, ValueError):
                items = [self._lenient(name, part, params) for part in _raw(group).split(",")]
            for item in items:
                if isinstance(item, tuple):
                    self.warn(f"{name} with a PERIOD value; its start is used")
                    item = item[0]
                if not isinstance(item, date):
                    continue
                when = self._aware(item, params)
                if isinstance(start, datetime) and not isinstance(when, datetime):
                    when = datetime.combine(when, start.timetz())
                elif not isinstance(start, datetime) and isinstance(when, datetime):
                    when = when.date()
                found.append(when)
        return tuple(found)

    def url(self, component: Any) -> str | None:
        return safe_url(self.text(component, "URL"))

    def geo(self, component: Any) -> tuple[float, float] | None:
        prop = self.single(component, "GEO")
        if prop is None:
            return None
        try:
            position = finite_geo(prop.latitude, prop.longitude)
        except (AttributeError, ValueError):
            position = None
        if position is None:
            raw = _raw(prop)
            self.warn(f"GEO {raw!r} is no position; left out")
        return position

    def ranges_forward(self, component: Any) -> bool:
        prop = self.single(component, "RECURRENCE-ID")
        params = getattr(prop, "params", {}) if prop is not None else {}
        return str(params.get("RANGE", "")).upper() == "THISANDFUTURE"

    def _lenient(self, name: str, raw: str, params: Any) -> When | None:
        match = _BASIC.match(raw)
        try:
            if match is None:
                raise ValueError
            digits = match[1]
            day = date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
        except ValueError:
            return None
        value: When = day
        if match[2]:
            clock = match[2]
            moment = datetime.combine(day, time(int(clock[:2]), int(clock[2:4]), int(clock[4:])))
            value = moment.replace(tzinfo=UTC) if match[3] else moment
        self.warn(f"{name} {raw.strip()[:40]!r} is not RFC 5545; read as {value.isoformat()}")
        return self._aware(value, params) if isinstance(value, datetime) else value

    def _aware(self, value: When, params: Any) -> When:
        if not isinstance(value, datetime):
            return value
        if value.tzinfo is None:  # floating time (or a TZID nobody defined): the site's
            return value.replace(tzinfo=self.zone)
        if getattr(value.tzinfo, "key", None) is not None:
            return value
        if value.utcoffset() == timedelta(0) and not params.get("TZID"):
            return value.astimezone(UTC)
        named = self._named_zone(str(params.get("TZID", "")), value.tzinfo, value)
        if named is not None:
            # The same rules under an IANA name: wall time and instant both stay.
            return value.replace(tzinfo=named)
        # A zone of its own (Exchange's "Customized Time Zone"): keep the instant.
        self.warn(f"TZID {params.get('TZID')!r} matches no known zone; times kept as instants")
        return value.astimezone(self.zone)

    def _named_zone(self, tzid: str, custom: tzinfo, sample: datetime) -> tzinfo | None:
        """An IANA zone whose offsets equal those of a VTIMEZONE the document defines."""
        if tzid in self._zones:
            return self._zones[tzid]
        name = tzid.strip('"')
        candidates: list[str] = [name, WINDOWS_TO_OLSON.get(name) or ""]
        candidates += [tz for c in candidates if c for tz in get_equivalent_tzids(c)]
        candidates.append(self.zone.key)
        found: tzinfo | None = None
        for key in dict.fromkeys(c for c in candidates if c):
            try:
                zone = ZoneInfo(key)
            except (ZoneInfoNotFoundError, ValueError):
                continue
            if _same_offsets(custom, zone, sample.year):
                found = zone
                break
        self._zones[tzid] = found
        return found


def _raw(prop: Any) -> str:
    """A property's value as written upstream."""
    try:
        raw = prop.to_ical()
    except Exception:
        return str(prop)
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return text.replace("\\;", ";").replace("\\,", ",")  # shown as it was written


def _dt(prop: Any) -> Any:
    """The decoded value of a property, None for icalendar's broken ones."""
    try:
        return prop.dt
    except (AttributeError, ValueError):
        return None


def _same_offsets(one: tzinfo, other: tzinfo, year: int) -> bool:
    for probe_year in (year, year + 1):
        for month in _PROBE_MONTHS:
            # A wall time, as tzinfo.utcoffset() is asked about.
            moment = datetime(probe_year, month, 15, 12)  # noqa: DTZ001
            if one.utcoffset(moment) != other.utcoffset(moment):
                return False
    return True


def _until(value: When, start: datetime) -> When:
    # RFC 5545: with a zoned DTSTART, UNTIL is UTC. Many exporters write it floating, in the
    # event's zone; dateutil refuses to compare the two, so make it what it meant.
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=start.tzinfo).astimezone(UTC)
    if not isinstance(value, datetime):
        return datetime.combine(value, time(23, 59, 59), tzinfo=start.tzinfo).astimezone(UTC)
    return value


def _naive_start(start: When) -> datetime:
    if isinstance(start, datetime):
        return start
    return datetime.combine(start, time())


def split_this_and_future(events: list[Event], forward: set[str], notes: Warnings) -> list[Event]:
    """RECURRENCE-ID;RANGE=THISANDFUTURE changes that occurrence and every later one.

    Few clients read RANGE (Google and Apple do not), so the series is split where the
    upstream changed it: the master ends before, and the override becomes a series of
    its own, with the master's rule, under a UID of its own.
    """
    masters = {e.uid or "": e for e in events if e.recurrence_id is None and e.rrule and e.uid}
    result = list(events)
    for override in [e for e in events if e.external_id in forward]:
        master = masters.get(override.uid or "")
        split_at = override.recurrence_id
        if master is None or split_at is None or master.rrule is None:
            continue
        before = _rule_until(master.rrule, split_at)
        if before is None:
            continue
        uid = f"{override.uid}-from-{_stamp(split_at)}"
        shift = _instant(override.start) - _instant(split_at)
        # Exceptions of the later part move with it.
        later = [d for d in master.exdates if _instant(d) >= _instant(split_at)]
        tail = replace(
            override,
            uid=uid,
            external_id=uid,
            recurrence_id=None,
            rrule=_rule_count_after(master, split_at),
            exdates=tuple(_shifted(d, shift) for d in later),
        )
        head = replace(
            master,
            rrule=before,
            exdates=tuple(d for d in master.exdates if d not in later),
        )
        result = [head if e is master else tail if e is override else e for e in result]
        masters[master.uid or ""] = head
        notes.add(
            f"{override.title!r}: changed from {split_at.isoformat()} on (RANGE=THISANDFUTURE);"
            f" published as a series of its own, UID {uid}"
        )
    return result


def _rule_until(rule: str, split_at: When) -> str | None:
    recur = icalendar.vRecur.from_ical(rule)
    end = _instant(split_at) - timedelta(seconds=1)
    recur.pop("COUNT", None)
    recur["UNTIL"] = [end.astimezone(UTC) if isinstance(split_at, datetime) else end.date()]
    text: str = icalendar.vRecur(recur).to_ical().decode()
    return text


def _rule_count_after(master: Event, split_at: When) -> str | None:
    """The master's rule for the part from `split_at` on: a COUNT less what came before."""
    assert master.rrule is not None
    recur = icalendar.vRecur.from_ical(master.rrule)
    if "COUNT" in recur:
        rules = rrulestr(f"RRULE:{master.rrule}", dtstart=_naive_start(master.start))
        before = sum(1 for when in rules if _instant(when) < _instant(split_at))
        recur["COUNT"] = [max(1, int(recur["COUNT"][0]) - before)]
    text: str = icalendar.vRecur(recur).to_ical().decode()
    return text


def _instant(value: When) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.combine(value, time(), tzinfo=UTC)


def _shifted(value: When, shift: timedelta) -> When:
    return value + shift if isinstance(value, datetime) else value + timedelta(days=shift.days)


def _stamp(value: When) -> str:
    return value.strftime("%Y%m%dT%H%M%S") if isinstance(value, datetime) else value.isoformat()
