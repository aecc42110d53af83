"""What real calendars get wrong, in fixtures written here after the corpus of real exports:
each flaw is read around the way calendar apps do, and named; nothing readable is lost."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest

from feeds.model import Stored
from feeds.occurrences import occurrences
from feeds.render.ics import CalendarInfo, render_calendar
from sources.base import SourceContext, SourceError
from sources.ical import parse_calendar
from tests.icaljs import parse_with_icaljs
from tests.upstream import DATA

BERLIN = ZoneInfo("Europe/Berlin")
CONTEXT = SourceContext(
    site="kaiserslautern", source="ics", timezone="Europe/Berlin", homepage=None, config_dir=Path()
)


def read(name: str) -> tuple[dict[str, object], tuple[str, ...], tuple[str, ...]]:
    result = parse_calendar((DATA / "ical" / name).read_bytes(), CONTEXT, url=name)
    return {e.external_id: e for e in result.events}, result.skipped, result.warnings


def test_flaws_calendar_apps_shrug_off_keep_their_events() -> None:
    events, skipped, warnings = read("quirks.ics")
    assert skipped == ("VEVENT 'Irgendwann' (line 57): DTSTART 'Next Year' is no date",)
    assert len(events) == 9
    twice = events["twice@quirks"]
    assert twice.start == datetime(2025, 3, 8, 19, tzinfo=UTC)  # the first of two DTSTARTs
    date_end = events["date-end@quirks"]
    assert date_end.end == datetime(2025, 3, 12, tzinfo=BERLIN)
    week = events["week@quirks"]
    assert (week.start, week.end) == (date(2025, 3, 17), date(2025, 3, 23))
    assert events["geo@quirks"].location is None
    assert events["period@quirks"].rdates == (datetime(2025, 4, 8, 8, tzinfo=UTC),)
    assert events["rule@quirks"].rrule is None  # kept, as one event
    shared = [e for e in events.values() if e.uid and e.uid.startswith("shared@quirks")]
    assert sorted(e.title for e in shared) == ["Folge 1", "Folge 2"]
    assert len({e.uid for e in shared}) == 2
    assert warnings == (
        "'Zweimal Beginn' (line 4): DTSTART is given 2 times; the first is used",
        "'Ende als Datum' (line 10): DTEND is a date beside a DTSTART with a time;"
        " read as midnight",
        "'Aktionswoche' (line 16): DURATION 'PT1W' is not RFC 5545; read as P1W",
        "'Ohne Ort' (line 22): GEO 'nan;inf' is no position; left out",
        "'Sprechstunde' (line 28): RDATE with a PERIOD value; its start is used",
        "'Team call' (line 35): unreadable RRULE 'FREQ=SOMETIMES;BYDAY=XX' (Expected"
        " frequency, got: SOMETIMES); kept as a single event",
        "'Folge 2': UID shared@quirks is used by another event too; kept as its own event"
        f" ({shared[-1].uid if shared[-1].title == 'Folge 2' else shared[0].uid})",
    )


def test_a_document_icalendar_refuses_is_read_component_by_component() -> None:
    events, skipped, warnings = read("salvage.ics")
    assert sorted(events) == ["alarm@salvage", "broken@salvage", "ok@salvage", "second@salvage"]
    assert skipped == ()
    assert warnings[0].startswith("the calendar breaks off before END:VCALENDAR")
    assert "VTIMEZONE '' (line 4) is unreadable (mandatory TZID not found)" in warnings[1]
    alarm = events["alarm@salvage"]
    assert (alarm.start, alarm.end) == (
        datetime(2025, 3, 8, 20, tzinfo=BERLIN),
        datetime(2025, 3, 8, 23, 59, tzinfo=BERLIN),
    )


def test_bare_vevents_and_other_encodings_are_read() -> None:
    bare = (
        b"BEGIN:VEVENT\r\nUID:b\r\nSUMMARY:Stra\xdfenfest\r\n"
        b"DTSTART;VALUE=DATE:20250601\r\nEND:VEVENT\r\n"
    )
    result = parse_calendar(bare, CONTEXT, url="bare.ics")
    [event] = result.events
    assert (event.title, event.start) == ("Straßenfest", date(2025, 6, 1))
    assert any("not UTF-8" in w for w in result.warnings)
    assert any("not inside BEGIN:VCALENDAR" in w for w in result.warnings)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"<html><body>Wartungsmodus</body></html>", "not an iCalendar file"),
        (b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n", None),
    ],
)
def test_what_is_no_calendar_is_refused_in_words(body: bytes, words: str | None) -> None:
    if words is None:  # a calendar whose only event has no start: nothing to read, named
        result = parse_calendar(body, CONTEXT, url="c.ics")
        assert result.events == ()
        assert result.skipped == ("VEVENT 'x' (line 2): missing 'DTSTART'",)
        return
    with pytest.raises(SourceError, match=words):
        parse_calendar(body, CONTEXT, url="c.ics")


EXCHANGE = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:Microsoft Exchange Server 2010\r
BEGIN:VTIMEZONE\r
TZID:Pacific Standard Time\r
BEGIN:STANDARD\r
DTSTART:16010101T020000\r
TZOFFSETFROM:-0700\r
TZOFFSETTO:-0800\r
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=1SU;BYMONTH=11\r
END:STANDARD\r
BEGIN:DAYLIGHT\r
DTSTART:16010101T020000\r
TZOFFSETFROM:-0800\r
TZOFFSETTO:-0700\r
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=2SU;BYMONTH=3\r
END:DAYLIGHT\r
END:VTIMEZONE\r
BEGIN:VEVENT\r
UID:weekly@exchange\r
SUMMARY:Partnertreffen\r
DTSTART;TZID=Pacific Standard Time:20250304T083000\r
DTEND;TZID=Pacific Standard Time:20250304T093000\r
RRULE:FREQ=WEEKLY;COUNT=6\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:weekly@exchange\r
RECURRENCE-ID;TZID=Pacific Standard Time:20250318T083000\r
SUMMARY:Partnertreffen (verlegt)\r
DTSTART;TZID=Pacific Standard Time:20250318T100000\r
DTEND;TZID=Pacific Standard Time:20250318T110000\r
END:VEVENT\r
END:VCALENDAR\r
"""


def test_an_override_in_an_exchange_zone_matches_its_masters_occurrence() -> None:
    # US summer time starts 9 March, Europe's 30 March: re-labelling the wall time with the
    # site's zone puts the occurrence of 18 March an hour off its RECURRENCE-ID.
    result = parse_calendar(EXCHANGE.encode(), CONTEXT, url="exchange.ics")
    master, override = sorted(result.events, key=lambda e: e.recurrence_id is not None)
    assert getattr(master.start.tzinfo, "key", None) == "America/Los_Angeles"
    assert override.recurrence_id is not None
    window = (datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 5, 1, tzinfo=UTC))
    starts = [start for start, _ in occurrences(master, *window)]
    assert override.recurrence_id in starts
    assert len(starts) == 6


THIS_AND_FUTURE = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//tests//EN\r
BEGIN:VEVENT\r
UID:chor@example\r
SUMMARY:Chorprobe\r
DTSTART;TZID=Europe/Berlin:20250305T190000\r
DTEND;TZID=Europe/Berlin:20250305T210000\r
RRULE:FREQ=WEEKLY;COUNT=6\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:chor@example\r
RECURRENCE-ID;RANGE=THISANDFUTURE;TZID=Europe/Berlin:20250319T190000\r
SUMMARY:Chorprobe (neue Zeit)\r
DTSTART;TZID=Europe/Berlin:20250319T200000\r
DTEND;TZID=Europe/Berlin:20250319T220000\r
END:VEVENT\r
END:VCALENDAR\r
"""


def test_thisandfuture_changes_every_later_occurrence_in_every_client() -> None:
    result = parse_calendar(THIS_AND_FUTURE.encode(), CONTEXT, url="chor.ics")
    assert any("RANGE=THISANDFUTURE" in w for w in result.warnings)
    stored = [
        Stored(e, datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 3, 1, tzinfo=UTC), 1, 0)
        for e in result.events
    ]
    info = CalendarInfo(
        name="Chor", description=None, timezone="Europe/Berlin", refresh=timedelta(hours=1)
    )
    body = render_calendar(info, stored)
    expected = (
        [datetime(2025, 3, d, 19, tzinfo=BERLIN) for d in (5, 12)]
        + [datetime(2025, 3, d, 20, tzinfo=BERLIN) for d in (19, 26)]
        + [datetime(2025, 4, d, 20, tzinfo=BERLIN) for d in (2, 9)]
    )
    # Our own expansion, and Thunderbird's parser on what we serve, agree.
    window = (datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 6, 1, tzinfo=UTC))
    ours = sorted(s for e in result.events for s, _ in occurrences(e, *window))
    assert ours == expected
    parsed = parse_with_icaljs(body, occurrences=10)["events"]
    theirs = sorted(
        datetime.fromisoformat(when.replace("Z", "+00:00"))
        for event in parsed
        for when in event.get("occurrences") or [event["start"]]
    )
    assert theirs == expected
    calendar = icalendar.Calendar.from_ical(body)
    assert len({str(c["UID"]) for c in calendar.walk("VEVENT")}) == 2


def test_an_end_equal_to_the_start_is_not_written() -> None:
    events, _, _ = read("quirks.ics")
    instant = events["instant@quirks"]
    stored = Stored(
        instant, datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 3, 1, tzinfo=UTC), 1, 0
    )
    info = CalendarInfo(name="x", description=None, timezone="Europe/Berlin", refresh=timedelta(1))
    body = render_calendar(info, [stored])
    assert b"DTEND" not in body
    assert b"DTSTART:20250405T180000Z" in body


def test_one_event_that_cannot_be_written_does_not_cost_the_calendar() -> None:
    events, _, _ = read("quirks.ics")
    now = datetime(2025, 3, 1, tzinfo=UTC)
    good = Stored(events["twice@quirks"], now, now, 1, 0)
    bad = Stored(replace(events["rule@quirks"], rrule="FREQ=;;;"), now, now, 2, 0)
    info = CalendarInfo(name="x", description=None, timezone="Europe/Berlin", refresh=timedelta(1))
    calendar = icalendar.Calendar.from_ical(render_calendar(info, [bad, good]))
    assert [str(e["UID"]) for e in calendar.walk("VEVENT")] == ["twice@quirks"]


def test_an_event_without_uid_keeps_the_id_it_always_had() -> None:
    # Ids key the store: a UID-less event harvested by an earlier version must meet itself.
    body = (
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nSUMMARY:Ohne UID\r\n"
        b"DTSTART;TZID=Europe/Berlin:20250308T200000\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    [event] = parse_calendar(body, CONTEXT, url="u").events
    assert event.external_id == "963f20f557c3139ce92204891c39fc9f"
