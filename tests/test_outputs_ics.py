"""Calendars as phones and Thunderbird read them: checked with icalendar and ical.js."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar

from feeds.model import Event, EventStatus, Location
from feeds.store import ItemQuery
from tests.conftest import Service
from tests.helpers import get
from tests.icaljs import parse_with_icaljs

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def event(
    external_id: str, start: datetime | date, end: datetime | date | None = None, **more: object
) -> Event:
    return Event(
        site="kaiserslautern",
        source="test",
        external_id=external_id,
        title=more.pop("title", external_id),  # type: ignore[arg-type]
        start=start,
        end=end,
        **more,  # type: ignore[arg-type]
    )


def utc_text(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


async def test_every_instant_agrees_with_the_store_in_ical_js_and_icalendar(
    service: Service,
) -> None:
    # Summer and winter over several years: a VTIMEZONE that ical.js misreads puts
    # summer-time events an hour off (see DESIGN.md), so spread them wide.
    seasons = tuple(
        event(
            f"e{year}-{month}",
            datetime(year, month, 10, 19, 30, tzinfo=BERLIN),
            datetime(year, month, 10, 21, tzinfo=BERLIN),
        )
        for year in range(2024, 2031)
        for month in (1, 3, 4, 7, 10, 11)
    )
    events = (
        *seasons,
        event(
            "rock",
            datetime(2025, 3, 8, 20, tzinfo=BERLIN),
            datetime(2025, 3, 8, 23, 59, tzinfo=BERLIN),
        ),
        event(
            "nyc",
            datetime(2025, 7, 4, 18, tzinfo=NEW_YORK),
            datetime(2025, 7, 4, 20, tzinfo=NEW_YORK),
        ),
        event("utc", datetime(2025, 5, 1, 8, tzinfo=UTC), datetime(2025, 5, 1, 9, tzinfo=UTC)),
    )
    await service.save("kaiserslautern", events=events)
    status, _, body = await get(service.http, f"{service.base}/kaiserslautern/events.ics")
    assert status == 200
    stored = {s.item.ical_uid: s.item for s in await service.store.events(ItemQuery())}
    parsed = parse_with_icaljs(body)
    assert len(parsed["events"]) == len(events)
    for seen in parsed["events"]:
        item = stored[seen["uid"]]
        assert (seen["start"], seen["end"]) == (
            utc_text(item.start_instant()),
            utc_text(item.end_instant()),
        ), item.title
    calendar = icalendar.Calendar.from_ical(body)
    assert sorted(str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")) == [
        "America/New_York",
        "Europe/Berlin",
    ]
    for component in calendar.walk("VEVENT"):
        item = stored[str(component["UID"])]
        assert component.decoded("DTSTART") == item.start_instant()
        assert component.decoded("DTEND") == item.end_instant()
    assert "DTSTART:20250501T080000Z" in body.decode()


async def test_all_day_and_multi_day_events(service: Service) -> None:
    await service.save(
        "kaiserslautern",
        events=(
            event("fest", date(2025, 9, 20), date(2025, 9, 21), title="Freiwilligentag"),
            event("day", date(2025, 5, 1), title="Maifeiertag"),
            event(
                "camp",
                datetime(2025, 8, 1, 16, tzinfo=BERLIN),
                datetime(2025, 8, 3, 12, tzinfo=BERLIN),
            ),
        ),
    )
    _, _, body = await get(service.http, f"{service.base}/kaiserslautern/events.ics")
    text = body.decode()
    assert "DTSTART;VALUE=DATE:20250920\r\nDTEND;VALUE=DATE:20250922\r\n" in text
    assert "DTSTART;VALUE=DATE:20250501\r\nDTEND;VALUE=DATE:20250502\r\n" in text
    seen = {e["summary"]: e for e in parse_with_icaljs(body)["events"]}
    assert (
        seen["Freiwilligentag"]["allDay"],
        seen["Freiwilligentag"]["start"],
        seen["Freiwilligentag"]["end"],
    ) == (
        True,
        "2025-09-20",
        "2025-09-22",
    )
    assert (seen["camp"]["start"], seen["camp"]["end"]) == (
        "2025-08-01T14:00:00.000Z",
        "2025-08-03T10:00:00.000Z",
    )


async def test_recurrence_exceptions_and_overrides_pass_through(service: Service) -> None:
    start = datetime(2025, 1, 7, 17, tzinfo=BERLIN)
    series = event(
        "weekly",
        start,
        start + timedelta(hours=1, minutes=30),
        title="Sprechstunde",
        uid="weekly@example.org",
        rrule="FREQ=WEEKLY;BYDAY=TU;COUNT=6",
        exdates=(datetime(2025, 1, 14, 17, tzinfo=BERLIN),),
    )
    moved = event(
        "weekly-0121",
        datetime(2025, 1, 22, 18, tzinfo=BERLIN),
        datetime(2025, 1, 22, 19, tzinfo=BERLIN),
        title="Sprechstunde (verlegt)",
        uid="weekly@example.org",
        recurrence_id=datetime(2025, 1, 21, 17, tzinfo=BERLIN),
    )
    await service.save("kaiserslautern", events=(series, moved))
    _, _, body = await get(service.http, f"{service.base}/kaiserslautern/events.ics")
    text = body.decode()
    assert "RRULE:FREQ=WEEKLY;COUNT=6;BYDAY=TU\r\n" in text
    assert "EXDATE;TZID=Europe/Berlin:20250114T170000\r\n" in text
    assert "RECURRENCE-ID;TZID=Europe/Berlin:20250121T170000\r\n" in text
    seen = {e["summary"]: e for e in parse_with_icaljs(body, occurrences=10)["events"]}
    assert seen["Sprechstunde"]["occurrences"] == [
        "2025-01-07T16:00:00.000Z",
        "2025-01-21T16:00:00.000Z",
        "2025-01-28T16:00:00.000Z",
        "2025-02-04T16:00:00.000Z",
        "2025-02-11T16:00:00.000Z",
    ]
    override = seen["Sprechstunde (verlegt)"]
    assert (override["uid"], override["recurrenceId"]) == (
        "weekly@example.org",
        "2025-01-21T16:00:00.000Z",
    )
    # Asking for the week of the override brings the whole series along, so no client
    # sees an override without the series it belongs to.
    _, _, body = await get(
        service.http, f"{service.base}/kaiserslautern/events.ics?from=2025-01-22&to=2025-01-22"
    )
    assert sorted(e["summary"] for e in parse_with_icaljs(body)["events"]) == [
        "Sprechstunde",
        "Sprechstunde (verlegt)",
    ]


async def test_a_cancelled_event_stays_with_a_higher_sequence(service: Service) -> None:
    rock = event(
        "rock", datetime(2025, 3, 8, 20, tzinfo=BERLIN), datetime(2025, 3, 8, 23, 59, tzinfo=BERLIN)
    )
    await service.save("kaiserslautern", events=(rock,))
    _, first_headers, first = await get(service.http, f"{service.base}/kaiserslautern/events.ics")
    await service.save(
        "kaiserslautern", events=(Event(**{**_fields(rock), "status": EventStatus.CANCELLED}),)
    )
    _, headers, body = await get(service.http, f"{service.base}/kaiserslautern/events.ics")
    assert headers["ETag"] != first_headers["ETag"]
    [before] = parse_with_icaljs(first)["events"]
    [after] = parse_with_icaljs(body)["events"]
    assert (before["status"], before["sequence"]) == ("CONFIRMED", 0)
    assert (after["status"], after["sequence"], after["uid"]) == ("CANCELLED", 1, before["uid"])


def _fields(item: Event) -> dict[str, object]:
    return {name: getattr(item, name) for name in item.__dataclass_fields__}


async def test_calendar_properties_folding_and_escaping(service: Service) -> None:
    long_text = "Wir treffen uns, reden; und lernen\\ gemeinsam.\nZweite Zeile: " + "ä" * 200
    await service.save(
        "kaiserslautern",
        events=(
            event(
                "cafe",
                datetime(2025, 4, 5, 15, tzinfo=BERLIN),
                datetime(2025, 4, 5, 17, tzinfo=BERLIN),
                title="Demokratie-Café; offen, für alle",
                description="<p>" + long_text.replace("\n", "<br>") + "</p>",
                url="https://www.engagiertestadt.de/kaiserslautern/cafe",
                location=Location(
                    name="Stadtteilbüro",
                    address="Königstraße 1, Kaiserslautern",
                    geo=(49.4447, 7.7689),
                ),
                categories=("Demokratie", "Austausch, offen"),
            ),
        ),
    )
    _, _, body = await get(service.http, f"{service.base}/kaiserslautern/events.ics")
    lines = body.split(b"\r\n")
    assert all(len(line) <= 75 for line in lines), max(lines, key=len)
    assert b"\n" not in body.replace(b"\r\n", b"")
    text = body.decode()
    for expected in (
        "PRODID:",
        "VERSION:2.0",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "X-WR-CALNAME:Engagierte Stadt Kaiserslautern: Termine",
        "X-WR-TIMEZONE:Europe/Berlin",
        "REFRESH-INTERVAL;VALUE=DURATION:PT15M",
        "X-PUBLISHED-TTL:PT15M",
        "DTSTAMP:",
        "LAST-MODIFIED:",
        "SEQUENCE:0",
        "STATUS:CONFIRMED",
        "GEO:49.4447;7.7689",
        "SUMMARY:Demokratie-Café\\; offen\\, für alle",
    ):
        assert expected in text, expected
    [seen] = parse_with_icaljs(body)["events"]
    assert seen["summary"] == "Demokratie-Café; offen, für alle"
    assert seen["description"] == long_text
    assert seen["location"] == "Stadtteilbüro, Königstraße 1, Kaiserslautern"
    assert seen["categories"] == ["Demokratie", "Austausch, offen"]
    [component] = icalendar.Calendar.from_ical(body).walk("VEVENT")
    assert str(component["DESCRIPTION"]) == long_text
    assert str(component["URL"]) == "https://www.engagiertestadt.de/kaiserslautern/cafe"


async def test_one_event_to_add_to_a_calendar(service: Service) -> None:
    rock = event(
        "rock",
        datetime(2025, 3, 8, 20, tzinfo=BERLIN),
        datetime(2025, 3, 8, 23, 59, tzinfo=BERLIN),
        title="Rock Rising",
    )
    await service.save("kaiserslautern", events=(rock, event("other", date(2025, 3, 9))))
    status, headers, body = await get(
        service.http, f"{service.base}/kaiserslautern/events/{rock.uuid}.ics"
    )
    assert (status, headers["Content-Type"]) == (200, "text/calendar; charset=utf-8")
    [seen] = parse_with_icaljs(body)["events"]
    assert (seen["summary"], seen["uid"]) == ("Rock Rising", rock.ical_uid)
    status, _, _ = await get(
        service.http,
        f"{service.base}/kaiserslautern/events/{'0' * 8}-0000-0000-0000-{'0' * 12}.ics",
    )
    assert status == 404
    status, _, _ = await get(service.http, f"{service.base}/musterstadt/events/{rock.uuid}.ics")
    assert status == 404
