"""The jsonld adapter against a local server playing a group's events page."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from feeds.model import EventStatus
from sources import build_source
from sources.base import Fetched, SourceContext, SourceError, Validators
from sources.jsonld import JsonLdSource, read_page
from tests.upstream import Upstream

BERLIN = ZoneInfo("Europe/Berlin")
DATA = Path(__file__).parent / "data" / "jsonld"
CONTEXT = SourceContext(
    site="kaiserslautern", source="web", timezone="Europe/Berlin", homepage=None, config_dir=Path()
)


async def fetched(upstream: Upstream, name: str) -> Fetched:
    upstream.file("/veranstaltungen/", f"jsonld/{name}")
    source = build_source("jsonld", CONTEXT, {"url": f"{upstream.base}/veranstaltungen/"})
    assert isinstance(source, JsonLdSource)
    async with aiohttp.ClientSession() as session:
        result = await source.fetch(session, Validators())
    assert isinstance(result, Fetched)
    return result


async def test_events_and_articles_from_json_ld_and_microdata(upstream: Upstream) -> None:
    result = await fetched(upstream, "events.html")
    events = {e.title: e for e in result.events}
    assert sorted(events) == [
        "Demokratie-Café",
        "Frühjahrsputz",
        "Lesung im Park",
        "Rock Rising",
        "Stadtfest",
    ]
    rock = events["Rock Rising"]
    # No offset given: a wall time in the site's zone.
    assert (rock.start, rock.end) == (
        datetime(2025, 3, 8, 20, tzinfo=BERLIN),
        datetime(2025, 3, 8, 23, 59, tzinfo=BERLIN),
    )
    assert rock.external_id == f"{upstream.base}/veranstaltung/rock-rising/#event"
    assert rock.url == f"{upstream.base}/veranstaltung/rock-rising/"
    assert rock.location is not None
    assert rock.location.name == "Kulturzentrum Kammgarn"
    assert rock.location.address == "Schoenstraße 10, 67659 Kaiserslautern"
    assert rock.location.geo == (49.4431, 7.7636)
    assert rock.organizer == "ASZ Kaiserslautern"
    assert rock.categories == ("Musik", "Jugend")
    assert rock.image is not None
    assert (rock.image.url, rock.image.alt) == (f"{upstream.base}/bilder/rock.jpg", "Die Bühne")
    assert rock.description is not None
    assert "<script" not in rock.description
    assert "Drei Bands" in rock.description
    # A cancelled event, by its title or by eventStatus; online is a place too.
    assert events["Frühjahrsputz"].status is EventStatus.CANCELLED
    cafe = events["Demokratie-Café"]
    assert cafe.status is EventStatus.CANCELLED
    assert cafe.location is not None
    assert cafe.location.name == "Online"
    # A plain date is all day; the end is the last day.
    assert (events["Stadtfest"].start, events["Stadtfest"].end) == (
        date(2025, 6, 14),
        date(2025, 6, 15),
    )
    # Microdata, with its time in the site's zone.
    assert events["Lesung im Park"].start == datetime(2025, 5, 2, 19, 30, tzinfo=BERLIN)
    # One event had no start: skipped and named, the page kept.
    assert len(result.skipped) == 1
    assert "Ohne Datum" in result.skipped[0]
    assert "startDate" in result.skipped[0]
    [article] = result.posts
    assert article.title == "Neue Ehrenamtsbörse"
    assert article.author == "Anna Beispiel"
    assert article.published == datetime(2025, 2, 20, 10, tzinfo=BERLIN)
    assert article.content_html is not None
    assert f'href="{upstream.base}/boerse"' in article.content_html


async def test_ids_do_not_change_between_readings(upstream: Upstream) -> None:
    first = await fetched(upstream, "events.html")
    second = await fetched(upstream, "events.html")
    assert [e.external_id for e in first.events] == [e.external_id for e in second.events]
    assert len({e.external_id for e in first.events}) == len(first.events)


async def test_a_page_without_events_or_articles_is_refused_in_words(upstream: Upstream) -> None:
    upstream.file("/ueber-uns/", "jsonld/plain.html")
    source = build_source("jsonld", CONTEXT, {"url": f"{upstream.base}/ueber-uns/"})
    with pytest.raises(SourceError, match=r"describes no schema\.org Event"):
        async with aiohttp.ClientSession() as session:
            await source.fetch(session, Validators())


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\xff\xfe\x00<html>",
        b'<script type="application/ld+json">{"@type": "Event", "name": </script>',
        b'<script type="application/ld+json">[{"@type": "Event", "startDate": 5}]</script>',
        b'<script type="application/ld+json">{"@type": "Event", "name": "x",'
        b' "startDate": "2025-13-45", "location": {"geo": {"latitude": "NaN"}}}</script>',
    ],
)
def test_broken_pages_raise_only_source_errors(body: bytes) -> None:
    with pytest.raises(SourceError):
        read_page(body, CONTEXT, url="https://example.org/")


def test_a_broken_json_ld_block_costs_only_itself() -> None:
    body = (DATA / "events.html").read_bytes().replace(b"{{BASE}}", b"https://example.org")
    broken = b'<script type="application/ld+json">{"@type": "Event", "name": ,}</script>\n'
    result = read_page(body.replace(b"</head>", broken + b"</head>"), CONTEXT, url="u")
    assert len(result.events) == 5
    assert result.warnings == ("JSON-LD block 2 is no JSON (JSONDecodeError); left out",)
