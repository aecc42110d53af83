"""When a (possibly recurring) event takes place, by dateutil's RFC 5545 recurrence rules.

Every expansion is bounded, whatever a rule says (an upstream writes the rules):

- A rule that repeats every second or minute is no event series: it is not expanded, the
  event counts once (`rule_problem` says why, for /status).
- A rule that can yield no date at all (30 February; a BYSETPOS past what a period holds)
  is not expanded either: dateutil would look for one until the year 9999.
- A series is looked at from the window asked for, not from its first date: the rule is
  started again at the last period boundary before the window (the same dates follow, see
  `_rebased`), so a daily series begun in 1990 costs what one begun yesterday costs.
- At most MAX_STEPS dates are looked at per expansion.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from itertools import islice
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from dateutil.rrule import rrule, rruleset, rrulestr

from feeds.model import DEFAULT_TIMEZONE, Event

log = logging.getLogger(__name__)

MAX_STEPS = 1000  # dates looked at per expansion: a page shows 10, a feed needs the next one
MAX_COUNT = 10_000  # a COUNT past this is no series (a daily one would run 27 years)
TOO_OFTEN = {"SECONDLY": "every second", "MINUTELY": "every minute"}
# Calendars repeat every 400 years (146,097 days, a whole number of weeks): a rule's dates
# that are not found within one such cycle are never found.
CYCLE_YEARS = 400
LAST_PROBE_YEAR = 9999 - 2 * CYCLE_YEARS


def occurrences(
    event: Event, after: datetime, before: datetime
) -> Iterator[tuple[datetime, datetime]]:
    """(start, end) of every occurrence overlapping [after, before), as aware datetimes;
    at most MAX_STEPS of them."""
    duration = event.end_instant() - event.start_instant()
    rules = _ruleset(event, after - duration) if event.rrule or event.rdates else None
    if rules is None:  # a single event, or a rule not expanded: judged by its first date
        if _overlaps(event.start_instant(), event.end_instant(), after, before):
            yield event.start_instant(), event.end_instant()
        return
    zone = _zone(event)
    low, high = after - duration, before
    if event.all_day:  # the set runs on naive local midnights
        low, high = _naive(low, zone), _naive(high, zone)
    for start in islice(rules.xafter(low, inc=True), MAX_STEPS):
        if start >= high:
            return
        begin = start.replace(tzinfo=zone) if start.tzinfo is None else start
        end = begin + duration
        if _overlaps(begin, end, after, before):
            yield begin, end


def rule_problem(rule: str, start: date | datetime) -> str | None:
    """Why an event's rule is not expanded (the event then counts once), or None."""
    parts = _parts(rule)
    often = TOO_OFTEN.get(parts.get("FREQ", ""))
    if often:
        return f"the rule repeats {often}, more often than any event: kept as a single date"
    count = parts.get("COUNT", "")
    if count.isdigit() and int(count) > MAX_COUNT:
        return (
            f"the rule counts {int(count):,} dates, more than the {MAX_COUNT:,} of any series:"
            " kept as a single date"
        )
    if _never(rule, start.year):
        return "the rule can yield no date at all (such as 30 February): kept as a single date"
    until = _until_of(parts.get("UNTIL", ""), start)
    if until is not None and until < start:
        # RFC 5545 3.8.5.3: DTSTART is the first occurrence even so. Some clients (and
        # recurring-ical-events) then show nothing; without the rule every one shows it.
        return (
            f"the rule ends (UNTIL {parts['UNTIL']}) before its first date: kept as a single date"
        )
    return None


def _until_of(value: str, start: date | datetime) -> date | datetime | None:
    """A rule's UNTIL, comparable with its start (floating: in the start's zone)."""
    match = re.fullmatch(r"(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2})(Z?))?", value)
    if match is None:
        return None
    try:
        day = date(int(match[1]), int(match[2]), int(match[3]))
        if not isinstance(start, datetime):
            return day
        if match[4] is None:  # a date beside a date-time: to the end of that day
            return datetime.combine(day, time.max, tzinfo=start.tzinfo)
        clock = time(int(match[4]), int(match[5]), int(match[6]))
        return datetime.combine(day, clock, tzinfo=ZoneInfo("UTC") if match[7] else start.tzinfo)
    except ValueError:
        return None


def _ruleset(event: Event, target: datetime) -> rruleset | None:
    """The event's dates from about `target` on; None if it is not to be expanded."""
    dtstart = _rule_start(event.start)
    zone = _zone(event)
    rules = rruleset()
    try:
        if event.rrule:
            if rule_problem(event.rrule, event.start):
                return None
            parsed = rrulestr(f"RRULE:{event.rrule}", dtstart=dtstart)
            assert isinstance(parsed, rrule)
            rebase_to = _naive(target, zone) if dtstart.tzinfo is None else target
            rules.rrule(_rebased(parsed, event.rrule, dtstart, rebase_to))
        # RFC 5545 3.8.5.2: DTSTART is always the first occurrence, whatever the rule says.
        rules.rdate(dtstart)
        for value in event.rdates:
            rules.rdate(_rule_start(value))
        for value in event.exdates:
            rules.exdate(_rule_start(value))
    except (ValueError, TypeError, OverflowError) as exc:
        log.warning(
            "%s/%s %s: unreadable RRULE %r: %s",
            *(event.site, event.source, event.external_id, event.rrule, exc),
        )
        return None
    return rules


def _rebased(rule: rrule, text: str, dtstart: datetime, target: datetime) -> rrule:
    """The same rule started at the boundary of its last period that begins at least one
    period before `target`: from there on it yields the same dates.

    dateutil walks a rule period by period (year, month, week, day, hour) from DTSTART,
    `interval` periods at a time, and takes the dates the BY… parts select in each; the
    parts DTSTART stands in for when missing (the day of the month, the weekday, the time)
    are given explicitly, so a later start in step with the periods changes nothing but
    what is skipped. COUNT counts from the first date: such a rule ends where its last
    date falls (found once, by walking it), and is moved as one with that UNTIL.
    """
    parts = _parts(text)
    if target <= dtstart:
        return rule
    if "COUNT" in parts:
        last = _last_counted(text, dtstart)
        if last is None or last < target:
            return rule  # over before the window: dateutil stops at its last date anyway
        rule = rule.replace(count=None, until=last)
    freq, interval = parts.get("FREQ", ""), max(1, int(parts.get("INTERVAL", "1") or 1))
    given = {key for key in parts if key.startswith("BY")}
    explicit: dict[str, int] = {}
    if not given & {"BYWEEKNO", "BYYEARDAY", "BYMONTHDAY", "BYDAY", "BYEASTER"}:
        if freq == "YEARLY":
            explicit["bymonthday"] = dtstart.day
            if "BYMONTH" not in given:
                explicit["bymonth"] = dtstart.month
        elif freq == "MONTHLY":
            explicit["bymonthday"] = dtstart.day
        elif freq == "WEEKLY":
            explicit["byweekday"] = dtstart.weekday()
    start = _period_start(freq, interval, dtstart, target, _wkst(parts))
    if start is None or start <= dtstart:
        return rule
    return rule.replace(dtstart=start, **explicit)  # type: ignore[arg-type]


WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


def _wkst(parts: dict[str, str]) -> int:
    value = parts.get("WKST", "MO")
    return WEEKDAYS.index(value) if value in WEEKDAYS else 0


def _period_start(
    freq: str, interval: int, dtstart: datetime, target: datetime, wkst: int
) -> datetime | None:
    """The start of the last period in step with `dtstart`'s, at least a period before
    `target`, keeping `dtstart`'s time of day (or minute and second, for hourly rules)."""
    wall = target.astimezone(dtstart.tzinfo) if dtstart.tzinfo else target
    if freq == "YEARLY":
        steps = (wall.year - dtstart.year) // interval - 1
        return dtstart.replace(month=1, day=1) + relativedelta(years=steps * interval)
    if freq == "MONTHLY":
        months = (wall.year - dtstart.year) * 12 + wall.month - dtstart.month
        steps = months // interval - 1
        return dtstart.replace(day=1) + relativedelta(months=steps * interval)
    if freq == "WEEKLY":
        week = dtstart - timedelta(days=(dtstart.weekday() - wkst) % 7)
        steps = (wall.date() - week.date()).days // (7 * interval) - 1
        return week + timedelta(weeks=steps * interval)
    if freq == "DAILY":
        steps = (wall.date() - dtstart.date()).days // interval - 1
        return dtstart + relativedelta(days=steps * interval)
    if freq == "HOURLY":
        naive_target, naive_start = wall.replace(tzinfo=None), dtstart.replace(tzinfo=None)
        hours = int((naive_target - naive_start).total_seconds() // 3600)
        steps = hours // interval - 1
        return dtstart + relativedelta(hours=steps * interval)
    return None


@lru_cache(maxsize=4096)
def _last_counted(text: str, dtstart: datetime) -> datetime | None:
    """The last date of a COUNT rule (at most MAX_COUNT of them: rule_problem)."""
    last = None
    try:
        for last in islice(rrulestr(f"RRULE:{text}", dtstart=dtstart), MAX_COUNT):  # noqa: B007
            pass
    except (ValueError, TypeError, OverflowError):
        return None
    return last


def _parts(rule: str) -> dict[str, str]:
    parts = {}
    for part in rule.upper().split(";"):
        key, _, value = part.partition("=")
        parts[key.strip()] = value.strip()
    return parts


@lru_cache(maxsize=4096)
def _never(rule: str, year: int) -> bool:
    """Whether `rule` can yield no date at all, by a bounded search.

    The dates a rule may take are a subset of the dates a yearly rule with the same
    BYMONTH, BYMONTHDAY, BYYEARDAY, BYWEEKNO and plain BYDAY takes; if that one yields
    nothing in two 400-year cycles near the end of dateutil's calendar, nothing is ever
    yielded. BYSETPOS past the most dates a period can hold yields nothing either.
    """
    parts = _parts(rule)
    if _setpos_out_of_reach(parts):
        return True
    probe = ["FREQ=YEARLY"]
    for key in ("BYMONTH", "BYMONTHDAY", "BYYEARDAY", "BYWEEKNO"):
        if parts.get(key):
            probe.append(f"{key}={parts[key]}")
    if parts.get("BYDAY"):
        days = {re.sub(r"^[+-]?\d+", "", day) for day in parts["BYDAY"].split(",")}
        probe.append("BYDAY=" + ",".join(sorted(days)))
    if len(probe) == 1:
        return False
    year += (LAST_PROBE_YEAR - year) // CYCLE_YEARS * CYCLE_YEARS
    first = datetime(max(year, 1), 1, 1)  # noqa: DTZ001 (dates only: no zone to be in)
    try:
        found = next(iter(rrulestr(";".join(probe), dtstart=first)), None)
    except (ValueError, TypeError, OverflowError):
        return False  # refused by dateutil anyway, when the event is expanded
    return found is None


SET_SIZE = {"YEARLY": 366, "MONTHLY": 31, "WEEKLY": 7, "DAILY": 1, "HOURLY": 1}


def _setpos_out_of_reach(parts: dict[str, str]) -> bool:
    if not parts.get("BYSETPOS"):
        return False
    try:
        wanted = max(abs(int(value)) for value in parts["BYSETPOS"].split(","))
    except ValueError:
        return False
    days = SET_SIZE.get(parts.get("FREQ", ""), 366)
    if parts.get("BYMONTHDAY"):
        days = min(days, len(parts["BYMONTHDAY"].split(",")) * (12 if days == 366 else 1))
    times = 1
    for key in ("BYHOUR", "BYMINUTE", "BYSECOND"):
        if parts.get(key):
            times *= len(set(parts[key].split(",")))
    return wanted > days * times


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
    if event.rrule and rule_problem(event.rrule, event.start):
        return event.end_instant()  # judged by its first date, as `occurrences` does
    rules = _ruleset(event, event.start_instant())
    if rules is None:
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
