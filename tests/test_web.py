"""The real app on a real port over a real SQLite file; outputs re-parsed by independent parsers."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime
from zoneinfo import ZoneInfo

import aiohttp
import feedparser
import icalendar
import lxml.html
import pytest
from aiohttp import web

from feeds.config import Config, Settings
from feeds.harvest import Harvester
from feeds.model import Post
from feeds.store import open_store
from feeds.web.app import create_app
from feeds.web.cache import Answers, answers_key
from feeds.web.front import install_front
from sources.base import Validators
from tests.conftest import Serve
from tests.helpers import LOCAL, get

BERLIN = ZoneInfo("Europe/Berlin")


async def harvested(settings: Settings, config: Config) -> None:
    store = await open_store(settings.database_url)
    try:
        outcomes = await Harvester(store, config.network, config.sources, outbound=LOCAL).run_once()
        assert {o.status for o in outcomes} == {"ok"}
    finally:
        await store.close()


@pytest.fixture
async def base(settings: Settings, demo_config: Config, serve: Serve) -> str:
    await harvested(settings, demo_config)
    return await serve(create_app(settings, demo_config, harvest=False))


async def test_in_process_harvest_fills_the_feeds(
    settings: Settings, demo_config: Config, serve: Serve, http: aiohttp.ClientSession
) -> None:
    base = await serve(create_app(settings, demo_config, harvest=True))
    for _ in range(100):
        _, _, body = await get(http, f"{base}/healthz")
        if json.loads(body)["revision"] > 0:
            break
        await asyncio.sleep(0.05)
    _, _, body = await get(http, f"{base}/kaiserslautern/news.atom")
    titles = [e.title for e in feedparser.parse(body).entries]
    # The demo's new post is dated two days back whenever it is read; the other, 2025.
    assert titles == [
        "Neue Ehrenamtsbörse online",
        "Gute Rahmenbedingungen für Engagement vor Ort schaffen",
    ]


async def test_the_demo_shows_a_photo_without_a_network(
    base: str, http: aiohttp.ClientSession
) -> None:
    """The demo's picture lies in its folder: harvested offline, shown from our copy."""
    _, _, body = await get(http, f"{base}/kaiserslautern/")
    page = lxml.html.fromstring(body)
    [picture] = page.cssselect("img.picture")
    assert picture.get("alt").startswith("Zeichnung eines Marktplatzes")
    assert picture.get("src").startswith(f"{base}/images/")
    status, headers, _data = await get(http, picture.get("src"))
    assert (status, headers["Content-Type"]) == (200, "image/webp")
    _, _, body = await get(http, f"{base}/kaiserslautern/news.json")
    [item] = [i for i in json.loads(body)["items"] if i["title"] == "Neue Ehrenamtsbörse online"]
    assert item["image"].startswith(f"{base}/images/")


@pytest.mark.parametrize(
    ("fmt", "content_type"),
    [
        ("atom", "application/atom+xml; charset=utf-8"),
        ("rss", "application/rss+xml; charset=utf-8"),
    ],
)
async def test_news_feeds_parse_cleanly(
    base: str, http: aiohttp.ClientSession, fmt: str, content_type: str
) -> None:
    status, headers, body = await get(http, f"{base}/kaiserslautern/news.{fmt}")
    assert status == 200
    assert headers["Content-Type"] == content_type
    parsed = feedparser.parse(body)
    assert not parsed.bozo, parsed.get("bozo_exception")
    entry = parsed.entries[1]
    assert entry.title == "Gute Rahmenbedingungen für Engagement vor Ort schaffen"
    assert entry.id.startswith("urn:uuid:")
    assert "Demokratie-Café in der Königstraße" in entry.content[0].value
    assert entry.published_parsed[:3] == (2025, 2, 20)
    assert {t.term for t in entry.tags} == {"Kaiserslautern", "Netzwerk"}
    [enclosure] = entry.enclosures
    assert enclosure.href.endswith("_engagierte_stadt_plakette_asz.jpg")
    assert parsed.feed.language == "de"


async def test_json_feed(base: str, http: aiohttp.ClientSession) -> None:
    status, headers, body = await get(http, f"{base}/kaiserslautern/news.json")
    assert status == 200
    assert headers["Content-Type"] == "application/feed+json; charset=utf-8"
    feed = json.loads(body)
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert feed["feed_url"] == f"{base}/kaiserslautern/news.json"
    item = feed["items"][1]
    assert item["title"] == "Gute Rahmenbedingungen für Engagement vor Ort schaffen"
    assert item["image"].startswith("https://www.engagiertestadt.de/kaiserslautern/")
    assert datetime.fromisoformat(item["date_published"]) == datetime(
        2025, 2, 20, 10, tzinfo=BERLIN
    )


def calendar_events(body: bytes) -> dict[str, icalendar.Event]:
    calendar = icalendar.Calendar.from_ical(body)
    return {str(e["SUMMARY"]): e for e in calendar.walk("VEVENT")}


async def test_rock_rising_in_the_calendar(base: str, http: aiohttp.ClientSession) -> None:
    status, headers, body = await get(http, f"{base}/kaiserslautern/events.ics")
    assert status == 200
    assert headers["Content-Type"] == "text/calendar; charset=utf-8"
    text = body.decode()
    assert "DTSTART;TZID=Europe/Berlin:20250308T200000\r\n" in text
    assert "DTEND;TZID=Europe/Berlin:20250308T235900\r\n" in text
    calendar = icalendar.Calendar.from_ical(body)
    assert [str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")] == ["Europe/Berlin"]
    event = calendar_events(body)["Rock Rising"]
    assert event.decoded("DTSTART") == datetime(2025, 3, 8, 20, 0, tzinfo=BERLIN)
    assert event.decoded("DTEND") == datetime(2025, 3, 8, 23, 59, tzinfo=BERLIN)
    assert event.decoded("DTSTART").utcoffset().total_seconds() == 3600


async def test_uids_do_not_depend_on_the_base_url(
    settings: Settings, demo_config: Config, serve: Serve, http: aiohttp.ClientSession
) -> None:
    await harvested(settings, demo_config)
    plain = await serve(create_app(settings, demo_config, harvest=False))
    public = await serve(
        create_app(
            Settings(
                database_url=settings.database_url,
                base_url="https://feeds.example.org",
                outbound=LOCAL,
            ),
            demo_config,
            harvest=False,
        )
    )
    uids = []
    for base in (plain, public):
        _, _, body = await get(http, f"{base}/kaiserslautern/events.ics")
        uids.append({name: str(e["UID"]) for name, e in calendar_events(body).items()})
    assert uids[0] == uids[1]
    _, _, body = await get(http, f"{public}/kaiserslautern/news.atom")
    parsed = feedparser.parse(body)
    links = {link.rel: link.href for link in parsed.feed.links}
    assert links["self"] == "https://feeds.example.org/kaiserslautern/news.atom"
    assert "feeds.example.org" not in parsed.entries[0].id


async def test_network_views_aggregate_every_group(base: str, http: aiohttp.ClientSession) -> None:
    # The demo's events are of 2025; the network calendar starts 180 days back by default.
    _, _, body = await get(http, f"{base}/network/events.ics?from=2025-01-01")
    events = calendar_events(body)
    assert {"Rock Rising", "Demokratie-Café", "Engagement-Sprechstunde", "Freiwilligentag"} <= set(
        events
    )
    assert "Engagierte Stadt Musterstadt (Demo)" in str(events["Freiwilligentag"]["DESCRIPTION"])
    _, _, body = await get(http, f"{base}/network/news.atom")
    parsed = feedparser.parse(body)
    assert not parsed.bozo
    # Newest first, across groups.
    assert [e.title for e in parsed.entries] == [
        "Neue Ehrenamtsbörse online",
        "Gute Rahmenbedingungen für Engagement vor Ort schaffen",
        "Willkommen im Demo-Netzwerk",
    ]


async def test_all_day_and_recurring_events(base: str, http: aiohttp.ClientSession) -> None:
    _, _, body = await get(http, f"{base}/musterstadt/events.ics")
    events = calendar_events(body)
    day = events["Freiwilligentag"]
    assert day.decoded("DTSTART").isoformat() == "2025-09-20"
    assert day.decoded("DTEND").isoformat() == "2025-09-22"  # exclusive: two days
    weekly = events["Engagement-Sprechstunde"]
    assert weekly["RRULE"].to_ical() == b"FREQ=WEEKLY;BYDAY=TU"
    assert weekly["GEO"].to_ical() == "50.9375;6.9603"
    assert b"EXDATE;TZID=Europe/Berlin:20251223T170000" in body


async def test_index_lists_groups_and_feeds(base: str, http: aiohttp.ClientSession) -> None:
    status, headers, body = await get(http, f"{base}/")
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    page = body.decode()
    assert "Engagierte Stadt Kaiserslautern" in page
    assert f'href="{base}/kaiserslautern/"' in page
    assert f"{base}/network/news.atom" in page
    assert "webcal://127.0.0.1" in page
    _, _, body = await get(http, f"{base}/kaiserslautern/")
    assert f"{base}/kaiserslautern/news.atom" in body.decode()


async def test_unknown_group_is_404(base: str, http: aiohttp.ClientSession) -> None:
    status, _, body = await get(http, f"{base}/atlantis/news.atom")
    assert status == 404
    assert b"atlantis" in body


async def test_conditional_get_answers_304(base: str, http: aiohttp.ClientSession) -> None:
    url = f"{base}/kaiserslautern/events.ics"
    _, headers, _ = await get(http, url)
    status, again, body = await get(http, url, **{"If-None-Match": headers["ETag"]})
    assert (status, body) == (304, b"")
    assert again["ETag"] == headers["ETag"]
    status, _, _ = await get(http, url, **{"If-Modified-Since": headers["Last-Modified"]})
    assert status == 304
    status, _, _ = await get(http, url, **{"If-None-Match": '"something-else"'})
    assert status == 200


async def test_each_group_has_a_page_that_feeds_link_to(
    base: str, http: aiohttp.ClientSession
) -> None:
    _, _, body = await get(http, f"{base}/musterstadt/news.atom")
    alternate = next(
        link.href for link in feedparser.parse(body).feed.links if link.rel == "alternate"
    )
    assert alternate == f"{base}/musterstadt/"
    status, _, page = await get(http, alternate)
    assert status == 200
    assert "Engagierte Stadt Musterstadt (Demo)" in page.decode()
    assert f"{base}/musterstadt/events.ics" in page.decode()
    assert "Engagierte Stadt Kaiserslautern" not in page.decode()
    async with http.get(f"{base}/musterstadt", allow_redirects=False) as response:
        assert (response.status, response.headers["Location"]) == (308, "/musterstadt/")
    status, _, _ = await get(http, f"{base}/atlantis/")
    assert status == 404


async def test_opml_lists_every_feed_for_a_reader(base: str, http: aiohttp.ClientSession) -> None:
    status, headers, body = await get(http, f"{base}/opml")
    assert (status, headers["Content-Type"]) == (200, "text/x-opml; charset=utf-8")
    from xml.etree import ElementTree as ET

    outlines = ET.fromstring(body).findall("body/outline/outline")
    urls = {o.get("xmlUrl") for o in outlines}
    assert f"{base}/kaiserslautern/news.atom" in urls
    assert f"{base}/network/events.atom" in urls
    for url in urls:
        assert url is not None
        feed_status, _, feed = await get(http, url)
        assert feed_status == 200
        assert not feedparser.parse(feed).bozo


async def test_answers_served_before_are_replayed_ahead_of_routing(
    settings: Settings, demo_config: Config, serve: Serve, http: aiohttp.ClientSession
) -> None:
    await harvested(settings, demo_config)
    app = create_app(settings, demo_config, harvest=False)
    # aiohttp has no public hook before routing (feeds/web/front.py): should a release
    # drop Application._handle, this says so before the benchmarks do.
    assert getattr(app._handle, "__name__", None) == "front"
    base = await serve(app)
    url = f"{base}/kaiserslautern/news.atom"
    answers = [await get(http, url, **{"Accept-Encoding": "gzip"}) for _ in range(3)]
    assert len(app[answers_key].replays) == 1
    (status, headers, body), *replays = answers
    assert status == 200
    assert feedparser.parse(body).entries
    for replay in replays:
        same = {k: v for k, v in replay[1].items() if k != "Date"}
        assert (replay[0], same, replay[2]) == (
            status,
            {k: v for k, v in headers.items() if k != "Date"},
            body,
        )
    conditional = {"Accept-Encoding": "gzip", "If-None-Match": headers["ETag"]}
    status, _, _ = await get(http, url, **conditional)
    assert status == 304


async def test_a_harvesting_instance_sees_what_another_process_writes(
    settings: Settings, demo_config: Config, serve: Serve, http: aiohttp.ClientSession
) -> None:
    """A worker (or `feeds harvest`) beside a harvesting `feeds serve`: both write."""
    app = create_app(settings, demo_config, harvest=True, revision_poll=0.05)
    base = await serve(app)
    for _ in range(200):  # its own first harvest (the demo's two sources) is done
        _, _, body = await get(http, f"{base}/kaiserslautern/news.json")
        if (
            "Gute Rahmenbedingungen" in body.decode()
            and "Willkommen" in (await get(http, f"{base}/musterstadt/news.json"))[2].decode()
        ):
            break
        await asyncio.sleep(0.02)
    cached = await get(http, f"{base}/kaiserslautern/news.json")  # kept at this revision
    assert "Von nebenan" not in cached[2].decode()
    other = await open_store(settings.database_url)
    try:
        post = Post(site="kaiserslautern", source="elsewhere", external_id="x", title="Von nebenan")
        result = await other.save_batch(
            "kaiserslautern", "elsewhere", [post], [], Validators(), datetime.now(ZoneInfo("UTC"))
        )
    finally:
        await other.close()
    for _ in range(200):
        _, _, body = await get(http, f"{base}/kaiserslautern/news.json")
        if "Von nebenan" in body.decode():
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError("the harvesting instance never saw the other process's write")
    _, _, body = await get(http, f"{base}/healthz")
    assert json.loads(body)["revision"] == result.revision


class FinalApplication:
    """An Application as aiohttp's development branch has it: final, with __slots__."""

    __slots__ = ("_keys",)

    def __init__(self, keys: dict[object, object]) -> None:
        self._keys = keys

    def __getitem__(self, key: object) -> object:
        return self._keys[key]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raise AssertionError("not called here")


def test_the_front_steps_aside_where_aiohttp_refuses_it(caplog: pytest.LogCaptureFixture) -> None:
    app = FinalApplication({answers_key: Answers(1024 * 1024)})
    with caplog.at_level(logging.WARNING, logger="feeds.web.front"):
        installed = install_front(app)  # type: ignore[arg-type]
    assert installed is False
    assert "cached answers go through routing" in caplog.text
