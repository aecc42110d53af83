"""The ical adapter: Google, Outlook and Nextcloud exports, recurrence kept intact."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from feeds.model import EventStatus
from sources.base import Fetched, NotModified, SourceContext, SourceError, Validators
from sources.ical import ICalSource
from tests.upstream import Upstream

BERLIN = ZoneInfo("Europe/Berlin")
NONE = Validators()


def adapter(url: str) -> ICalSource:
    context = SourceContext(
        site="kaiserslautern",
        source="ics",
        timezone="Europe/Berlin",
        homepage=None,
        config_dir=Path(),
    )
    return ICalSource.from_config(context, {"url": url})


async def fetch(url: str, validators: Validators = NONE) -> Fetched | NotModified:
    async with aiohttp.ClientSession() as session:
        return await adapter(url).fetch(session, validators)


async def test_a_google_calendar_with_x_wr_timezone(upstream: Upstream) -> None:
    upstream.file("/basic.ics", "ical/google.ics")
    result = await fetch(f"{upstream.base}/basic.ics")
    assert isinstance(result, Fetched)
    events = {e.external_id: e for e in result.events}
    rock = events["rock-rising-2025@google.com"]
    # UTC upstream, Europe/Berlin by X-WR-TIMEZONE: the wall time the group meant.
    assert (rock.start, rock.end) == (
        datetime(2025, 3, 8, 20, tzinfo=BERLIN),
        datetime(2025, 3, 8, 23, 59, tzinfo=BERLIN),
    )
    assert rock.timezone == "Europe/Berlin"
    assert (
        rock.description == "<p>Bands aus der Region.</p><p>Eintritt frei, Spenden willkommen.</p>"
    )
    assert rock.location is not None
    assert rock.location.name == "Kulturzentrum Kammgarn, Schoenstraße 10, 67659 Kaiserslautern"
    day = events["freiwilligentag@google.com"]
    assert (day.start, day.end) == (
        date(2025, 9, 20),
        date(2025, 9, 21),
    )  # DTEND exclusive upstream
    weekly = events["sprechstunde@google.com"]
    assert weekly.rrule == "FREQ=WEEKLY;UNTIL=20250401T000000Z;BYDAY=TU;WKST=MO"
    assert weekly.exdates == (datetime(2025, 1, 14, 17, tzinfo=BERLIN),)
    assert weekly.categories == ("Beratung", "Ehrenamt")
    assert weekly.organizer == "Ehrenamtskoordination"
    assert weekly.location is not None
    assert weekly.location.geo == (49.4447, 7.7689)
    moved = events["sprechstunde@google.com#2025-01-21T17:00:00+01:00"]
    assert (moved.uid, moved.recurrence_id) == (
        "sprechstunde@google.com",
        datetime(2025, 1, 21, 17, tzinfo=BERLIN),
    )
    assert events["cafe@google.com"].status is EventStatus.CANCELLED
    assert result.skipped == ("VEVENT 'Ohne Beginn' (line 57): missing 'DTSTART'",)
    assert isinstance(await fetch(f"{upstream.base}/basic.ics", result.validators), NotModified)


async def test_outlook_windows_zone_names(upstream: Upstream) -> None:
    upstream.file("/outlook.ics", "ical/outlook.ics")
    result = await fetch(f"{upstream.base}/outlook.ics")
    assert isinstance(result, Fetched)
    [fest] = result.events
    assert fest.start_instant() == datetime(2025, 7, 12, 14, tzinfo=BERLIN)
    assert fest.end_instant() - fest.start_instant() == timedelta(hours=4)
    assert fest.location is not None
    assert fest.location.name == "Stadtpark"


async def test_nextcloud_floating_time_and_duration(upstream: Upstream) -> None:
    upstream.file("/nc.ics", "ical/nextcloud.ics")
    result = await fetch(f"{upstream.base}/nc.ics")
    assert isinstance(result, Fetched)
    [meeting] = result.events
    assert (meeting.start, meeting.end) == (
        datetime(2025, 11, 5, 18, 30, tzinfo=BERLIN),
        datetime(2025, 11, 5, 20, tzinfo=BERLIN),
    )
    assert meeting.url == "https://cloud.example.org/apps/calendar/p/abc"


async def test_webcal_links_are_fetched_over_https() -> None:
    assert adapter("webcal://example.org/cal.ics").url == "https://example.org/cal.ics"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "ical/bad.ics",
            "no event could be read: VEVENT 'Kaputt' (line 3): DTSTART '2025-13-45' is no date",
        ),
        ("wordpress/maintenance.html", "not an iCalendar file"),
    ],
)
async def test_broken_calendars_say_what_is_wrong(
    upstream: Upstream, name: str, message: str
) -> None:
    upstream.file("/cal.ics", name)
    with pytest.raises(SourceError) as raised:
        await fetch(f"{upstream.base}/cal.ics")
    assert message in str(raised.value)
