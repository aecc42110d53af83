"""WebSub: feeds name the hub, and the hub hears once per harvest which feeds changed."""

from __future__ import annotations

import json

import aiohttp
import feedparser
import pytest
from aiohttp import web
from multidict import MultiDict

from feeds.config import Config, Settings
from feeds.harvest import Harvester
from feeds.store import open_store
from feeds.web.app import create_app
from feeds.websub import publishing
from tests.conftest import Serve
from tests.helpers import LOCAL, get

HUB = "https://hub.example.org/"


async def test_every_feed_names_the_hub(
    settings: Settings, demo_config: Config, serve: Serve, http: aiohttp.ClientSession
) -> None:
    with_hub = Settings(
        config_path=settings.config_path, database_url=settings.database_url, websub_hub=HUB
    )
    base = await serve(create_app(with_hub, demo_config, harvest=False))
    for fmt in ("atom", "rss"):
        _, _, body = await get(http, f"{base}/kaiserslautern/news.{fmt}")
        parsed = feedparser.parse(body)
        links = {link.rel: link.href for link in parsed.feed.links}
        assert links["hub"] == HUB, fmt
        assert links["self"] == f"{base}/kaiserslautern/news.{fmt}", fmt
        # RSS's channel <link> is the group's website, not the feed itself (RSS 2.0).
        assert parsed.feed.link == "https://www.engagiertestadt.de/kaiserslautern", fmt
    _, _, body = await get(http, f"{base}/network/events.json")
    assert json.loads(body)["hubs"] == [{"type": "WebSub", "url": HUB}]


@pytest.fixture
async def hub(serve: Serve) -> tuple[str, list[MultiDict[str]]]:
    pings: list[MultiDict[str]] = []

    async def publish(request: web.Request) -> web.Response:
        pings.append(MultiDict(await request.post()))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/", publish)
    return await serve(app) + "/", pings


async def test_the_hub_hears_of_changed_feeds_once_per_harvest(
    settings: Settings, demo_config: Config, hub: tuple[str, list[MultiDict[str]]]
) -> None:
    url, pings = hub
    configured = Settings(
        database_url=settings.database_url,
        websub_hub=url,
        base_url="https://feeds.example.org",
        outbound=LOCAL,
    )
    store = await open_store(settings.database_url)
    try:
        async with publishing(configured, delay=0.05) as publisher:
            assert publisher is not None
            harvester = Harvester(
                store,
                demo_config.network,
                demo_config.sources,
                on_change=publisher.changed,
                outbound=LOCAL,
            )
            await harvester.run_once()
            await publisher.settled()
            [ping] = pings
            assert ping["hub.mode"] == "publish"
            announced = ping.getall("hub.url")
            for feed in (
                "kaiserslautern/news.atom",
                "musterstadt/events.rss",
                "network/news.json",
                "network/events.atom",
            ):
                assert f"https://feeds.example.org/{feed}" in announced
            assert len(announced) == len(set(announced)) == 18  # 3 scopes x 2 feeds x 3 formats
            await harvester.run_once()  # nothing changed upstream: nothing to announce
            await publisher.settled()
            assert len(pings) == 1
    finally:
        await store.close()


async def test_a_hub_without_the_public_address_is_named_but_not_pinged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with publishing(Settings(websub_hub=HUB)) as publisher:
        assert publisher is None
    assert "FEEDS_BASE_URL is not" in caplog.text
