"""Property values of a VEVENT, read the way calendar apps read them.

Each reading that works around a flaw (a property given twice, a date-valued DTEND beside
a date-time DTSTART, "PT1W", a broken GEO, an RDATE period) keeps the event and adds a
warning that names it; only an event without a readable start is skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from itertools import islice
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import icalendar as _icalendar
from dateutil.rrule import rrulestr
from icalendar.timezone.tzid import get_equivalent_tzids
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from feeds.occurrences import rule_problem
from feeds.sanitize import safe_url
from sources.base import finite_geo

# icalendar's annotations are partial; its values are read as Any here.
icalendar: Any = _icalendar

When = date | datetime
# A date or date-time in RFC 5545's basic form, with whatever junk follows ("…T", "Z").
_BASIC = re.compile(r"^\s*(\d{8})(?:T(\d{6}))?(Z)?")
# The dates listed for a rule of a zone no IANA zone matches.
LISTED_AT_MOST = 366
# Days of the year a zone's offsets are compared at first (mid-month), before every day.
_PROBE_DAYS = (15, 105, 196, 288)


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
        # The zone of the event read last, where it is the document's own and no IANA
        # zone has its rules: a rule must then be expanded in it (`listed`).
        self.own_zone: tzinfo | None = None

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
        self.own_zone = value.tzinfo
        return value.astimezone(self.zone)

    def listed(self, component: Any, rule: str, start: datetime) -> tuple[datetime, ...]:
        """The dates of a rule whose start is in a zone of the document's own, expanded in
        that zone (a summer-time change of its own moves them)."""
        first = _dt(self.single(component, "DTSTART"))
        if not isinstance(first, datetime) or first.tzinfo is None:
            return ()
        dates = rrulestr(f"RRULE:{rule}", dtstart=first)
        found = [d.astimezone(self.zone) for d in islice(iter(dates), LISTED_AT_MOST + 1)]
        more = " (the first ones)" if len(found) > LISTED_AT_MOST else ""
        self.warn(
            f"its rule is expanded in that zone; {len(found[:LISTED_AT_MOST])} dates listed{more}"
        )
        return tuple(found[:LISTED_AT_MOST])  # DTSTART too, as in sources/_ical_ranges.py

    def _named_zone(self, tzid: str, custom: tzinfo, sample: datetime) -> tzinfo | None:
        """An IANA zone whose offsets equal those of a VTIMEZONE the document defines on
        every day of the event's year and the next: first the zone its name says (or
        Windows' name for it), then the site's, then any (Etc/GMT… first, for zones
        without summer time), so that a rule expands in the document's own time."""
        if tzid in self._zones:
            return self._zones[tzid]
        name = tzid.strip('"')
        candidates: list[str] = [name, WINDOWS_TO_OLSON.get(name) or ""]
        candidates += [tz for c in candidates if c for tz in get_equivalent_tzids(c)]
        candidates.append(self.zone.key)
        candidates += sorted(_all_zones(), key=lambda key: (not key.startswith("Etc/"), key))
        found: tzinfo | None = None
        for key in dict.fromkeys(c for c in candidates if c):
            try:
                zone = ZoneInfo(key)
            except (ZoneInfoNotFoundError, ValueError):
                continue
            if _same_offsets(custom, zone, sample.year, _PROBE_DAYS) and _same_offsets(
                custom, zone, sample.year, range(1, 366)
            ):
                found = zone
                break
        self._zones[tzid] = found
        return found


@lru_cache(maxsize=1)
def _all_zones() -> tuple[str, ...]:
    return tuple(available_timezones())


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


def _same_offsets(one: tzinfo, other: tzinfo, year: int, days: Iterable[int]) -> bool:
    """Whether two zones have the same offset at noon on these days of `year` and the next."""
    for probe_year in (year, year + 1):
        first = date(probe_year, 1, 1).toordinal() - 1
        for day in days:
            # A wall time, as tzinfo.utcoffset() is asked about.
            moment = datetime.combine(date.fromordinal(first + day), time(12))
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
