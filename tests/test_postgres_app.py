"""The whole service over PostgreSQL: harvest, restart, serve, as on SQLite."""

from __future__ import annotations

import aiohttp
import feedparser
import icalendar

from feeds.config import Config, Settings
from feeds.harvest import Harvester
from feeds.store import open_store
from feeds.web.app import create_app
from tests.conftest import Serve
from tests.helpers import LOCAL, get


async def test_demo_over_postgresql(
    postgres_url: str, demo_config: Config, serve: Serve, http: aiohttp.ClientSession
) -> None:
    store = await open_store(postgres_url)
    try:
        harvester = Harvester(store, demo_config.network, demo_config.sources, outbound=LOCAL)
        assert [o.status for o in await harvester.run_once()] == ["ok", "ok"]
        revision = await store.revision()
        assert [o.status for o in await harvester.run_once()] == ["not-modified", "not-modified"]
        assert await store.revision() == revision
    finally:
        await store.close()
    base = await serve(
        create_app(Settings(database_url=postgres_url, outbound=LOCAL), demo_config, harvest=False)
    )
    _, _, body = await get(http, f"{base}/kaiserslautern/events.ics")
    text = body.decode()
    assert "DTSTART;TZID=Europe/Berlin:20250308T200000\r\n" in text
    assert "DTEND;TZID=Europe/Berlin:20250308T235900\r\n" in text
    calendar = icalendar.Calendar.from_ical(body)
    assert "Rock Rising" in [str(e["SUMMARY"]) for e in calendar.walk("VEVENT")]
    _, _, body = await get(http, f"{base}/network/news.atom")
    parsed = feedparser.parse(body)
    assert not parsed.bozo
    assert len(parsed.entries) == 3
    _, _, body = await get(http, f"{base}/status.json")
    assert b'"health": "ok"' in body
