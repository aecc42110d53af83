"""No recurrence rule can make the service spend without bound (issue 18).

The rules an upstream writes are expanded lazily, from the window asked for, at most
MAX_STEPS dates at a time; rules that repeat every second or minute, or can yield no date,
are not expanded at all. Checked against dateutil walking each rule from its first date.
"""

from __future__ import annotations

import json
import resource
import time
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import aiohttp
import icalendar
import pytest
from dateutil.rrule import rrulestr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feeds.config import Config, Settings
from feeds.model import Event, Network, Site
from feeds.occurrences import MAX_STEPS, occurrences, rule_problem
from feeds.store import open_store
from feeds.web.app import create_app
from sources.base import SourceError, Validators
from sources.feed import read_feed
from sources.ical import parse_calendar
from tests.conftest import Serve
from tests.helpers import CONTEXT, get

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("rule", "words"),
    [
        ("FREQ=SECONDLY", "every second"),
        ("FREQ=MINUTELY;INTERVAL=5", "every minute"),
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "no date at all"),
        ("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", "no date at all"),
        ("FREQ=HOURLY;BYMONTH=4,6;BYMONTHDAY=31", "no date at all"),
        ("FREQ=YEARLY;BYWEEKNO=1;BYMONTH=7", "no date at all"),
        ("FREQ=MONTHLY;BYMONTHDAY=1;BYSETPOS=2", "no date at all"),
        ("FREQ=HOURLY;BYSETPOS=3", "no date at all"),
        ("FREQ=HOURLY;COUNT=1000000000", "more than the 10,000"),
    ],
)
def test_rules_that_are_no_series_are_not_expanded(rule: str, words: str) -> None:
    problem = rule_problem(rule, datetime(2025, 1, 1, 10, tzinfo=BERLIN))
    assert problem is not None
    assert words in problem


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=WEEKLY;BYDAY=MO",
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29",  # once in four years
        "FREQ=MONTHLY;BYDAY=FR;BYMONTHDAY=13",  # Friday the 13th
        "FREQ=MONTHLY;BYDAY=-1FR",
        "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
        "FREQ=HOURLY;INTERVAL=6",
        "FREQ=DAILY;COUNT=3",
    ],
)
def test_real_series_are_expanded(rule: str) -> None:
    assert rule_problem(rule, datetime(2025, 1, 1, 10, tzinfo=BERLIN)) is None


def brute(event: Event, after: datetime, before: datetime) -> list[tuple[datetime, datetime]]:
    """dateutil walking the rule from its first date, DTSTART counted (RFC 5545)."""
    assert event.rrule
    zone = ZoneInfo(event.timezone or "Europe/Berlin")
    first = (
        event.start
        if isinstance(event.start, datetime)
        else datetime.combine(event.start, datetime.min.time())
    )
    duration = event.end_instant() - event.start_instant()
    limit = before if first.tzinfo else before.astimezone(zone).replace(tzinfo=None)
    starts = {first}
    try:
        rule = rrulestr(f"RRULE:{event.rrule}", dtstart=first)
    except ValueError:  # dateutil refuses it (3-hour steps that never meet BYHOUR): kept once
        rule = []
    for start in rule:
        if start >= limit:
            break
        starts.add(start)
    found = []
    for start in sorted(starts):
        begin = start.replace(tzinfo=zone) if start.tzinfo is None else start
        end = begin + duration
        if begin < before and (end > after or begin >= after):
            found.append((begin, end))
    return found[:MAX_STEPS]


RULES = st.builds(
    lambda freq, interval, extra: f"FREQ={freq};INTERVAL={interval}{extra}",
    st.sampled_from(["YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY"]),
    st.integers(1, 3),
    st.sampled_from(
        [
            "",
            ";BYDAY=MO,TH",
            ";BYMONTHDAY=1,15,31",
            ";BYMONTH=3,10;BYDAY=SU",
            ";BYHOUR=9,18",
            ";BYDAY=-1FR",
            ";BYDAY=2SA;BYMONTH=6",
            ";WKST=SU;BYDAY=SU,WE",
            ";UNTIL=20300101T000000Z",
            ";COUNT=40",
            ";COUNT=700;BYDAY=TU,SA",
        ]
    ),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rule=RULES,
    first=st.datetimes(min_value=datetime(2019, 1, 1), max_value=datetime(2026, 6, 1)),
    all_day=st.booleans(),
    hours=st.integers(0, 50),
    window_start=st.integers(0, 3 * 365 * 24),
    window_hours=st.integers(1, 60 * 24),
)
def test_expanding_from_the_window_finds_what_walking_from_the_start_finds(
    rule: str, first: datetime, all_day: bool, hours: int, window_start: int, window_hours: int
) -> None:
    if "HOURLY" in rule and all_day:
        return  # an all-day event has no hours
    if "UNTIL" in rule and all_day:
        rule = rule.replace("T000000Z", "")
    start: date | datetime = (
        first.date() if all_day else first.replace(microsecond=0, tzinfo=BERLIN)
    )
    end = None if all_day else start + timedelta(hours=hours)  # type: ignore[operator]
    event = Event(
        site="s", source="t", external_id="e", title="x", start=start, end=end, rrule=rule
    )
    after = datetime(2019, 1, 1, tzinfo=BERLIN) + timedelta(hours=window_start)
    before = after + timedelta(hours=window_hours)
    assert list(occurrences(event, after, before)) == brute(event, after, before)


def test_an_old_dense_series_costs_what_a_new_one_costs() -> None:
    now = datetime(2026, 12, 4, 12, tzinfo=BERLIN)
    old = Event(
        site="s", source="t", external_id="e", title="x",
        start=datetime(1990, 1, 1, 8, tzinfo=BERLIN), rrule="FREQ=HOURLY",
    )  # fmt: skip
    # 300,000 hours since its first date; dateutil alone walks them all (about a second).
    [(first, _)] = list(occurrences(old, now, now + timedelta(minutes=59)))
    assert first == now
    assert len(list(occurrences(old, now, now + timedelta(days=365)))) == MAX_STEPS


HOSTILE_ICS = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Hostile//EN
BEGIN:VEVENT
UID:seconds
DTSTART:20250101T100000Z
DTEND:20250101T100001Z
RRULE:FREQ=SECONDLY
SUMMARY:Every second
END:VEVENT
BEGIN:VEVENT
UID:minutes
DTSTART:20250101T100000Z
RRULE:FREQ=MINUTELY
SUMMARY:Every minute
END:VEVENT
BEGIN:VEVENT
UID:never
DTSTART:20250101T100000Z
RRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30
SUMMARY:Never
END:VEVENT
BEGIN:VEVENT
UID:setpos
DTSTART:20250101T100000Z
RRULE:FREQ=HOURLY;BYSETPOS=2
SUMMARY:Nor this
END:VEVENT
BEGIN:VEVENT
UID:hourly
DTSTART:19900101T100000Z
RRULE:FREQ=HOURLY;BYMINUTE=0,30
SUMMARY:Every half hour since 1990
END:VEVENT
BEGIN:VEVENT
UID:weekly
DTSTART;TZID=Europe/Berlin:20250106T190000
DTEND;TZID=Europe/Berlin:20250106T210000
RRULE:FREQ=WEEKLY;BYDAY=MO
SUMMARY:Chorprobe
END:VEVENT
END:VCALENDAR
"""


def test_a_hostile_calendar_is_read_with_its_rules_named() -> None:
    result = parse_calendar(HOSTILE_ICS.replace("\n", "\r\n").encode(), CONTEXT, url="https://x/")
    rules = {event.title: event.rrule for event in result.events}
    assert rules["Every second"] is None
    assert rules["Every minute"] is None
    assert rules["Never"] is None
    assert rules["Nor this"] is None
    assert rules["Chorprobe"] == "FREQ=WEEKLY;BYDAY=MO"
    warnings = " ".join(result.warnings)
    assert "repeats every second" in warnings
    assert "repeats every minute" in warnings
    assert "no date at all" in warnings


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def test_every_view_answers_quickly_beside_hostile_rules(
    database_url: str, serve: Serve, http: aiohttp.ClientSession
) -> None:
    """The rules stored as they came (as a store written before this check holds them):
    every view still answers within a second, and memory stays flat."""
    parsed = icalendar.Calendar.from_ical(HOSTILE_ICS)
    events = []
    for component in parsed.walk("VEVENT"):
        start = component.decoded("DTSTART")
        events.append(
            Event(
                site="victim",
                source="ics",
                external_id=str(component["UID"]),
                title=str(component["SUMMARY"]),
                start=start,
                end=component.decoded("DTEND") if "DTEND" in component else None,
                rrule=component["RRULE"].to_ical().decode(),
            )
        )
    store = await open_store(database_url)
    await store.save_batch("victim", "ics", [], events, Validators(), datetime.now(UTC))
    await store.close()
    sites = (Site(slug="victim", name="Opfer", region="Bayern"), Site(slug="other", name="Andere"))
    app = create_app(
        Settings(database_url=database_url), Config(Network(name="N", sites=sites), {}),
        harvest=False,
    )  # fmt: skip
    base = await serve(app)
    before = peak_mb()
    paths = [
        "/", "/victim/", "/victim/events.json", "/victim/events.atom", "/victim/events.rss",
        "/victim/events.ics", "/network/events.json", "/network/events.ics?from=2025-01-01",
        "/victim/widget", "/network/widget?region=Bayern", "/victim/events.json?q=every",
        "/victim/events.json?from=2030-01-01&to=2030-12-31",
    ]  # fmt: skip
    for path in paths:
        began = time.perf_counter()
        status, _, body = await get(http, base + path)
        assert status == 200, path
        assert time.perf_counter() - began < 1.0, path
    _, _, body = await get(http, base + "/victim/events.json")
    items = json.loads(body)["items"]
    for item in items:
        began = time.perf_counter()
        status, _, _ = await get(http, item["url"])
        assert time.perf_counter() - began < 1.0, item["url"]
    assert peak_mb() - before < 100


def test_a_calendar_past_what_a_source_may_deliver_is_refused_unread() -> None:
    event = "BEGIN:VEVENT\r\nUID:x\r\nDTSTART:20250101T100000Z\r\nSUMMARY:x\r\nEND:VEVENT\r\n"
    body = f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\n{event * 120_000}END:VCALENDAR\r\n".encode()
    began = time.perf_counter()
    with pytest.raises(SourceError, match="120,000 events: more than the 50,000"):
        parse_calendar(body, CONTEXT, url="https://x/")
    assert time.perf_counter() - began < 1.0


def test_a_feed_past_what_a_source_may_deliver_is_refused_unread() -> None:
    item = "<item><title>x</title><guid>x</guid></item>"
    body = f'<?xml version="1.0"?><rss version="2.0"><channel>{item * 100_000}</channel></rss>'
    with pytest.raises(SourceError, match="100,000 entries: more than the 10,000"):
        read_feed(body.encode(), CONTEXT, url="https://x/")


def test_an_old_counted_series_is_expanded_from_the_window() -> None:
    """COUNT counts from the first date: the rule ends where its 9,000th hour falls, and
    is expanded from the window like any other (not walked from 2026-01-01 each time)."""
    start = datetime(2026, 1, 1, 0, tzinfo=BERLIN)
    counted = Event(
        site="s", source="t", external_id="e", title="x", start=start,
        rrule="FREQ=HOURLY;COUNT=9000",
    )  # fmt: skip
    after = datetime(2026, 12, 4, 12, tzinfo=BERLIN)
    got = list(occurrences(counted, after, after + timedelta(days=40)))
    last = start + timedelta(hours=8999)  # wall-clock hours, as dateutil counts them
    assert got[0][0] == after
    assert got[-1][0].replace(tzinfo=None) == last.replace(tzinfo=None)
