"""`site`, `region` and `near` on the network's routes: exactly the right groups."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import feedparser
import icalendar
import pytest

from feeds.config import Config, Settings, load_config
from feeds.filters import distance_km
from feeds.model import Event, Network, Post, Site
from feeds.store import open_store
from feeds.web.app import create_app
from sources.base import Validators
from tests.conftest import Serve
from tests.helpers import LOCAL, get

# Real towns and where they are; one group without a position.
SITES = (
    Site(slug="kaiserslautern", name="KL", region="Rheinland-Pfalz", geo=(49.4447, 7.7690)),
    Site(slug="landstuhl", name="Landstuhl", region="Rheinland-Pfalz", geo=(49.4128, 7.5700)),
    Site(slug="mannheim", name="Mannheim", region="Baden-Württemberg", geo=(49.4875, 8.4660)),
    Site(slug="berlin", name="Berlin", region="Berlin", geo=(52.5200, 13.4050)),
    Site(slug="ohne-ort", name="Ohne Ort", region="Rheinland-Pfalz"),
)


@pytest.fixture
async def base(database_url: str, serve: Serve) -> str:
    store = await open_store(database_url)
    now = datetime.now(UTC)
    for site in SITES:
        post = Post(site=site.slug, source="t", external_id="p", title=f"Neu in {site.name}")
        event = Event(
            site=site.slug,
            source="t",
            external_id="e",
            title=f"Treffen in {site.name}",
            start=now + timedelta(days=3),
        )
        await store.save_batch(site.slug, "t", [post], [event], Validators(), now)
    await store.close()
    config = Config(Network(name="Netz", sites=SITES), {})
    return await serve(
        create_app(Settings(database_url=database_url, outbound=LOCAL), config, harvest=False)
    )


async def groups(http: aiohttp.ClientSession, url: str) -> list[str]:
    status, _, body = await get(http, url)
    assert status == 200, body
    if ".ics" in url:
        titles = [str(e["SUMMARY"]) for e in icalendar.Calendar.from_ical(body).walk("VEVENT")]
    else:
        titles = [e.title for e in feedparser.parse(body).entries]
    # "Treffen in KL (Do., 3. Dezember …)" in event feeds: the group is before the date.
    return sorted(t.split(" in ", 1)[1].split(" (")[0] for t in titles)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["Berlin", "KL", "Landstuhl", "Mannheim", "Ohne Ort"]),
        ("site=berlin&site=mannheim", ["Berlin", "Mannheim"]),
        ("region=rheinland-pfalz", ["KL", "Landstuhl", "Ohne Ort"]),
        # Landstuhl is 15 km from Kaiserslautern, Mannheim 51 km, Berlin 530 km.
        ("near=49.4447,7.7690&radius=20", ["KL", "Landstuhl"]),
        ("near=49.4447,7.7690", ["KL", "Landstuhl"]),  # 25 km unless told
        ("near=49.4447,7.7690&radius=60", ["KL", "Landstuhl", "Mannheim"]),
        ("near=49.4447,7.7690&radius=60&region=Baden-W%C3%BCrttemberg", ["Mannheim"]),
        ("near=49.4447,7.7690&radius=5", ["KL"]),
        ("near=0,0&radius=100", []),
    ],
)
@pytest.mark.parametrize("feed", ["news.atom", "events.rss", "events.ics"])
async def test_network_routes_take_exactly_the_right_groups(
    base: str, http: aiohttp.ClientSession, feed: str, query: str, expected: list[str]
) -> None:
    assert await groups(http, f"{base}/network/{feed}?{query}") == expected


@pytest.mark.parametrize(
    ("query", "parameter", "words"),
    [
        ("near=49.44", "near", "latitude,longitude"),
        ("near=91,7", "near", "latitude,longitude"),
        ("near=abc,def", "near", "latitude,longitude"),
        ("near=1e3,7", "near", "latitude,longitude"),
        ("radius=10", "radius", "give near="),
        ("near=49.4,7.7&radius=0", "radius", "more than 0"),
        ("near=49.4,7.7&radius=5000", "radius", "at most 1000"),
        ("near=49.4,7.7&radius=nan", "radius", "kilometres"),
        ("site=atlantis", "site", "no group is named 'atlantis'; groups: kaiserslautern"),
    ],
)
async def test_bad_places_are_400s_that_say_what_fits(
    base: str, http: aiohttp.ClientSession, query: str, parameter: str, words: str
) -> None:
    status, _, body = await get(http, f"{base}/network/news.atom?{query}")
    assert status == 400
    text = body.decode()
    assert f"'{parameter}'" in text
    assert words in text


def test_distances_between_real_towns() -> None:
    kl, mannheim, berlin = SITES[0].geo, SITES[2].geo, SITES[3].geo
    assert kl is not None
    assert mannheim is not None
    assert berlin is not None
    assert 50 < distance_km(kl, mannheim) < 52
    assert 520 < distance_km(kl, berlin) < 524  # 522 km as the crow flies
    assert distance_km(kl, kl) == 0


def test_a_group_position_is_checked_in_the_config(tmp_path: Path) -> None:
    config = tmp_path / "sites.toml"
    config.write_text('[network]\nname = "N"\n\n[[sites]]\nslug = "a"\nname = "A"\ngeo = [49.4]\n')
    with pytest.raises(Exception, match=r"sites\[0\]\.geo.*latitude, longitude"):
        load_config(config)
    config.write_text(
        '[network]\nname = "N"\n\n[[sites]]\nslug = "a"\nname = "A"\ngeo = [49.44, 7.77]\n'
    )
    assert load_config(config).network.sites[0].geo == (49.44, 7.77)
