"""The generated 112-group network (tests/network.py), harvested from local servers and
served: every group's items once in the network outputs and attributed; `region`, `site`
and `near` take exactly the right groups; the shared event merges, the near-duplicates
don't."""

from __future__ import annotations

import json
from collections import Counter

import aiohttp
import icalendar
import pytest

from feeds.config import Config, Settings
from feeds.filters import distance_km
from feeds.harvest import Harvester
from feeds.store import open_store
from feeds.web.app import create_app
from tests.conftest import Serve
from tests.helpers import LOCAL, get
from tests.network import events_of, posts_of, serve_network, shared, stammtisch, towns
from tests.upstream import Upstream

TOWNS = towns()


@pytest.fixture
async def network(upstream: Upstream, database_url: str, serve: Serve) -> tuple[str, Config]:
    config = serve_network(upstream)
    store = await open_store(database_url)
    try:
        outcomes = await Harvester(store, config.network, config.sources, outbound=LOCAL).run_once()
    finally:
        await store.close()
    failed = [(o.site, o.error) for o in outcomes if o.status != "ok"]
    assert not failed
    app = create_app(Settings(database_url=database_url, outbound=LOCAL), config, harvest=False)
    return await serve(app), config


async def network_items(http: aiohttp.ClientSession, url: str) -> list[dict[str, object]]:
    status, _, body = await get(http, url)
    assert status == 200, body
    items: list[dict[str, object]] = json.loads(body)["items"]
    return items


def group_of(item: dict[str, object]) -> str:
    engagement = item["_engagement"]
    assert isinstance(engagement, dict)
    name = engagement["site"]
    assert isinstance(name, str)
    return name.removeprefix("Engagierte Stadt ")


async def test_every_groups_items_once_and_attributed(
    network: tuple[str, Config], http: aiohttp.ClientSession
) -> None:
    base, _ = network
    posts = await network_items(http, f"{base}/network/news.json?limit=1000")
    expected = Counter((t.name, title) for t in TOWNS for title in posts_of(t))
    assert Counter((group_of(p), p["title"]) for p in posts) == expected
    assert len(posts) == 2 * sum(1 for t in TOWNS if posts_of(t))
    assert {t.kind for t in TOWNS} == {"feed", "ical", "jsonld", "wordpress", "tribe_events"}

    _, _, body = await get(http, f"{base}/network/events.ics?from=2027-01-01")
    vevents = icalendar.Calendar.from_ical(body).walk("VEVENT")
    titles = Counter(str(v["SUMMARY"]) for v in vevents)
    for n, town in enumerate(TOWNS):
        for _, title, _, _ in events_of(town, n):
            if title.startswith("Treffen"):
                assert titles[title] == 1, title
    # Three groups' Aktionstag (one UID) once, naming the two others; two Stammtische stay.
    assert titles["Landesweiter Aktionstag"] == 1
    assert titles["Stammtisch"] == 2
    [aktionstag] = [v for v in vevents if str(v["SUMMARY"]) == "Landesweiter Aktionstag"]
    names = {f"Engagierte Stadt {t.name}" for t in TOWNS if t.slug in shared()}
    # The copy first seen is shown (the three calendars are read in one round, in parallel:
    # which comes first is the harvest's), the two others named after it.
    description = str(aktionstag["DESCRIPTION"])
    shown, _, also = description.rsplit("\n", 1)[-1].partition(" · auch bei: ")
    carried = {name for name in names if shown.endswith(name)}
    assert len(carried) == 1, description
    assert set(also.split(", ")) == names - carried
    assert len(stammtisch()) == 2


@pytest.mark.parametrize("state", ["Rheinland-Pfalz", "Berlin", "Nordrhein-Westfalen"])
async def test_region_takes_exactly_its_groups(
    network: tuple[str, Config], http: aiohttp.ClientSession, state: str
) -> None:
    base, _ = network
    posts = await network_items(http, f"{base}/network/news.json?limit=1000&region={state}")
    wanted = {t.name for t in TOWNS if t.state == state and posts_of(t)}
    assert wanted
    assert {group_of(p) for p in posts} == wanted


@pytest.mark.parametrize("radius", [30, 80, 150])
async def test_near_takes_exactly_the_groups_within_the_radius(
    network: tuple[str, Config], http: aiohttp.ClientSession, radius: int
) -> None:
    base, _ = network
    here = next(t for t in TOWNS if t.slug == "kaiserslautern").geo
    url = f"{base}/network/news.json?limit=1000&near={here[0]},{here[1]}&radius={radius}"
    posts = await network_items(http, url)
    wanted = {t.name for t in TOWNS if distance_km(here, t.geo) <= radius and posts_of(t)}
    assert {group_of(p) for p in posts} == wanted


async def test_site_takes_exactly_the_named_groups(
    network: tuple[str, Config], http: aiohttp.ClientSession
) -> None:
    base, _ = network
    chosen = [t for t in TOWNS if posts_of(t)][5:9]
    query = "&".join(f"site={t.slug}" for t in chosen)
    posts = await network_items(http, f"{base}/network/news.json?limit=1000&{query}")
    assert {group_of(p) for p in posts} == {t.name for t in chosen}
