"""The same event carried by several groups appears once in the network, named "auch bei"."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import aiohttp
import feedparser
import icalendar
import pytest

from feeds.config import Config, Settings
from feeds.duplicates import merge
from feeds.model import Event, Location, Network, Site, Stored
from feeds.store import open_store
from feeds.web.app import create_app
from sources.base import Validators
from tests.conftest import Serve
from tests.helpers import LOCAL, get

BERLIN = ZoneInfo("Europe/Berlin")
START = datetime(2027, 6, 14, 15, tzinfo=BERLIN)
SEEN = datetime(2026, 11, 1, tzinfo=UTC)


def festival(site: str, n: int = 0, **changes: object) -> Stored[Event]:
    fields: dict[str, object] = {
        "site": site,
        "source": "s",
        "external_id": f"{site}-{n}",
        "title": "Stadtfest",
        "start": START,
        "location": Location(name="Stiftsplatz"),
    }
    fields.update(changes)
    seen = SEEN + timedelta(hours=n)
    return Stored(Event(**fields), seen, seen, 1, 0)  # type: ignore[arg-type]


def outcome(*events: Stored[Event]) -> tuple[list[str], dict[str, tuple[str, ...]]]:
    merged = merge(events)
    kept = [e.item.external_id for e in events if merged.kept(e.item)]
    return kept, {site: also for (site, _), also in merged.also.items()}


@pytest.mark.parametrize(
    ("second", "why"),
    [
        ({"uid": "fest-2027@ks", "title": "Stadtfest 2027!"}, "the same upstream UID"),
        ({"url": "http://www.example.org/fest/", "title": "Fest"}, "the same page"),
        ({"title": "STADTFEST", "location": Location(name="Stiftsplatz.")}, "title and place"),
    ],
)
def test_the_same_event_is_kept_once(second: dict[str, object], why: str) -> None:
    first = festival("kl", 0, uid="fest-2027@ks", url="https://example.org/fest")
    kept, also = outcome(first, festival("landstuhl", 1, **second))
    assert kept == ["kl-0"], why  # the one first seen stays
    assert also == {"kl": ("landstuhl",)}


@pytest.mark.parametrize(
    ("second", "why"),
    [
        ({"start": START + timedelta(days=1)}, "the same title on another day"),
        ({"location": Location(name="Marktplatz Landstuhl")}, "the same time in another town"),
        ({"location": None}, "no place on one side"),
    ],
)
def test_near_duplicates_stay_apart(second: dict[str, object], why: str) -> None:
    kept, also = outcome(festival("kl", 0), festival("landstuhl", 1, **second))
    assert kept == ["kl-0", "landstuhl-1"], why
    assert also == {}


def test_two_events_of_one_group_are_that_groups_business() -> None:
    kept, _ = outcome(festival("kl", 0), festival("kl", 1))
    assert kept == ["kl-0", "kl-1"]


def test_three_groups_chain_into_one() -> None:
    a = festival("kl", 0, uid="u1")
    b = festival("landstuhl", 1, uid="u1", url="https://example.org/x")
    c = festival("mannheim", 2, url="https://example.org/x/", title="Anderer Titel")
    kept, also = outcome(a, b, c)
    assert kept == ["kl-0"]
    assert also == {"kl": ("landstuhl", "mannheim")}


SITES = (
    Site(slug="kl", name="Kaiserslautern"),
    Site(slug="landstuhl", name="Landstuhl"),
)


@pytest.fixture
async def base(database_url: str, serve: Serve) -> str:
    store = await open_store(database_url)
    now = datetime.now(UTC)
    for n, site in enumerate(SITES):
        events = [festival(site.slug, n, url="https://example.org/fest").item]
        events.append(festival(site.slug, 10 + n, title=f"Treffen {site.name}").item)
        await store.save_batch(site.slug, "s", [], events, Validators(), now + timedelta(hours=n))
    await store.close()
    config = Config(Network(name="Netz", sites=SITES), {})
    return await serve(
        create_app(Settings(database_url=database_url, outbound=LOCAL), config, harvest=False)
    )


async def test_network_outputs_show_it_once_and_name_every_group(
    base: str, http: aiohttp.ClientSession
) -> None:
    _, _, body = await get(http, f"{base}/network/events.ics")
    vevents = icalendar.Calendar.from_ical(body).walk("VEVENT")
    summaries = sorted(str(v["SUMMARY"]) for v in vevents)
    assert summaries == ["Stadtfest", "Treffen Kaiserslautern", "Treffen Landstuhl"]
    [fest] = [v for v in vevents if str(v["SUMMARY"]) == "Stadtfest"]
    assert str(fest["DESCRIPTION"]).endswith("Kaiserslautern · auch bei: Landstuhl")
    # The group as data too: a category calendar apps show and filter by, and an X- property.
    assert [str(c) for c in fest["CATEGORIES"].cats] == ["Kaiserslautern"]
    assert str(fest["X-ENGAGEMENT-GROUP"]) == "Kaiserslautern"
    _, _, body = await get(http, f"{base}/network/events.atom")
    entries = feedparser.parse(body).entries
    [entry] = [e for e in entries if e.title.startswith("Stadtfest")]
    assert len(entries) == 3
    assert "Auch bei: Landstuhl" in entry.content[0].value
    assert entry.source.title == "Kaiserslautern"
    _, _, body = await get(http, f"{base}/network/events.json")
    [item] = [i for i in json.loads(body)["items"] if i["title"] == "Stadtfest"]
    assert item["_engagement"] == {
        "site": "Kaiserslautern",
        "site_url": None,
        "also": ["Landstuhl"],
    }
    # Each group's own calendar keeps its own copy.
    for site in SITES:
        _, _, body = await get(http, f"{base}/{site.slug}/events.ics")
        titles = [str(v["SUMMARY"]) for v in icalendar.Calendar.from_ical(body).walk("VEVENT")]
        assert "Stadtfest" in titles
