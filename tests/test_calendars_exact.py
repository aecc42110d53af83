"""The last calendars read inexactly, read exactly: each shape written after RFC 5545 and
what Exchange, Google and reservation systems emit, read, published, and the published
calendar expanded by two other implementations (recurring-ical-events, and ical.js as
Thunderbird runs it), which must show the dates the upstream document means."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import icalendar
import recurring_ical_events
from aiohttp import web

from feeds.model import Event, Stored
from feeds.render.ics import CalendarInfo, render_calendar
from sources.base import Fetched, SourceContext, Validators
from sources.html import HTMLSource
from sources.ical import parse_calendar
from tests.icaljs import parse_with_icaljs
from tests.upstream import Upstream

BERLIN = ZoneInfo("Europe/Berlin")
CONTEXT = SourceContext(
    site="chor", source="kalender", timezone="Europe/Berlin", homepage=None, config_dir=Path()
)
WINDOW = (datetime(2024, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
Dates = list[tuple[datetime | date, str]]


def calendar(*components: str, prodid: str = "-//Verein//Kalender//DE") -> bytes:
    body = "\n".join(c.strip() for c in components)
    text = f"BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:{prodid}\n{body}\nEND:VCALENDAR\n"
    return text.replace("\n", "\r\n").encode()


def vevent(uid: str, summary: str, *lines: str) -> str:
    body = "\n".join(lines)
    return (
        f"BEGIN:VEVENT\nUID:{uid}\nDTSTAMP:20250101T000000Z\nSUMMARY:{summary}\n{body}\nEND:VEVENT"
    )


def read(document: bytes) -> tuple[list[Event], tuple[str, ...]]:
    result = parse_calendar(document, CONTEXT, url="https://verein.example/kalender.ics")
    assert not result.skipped
    return list(result.events), result.warnings


def published(events: Iterable[Event]) -> bytes:
    seen = datetime(2025, 1, 1, tzinfo=UTC)
    stored = [Stored(e, seen, seen, 1, 0) for e in events]
    info = CalendarInfo(
        name="Chor", description=None, timezone="Europe/Berlin", refresh=timedelta(1)
    )
    return render_calendar(info, stored)


def _key(value: datetime | date) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def by_recurring_ical_events(document: bytes) -> Dates:
    """What recurring-ical-events (python, overrides and RANGE applied) shows."""
    found: Dates = []
    for component in recurring_ical_events.of(icalendar.Calendar.from_ical(document)).between(
        *WINDOW
    ):
        start = component["DTSTART"].dt
        found.append(
            (
                start.astimezone(UTC) if isinstance(start, datetime) else start,
                str(component["SUMMARY"]),
            )
        )
    return sorted(found, key=lambda f: (_key(f[0]), f[1]))


def by_icaljs(document: bytes) -> Dates:
    """What ical.js (Thunderbird's parser) shows: each series' dates, less those an
    override (RECURRENCE-ID) replaces, plus the overrides'."""
    events = parse_with_icaljs(document, occurrences=400)["events"]
    replaced = {(e["uid"], e["recurrenceId"]) for e in events if e["recurrenceId"]}

    def when(text: str) -> datetime | date:
        if len(text) == 10:
            return date.fromisoformat(text)
        return datetime.fromisoformat(text.replace("Z", "+00:00"))

    found: Dates = []
    for event in events:
        dates = event.get("occurrences") or [event["start"]]
        if event["recurrenceId"]:
            dates = [event["start"]]
        for text in dates:
            if not event["recurrenceId"] and (event["uid"], text) in replaced:
                continue
            moment = when(text)
            if WINDOW[0] <= _key(moment) < WINDOW[1]:
                found.append((moment, event["summary"]))
    return sorted(found, key=lambda f: (_key(f[0]), f[1]))


def at(day: str, clock: str, title: str) -> tuple[datetime, str]:
    """A Berlin wall time as the UTC instant the other readers give."""
    moment = datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=BERLIN)
    return moment.astimezone(UTC), title


def everyone_agrees(document: bytes) -> Dates:
    """Read and publish the document; the dates every reader of the published calendar
    shows, which must be those the upstream document means."""
    events, _ = read(document)
    ours = published(events)
    meant = by_recurring_ical_events(document)
    assert by_recurring_ical_events(ours) == meant
    assert by_icaljs(ours) == meant
    return meant


# --- RECURRENCE-ID;RANGE=THISANDFUTURE --------------------------------------------------

B = "TZID=Europe/Berlin"
CHOIR = vevent(
    "chor@verein.example",
    "Chorprobe",
    f"DTSTART;{B}:20250305T190000",
    f"DTEND;{B}:20250305T210000",
    "RRULE:FREQ=WEEKLY;COUNT=8",
)


def test_two_changes_for_the_future_each_hold_until_the_next() -> None:
    """Thunderbird and Exchange write one override per "this and all following": the
    second ends the first (RFC 5545 3.8.4.4, dates counted as the master had them)."""
    document = calendar(
        CHOIR,
        vevent(
            "chor@verein.example",
            "Chorprobe (20 Uhr)",
            f"RECURRENCE-ID;RANGE=THISANDFUTURE;{B}:20250319T190000",
            f"DTSTART;{B}:20250319T200000",
            f"DTEND;{B}:20250319T220000",
        ),
        vevent(
            "chor@verein.example",
            "Chorprobe (18 Uhr)",
            f"RECURRENCE-ID;RANGE=THISANDFUTURE;{B}:20250409T190000",
            f"DTSTART;{B}:20250409T180000",
            f"DTEND;{B}:20250409T200000",
        ),
    )
    assert everyone_agrees(document) == [
        at("2025-03-05", "19:00", "Chorprobe"),
        at("2025-03-12", "19:00", "Chorprobe"),
        at("2025-03-19", "20:00", "Chorprobe (20 Uhr)"),
        at("2025-03-26", "20:00", "Chorprobe (20 Uhr)"),
        at("2025-04-02", "20:00", "Chorprobe (20 Uhr)"),  # summer time: still 20:00 there
        at("2025-04-09", "18:00", "Chorprobe (18 Uhr)"),
        at("2025-04-16", "18:00", "Chorprobe (18 Uhr)"),
        at("2025-04-23", "18:00", "Chorprobe (18 Uhr)"),
    ]
    _, warnings = read(document)
    assert sum("RANGE=THISANDFUTURE" in w for w in warnings) == 2


def test_a_single_change_after_a_change_for_the_future_replaces_its_date() -> None:
    document = calendar(
        CHOIR,
        vevent(
            "chor@verein.example",
            "Chorprobe (20 Uhr)",
            f"RECURRENCE-ID;RANGE=THISANDFUTURE;{B}:20250319T190000",
            f"DTSTART;{B}:20250319T200000",
            f"DTEND;{B}:20250319T220000",
        ),
        # The 2 April rehearsal, as the master had it, moved to Thursday.
        vevent(
            "chor@verein.example",
            "Chorprobe (Donnerstag)",
            f"RECURRENCE-ID;{B}:20250402T190000",
            f"DTSTART;{B}:20250403T200000",
            f"DTEND;{B}:20250403T220000",
        ),
    )
    dates = everyone_agrees(document)
    assert at("2025-04-03", "20:00", "Chorprobe (Donnerstag)") in dates
    assert [d for d in dates if d[0].date() == date(2025, 4, 2)] == []
    assert len(dates) == 8


def test_a_change_to_another_weekday_moves_every_later_date() -> None:
    """Monday rehearsals become Tuesday ones: the rule's weekday moves with them."""
    document = calendar(
        vevent(
            "mo@verein.example",
            "Probe",
            f"DTSTART;{B}:20250303T190000",
            f"DTEND;{B}:20250303T210000",
            "RRULE:FREQ=WEEKLY;BYDAY=MO;UNTIL=20250428T170000Z",
        ),
        vevent(
            "mo@verein.example",
            "Probe (dienstags)",
            f"RECURRENCE-ID;RANGE=THISANDFUTURE;{B}:20250317T190000",
            f"DTSTART;{B}:20250318T190000",
            f"DTEND;{B}:20250318T210000",
        ),
    )
    dates = everyone_agrees(document)
    assert [d.astimezone(BERLIN).strftime("%a %d.%m.") for d, _ in dates] == [
        "Mon 03.03.", "Mon 10.03.", "Tue 18.03.", "Tue 25.03.", "Tue 01.04.", "Tue 08.04.",
        "Tue 15.04.", "Tue 22.04.", "Tue 29.04.",
    ]  # fmt: skip


def test_a_monthly_rule_a_day_later_lists_its_dates() -> None:
    """ "The day after the second Wednesday" is no rule: the moved dates are listed."""
    document = calendar(
        vevent(
            "stamm@verein.example",
            "Stammtisch",
            f"DTSTART;{B}:20250108T190000",
            f"DTEND;{B}:20250108T210000",
            "RRULE:FREQ=MONTHLY;BYDAY=2WE;COUNT=10",
        ),
        vevent(
            "stamm@verein.example",
            "Stammtisch (donnerstags)",
            f"RECURRENCE-ID;RANGE=THISANDFUTURE;{B}:20250312T190000",
            f"DTSTART;{B}:20250313T190000",
            f"DTEND;{B}:20250313T210000",
        ),
    )
    dates = everyone_agrees(document)
    assert len(dates) == 10
    assert all(d.astimezone(BERLIN).strftime("%a") == "Thu" for d, _ in dates[2:])


def test_all_day_markets_moved_from_saturday_to_sunday() -> None:
    document = calendar(
        vevent(
            "markt@verein.example",
            "Markt",
            "DTSTART;VALUE=DATE:20250301",
            "DTEND;VALUE=DATE:20250302",
            "RRULE:FREQ=WEEKLY;BYDAY=SA;COUNT=6",
            "EXDATE;VALUE=DATE:20250329",
        ),
        vevent(
            "markt@verein.example",
            "Markt (sonntags)",
            "RECURRENCE-ID;RANGE=THISANDFUTURE;VALUE=DATE:20250315",
            "DTSTART;VALUE=DATE:20250316",
            "DTEND;VALUE=DATE:20250317",
        ),
    )
    assert [d for d, _ in everyone_agrees(document)] == [
        date(2025, 3, 1), date(2025, 3, 8), date(2025, 3, 16), date(2025, 3, 23),
        date(2025, 4, 6),  # 29 March was cancelled: 30 March, moved, is too
    ]  # fmt: skip


# --- Exchange's "Customized Time Zone" ---------------------------------------------------


def exchange(zone: str, summary: str, until: str = "20250630T160000Z") -> bytes:
    return calendar(
        f"BEGIN:VTIMEZONE\nTZID:Customized Time Zone\n{zone}\nEND:VTIMEZONE",
        vevent(
            f"{summary}@exchange.example",
            summary,
            "DTSTART;TZID=Customized Time Zone:20250106T180000",
            "DTEND;TZID=Customized Time Zone:20250106T200000",
            f"RRULE:FREQ=WEEKLY;UNTIL={until};INTERVAL=1;BYDAY=MO;WKST=MO",
        ),
        prodid="Microsoft Exchange Server 2010",
    )


CENTRAL_EUROPE = """BEGIN:STANDARD
DTSTART:16010101T030000
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:16010101T020000
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3
END:DAYLIGHT"""
# An hour ahead of UTC all year (a server set up without summer time).
ONE_HOUR_AHEAD = """BEGIN:STANDARD
DTSTART:16010101T000000
TZOFFSETFROM:+0100
TZOFFSETTO:+0100
END:STANDARD"""
# Central European offsets on North American dates (a hand-made zone): no IANA zone.
HOMEMADE = CENTRAL_EUROPE.replace("BYDAY=-1SU;BYMONTH=10", "BYDAY=1SU;BYMONTH=11").replace(
    "BYDAY=-1SU;BYMONTH=3", "BYDAY=2SU;BYMONTH=3"
)


def test_each_exchange_calendar_keeps_its_own_custom_zone() -> None:
    """icalendar keeps the first "Customized Time Zone" it meets for the whole process;
    a second calendar with another zone of that name must not be read in the first's."""
    berlin = exchange(CENTRAL_EUROPE, "Vorstand")
    fixed = exchange(ONE_HOUR_AHEAD, "Kassenpruefung")
    for document in (berlin, fixed, berlin, fixed):  # as one worker reads many groups
        dates = everyone_agrees(document)
        july = [d for d, _ in dates if d.month == 6]  # type: ignore[union-attr]
        expected = 16 if document is berlin else 17  # 18:00 in summer time, or at +01:00
        assert {d.hour for d in july} == {expected}  # type: ignore[union-attr]


def test_a_series_ends_where_its_utc_until_says_in_its_own_zone() -> None:
    """UNTIL is UTC (16:00Z = 18:00 summer time on 30 June): read in the zone's own
    offsets, the 30 June meeting is there in summer time, and not at +01:00 all year."""
    berlin = everyone_agrees(exchange(CENTRAL_EUROPE, "Vorstand"))
    assert berlin[-1] == at("2025-06-30", "18:00", "Vorstand")
    assert len(berlin) == 26
    fixed = everyone_agrees(exchange(ONE_HOUR_AHEAD, "Kasse"))
    assert fixed[-1][0] == datetime(2025, 6, 23, 17, tzinfo=UTC)  # 30 June 17:00Z > UNTIL


def test_a_zone_no_iana_zone_has_is_expanded_in_itself() -> None:
    document = exchange(HOMEMADE, "Beirat")
    dates = everyone_agrees(document)
    # In March its summer time begins on the second Sunday, not the last.
    assert datetime(2025, 3, 10, 16, tzinfo=UTC) in [d for d, _ in dates]
    _, warnings = read(document)
    assert any("matches no known zone" in w for w in warnings)
    assert any("26 dates listed" in w for w in warnings)


# --- UNTIL before DTSTART ---------------------------------------------------------------


def test_a_rule_ending_before_its_start_keeps_the_start() -> None:
    """RFC 5545 3.8.5.3: DTSTART is always the first date. A booking system wrote UNTIL
    from a date field left empty (1 March) beside a start on 5 March."""
    document = calendar(
        vevent(
            "raum@buchung.example",
            "Raum gebucht",
            f"DTSTART;{B}:20250305T190000",
            f"DTEND;{B}:20250305T210000",
            "RRULE:FREQ=WEEKLY;UNTIL=20250301T000000Z",
        ),
        vevent(
            "tag@buchung.example",
            "Aktionstag",
            "DTSTART;VALUE=DATE:20250310",
            "RRULE:FREQ=DAILY;UNTIL=20250309",
        ),
    )
    events, warnings = read(document)
    assert all(e.rrule is None for e in events)
    assert sum("before its first date" in w for w in warnings) == 2
    ours = published(events)
    expected = [at("2025-03-05", "19:00", "Raum gebucht"), (date(2025, 3, 10), "Aktionstag")]
    assert by_recurring_ical_events(ours) == expected
    assert by_icaljs(ours) == expected


# --- lines that are no iCalendar ----------------------------------------------------------


def test_lines_between_components_that_are_no_icalendar_are_named() -> None:
    document = calendar(
        vevent("a@verein.example", "Eins", f"DTSTART;{B}:20250305T190000"),
        # PHP's notice, as display_errors prints it into the export.
        "<br />",
        "<b>Warning</b>:  Undefined variable $ort in <b>/var/www/ical.php</b> on line <b>42</b>",
        vevent("b@verein.example", "Zwei", f"DTSTART;{B}:20250306T190000"),
    )
    events, warnings = read(document)
    assert [e.title for e in events] == ["Eins", "Zwei"]
    [warning] = [w for w in warnings if "not iCalendar" in w]
    assert "line 10 ('<br />')" in warning
    assert "line 11 ('<b>Warning</b>:" in warning


def test_a_proper_calendar_has_no_such_warning() -> None:
    _, warnings = read(calendar(CHOIR))
    assert warnings == ()


# --- dates in a JSON attribute of an events page ------------------------------------------

# What a page built with Vue or React carries: each event's data as JSON in an attribute.
CARRIED = [
    {
        "title": "Repair-Café",
        "startDate": "2025-03-08T14:00:00+01:00",
        "endDate": "2025-03-08T17:00:00+01:00",
    },
    {"title": "Lesung", "dates": {"start": "2025-03-12 19:30", "end": "2025-03-12 21:00"}},
    {"title": "Flohmarkt", "start": 1742029200000},  # JavaScript's milliseconds
    {"title": "Tanz", "ort": {"name": "Saal"}, "start": "22. März 2025, 20:00 Uhr"},
    {"title": "Ohne"},
]
EVENTS_PAGE = (
    '<!doctype html><html lang="de"><body><main><ul class="termine">'
    + "".join(
        f"<li><div class=\"event\" data-event='{json.dumps(e, ensure_ascii=False)}'>"
        f"<h3>{e['title']}</h3></div></li>"
        for e in CARRIED
    )
    + "</ul></main></body></html>"
)


async def test_dates_carried_in_a_json_attribute(upstream: Upstream) -> None:
    """Vue and React pages put each event's data in an attribute; `date` reads it with
    `::attr(…)`, and the usual keys are found at any depth."""

    async def page(request: web.Request) -> web.Response:
        return web.Response(text=EVENTS_PAGE, content_type="text/html")

    upstream.add("/termine/", page)
    source = HTMLSource.from_config(
        CONTEXT,
        {
            "url": f"{upstream.base}/termine/",
            "events": {"item": ".termine li", "title": "h3", "date": ".event::attr(data-event)"},
        },
    )
    async with aiohttp.ClientSession() as session:
        result = await source.fetch(session, Validators())
    assert isinstance(result, Fetched)
    found = {e.title: (e.start, e.end) for e in result.events}
    assert found == {
        "Repair-Café": (
            datetime(2025, 3, 8, 14, tzinfo=BERLIN),
            datetime(2025, 3, 8, 17, tzinfo=BERLIN),
        ),
        "Lesung": (
            datetime(2025, 3, 12, 19, 30, tzinfo=BERLIN),
            datetime(2025, 3, 12, 21, tzinfo=BERLIN),
        ),
        "Flohmarkt": (datetime(2025, 3, 15, 10, tzinfo=BERLIN), None),  # milliseconds
        "Tanz": (datetime(2025, 3, 22, 20, tzinfo=BERLIN), None),
    }
    [skipped] = result.skipped
    assert "Ohne" not in found
    assert "no start" in skipped
