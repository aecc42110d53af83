"""The tribe_events adapter against a local server playing The Events Calendar's REST API."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from feeds.model import EventStatus, Price
from sources.base import Fetched, NotModified, SourceContext, SourceError, Validators
from sources.tribe_events import TribeEventsSource
from tests.upstream import Upstream

BERLIN = ZoneInfo("Europe/Berlin")
EVENTS = "/wp-json/tribe/events/v1/events"
NONE = Validators()


def adapter(base: str) -> TribeEventsSource:
    context = SourceContext(
        site="kaiserslautern",
        source="tec",
        timezone="Europe/Berlin",
        homepage=None,
        config_dir=Path(),
    )
    return TribeEventsSource.from_config(context, {"url": base, "per_page": 2})


async def fetch(source: TribeEventsSource, validators: Validators = NONE) -> Fetched | NotModified:
    async with aiohttp.ClientSession() as session:
        return await source.fetch(session, validators)


@pytest.fixture
def tec(upstream: Upstream) -> Upstream:
    upstream.file(EVENTS, "tribe/events-1.json")
    upstream.file(EVENTS + "/", "tribe/events-2.json", query={"page": "2"})
    return upstream


async def test_events_over_pages_with_venue_organizer_cost_and_all_day(tec: Upstream) -> None:
    result = await fetch(adapter(tec.base))
    assert isinstance(result, Fetched)
    events = {e.external_id: e for e in result.events}
    rock = events["5001"]
    assert (rock.title, rock.start, rock.end) == (
        "Rock Rising",
        datetime(2025, 3, 8, 20, tzinfo=BERLIN),
        datetime(2025, 3, 8, 23, 59, tzinfo=BERLIN),
    )
    assert rock.timezone == "Europe/Berlin"
    assert rock.location is not None
    assert rock.location.name == "Kulturzentrum Kammgarn"
    assert rock.location.address == "Schoenstraße 10, 67659 Kaiserslautern, Deutschland"
    assert rock.location.geo == (49.4431, 7.7636)
    assert rock.organizer == "ASZ – Arbeits- und sozialpädagogisches Zentrum"
    assert rock.price == Price(text="12 €", amount="12", currency="EUR")
    assert rock.categories == ("Konzert",)
    assert rock.image is not None
    assert rock.image.url.endswith("rock-rising.jpg")
    assert 'href="https://www.engagierte-stadt-ks.example/tickets/"' in (rock.description or "")
    day = events["5002"]
    assert (day.start, day.end, day.all_day) == (date(2025, 9, 20), date(2025, 9, 21), True)
    cancelled = events["5003"]
    assert (cancelled.title, cancelled.status) == ("Demokratie-Café", EventStatus.CANCELLED)
    assert rock.status is EventStatus.CONFIRMED
    # A manual offset ("UTC+2") is no zone name: the UTC times are taken instead.
    summer = events["5004"]
    assert summer.start_instant() == datetime(2025, 7, 12, 12, tzinfo=UTC)
    assert result.skipped == ("event 5005: missing 'start_date'",)
    assert result.validators.last_modified == "Sat, 01 Feb 2025 08:00:00 GMT"
    first_request = tec.requests[0][0]
    assert "start_date=" in first_request
    assert "per_page=2" in first_request


async def test_unchanged_calendar_is_not_modified(tec: Upstream) -> None:
    first = await fetch(adapter(tec.base))
    assert isinstance(first, Fetched)
    assert isinstance(await fetch(adapter(tec.base), first.validators), NotModified)
    assert tec.requests[-1][1]["If-Modified-Since"] == "Sat, 01 Feb 2025 08:00:00 GMT"


async def test_truncated_json_is_a_clear_error(upstream: Upstream) -> None:
    upstream.file(EVENTS, "tribe/truncated.json")
    with pytest.raises(SourceError, match=r"the JSON is broken or cut off \(Unterminated string"):
        await fetch(adapter(upstream.base))


async def test_html_instead_of_json(upstream: Upstream) -> None:
    upstream.file(EVENTS, "wordpress/maintenance.html")
    with pytest.raises(SourceError, match=r"expected JSON, got an HTML page \("):
        await fetch(adapter(upstream.base))
