"""One `feeds serve` harvesting beside broken sources: nothing a source does stops the others,
/healthz tells whether harvesting goes on, and the harvester's host slots are no timeout."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar, Self

import aiohttp
from aiohttp import web

from feeds.config import Config, Settings
from feeds.harvest import Harvester, Limits
from feeds.model import Network, Site, SourceConfig
from feeds.store import open_store
from feeds.web.app import create_app
from feeds.web.app_keys import background_key
from sources.base import Fetched, NotModified, SourceContext, Validators
from sources.feed import FeedSource
from sources.ical import ICalSource
from tests.conftest import Serve
from tests.helpers import LOCAL, get
from tests.upstream import Upstream

MINUTE = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class BuggyReader:
    """An adapter with a bug in it, as the corpus found several: it raises what no
    adapter should. Not a mock of ours: a source kind the harvester has never seen."""

    kind: ClassVar[str] = "buggy"
    context: SourceContext

    @classmethod
    def from_config(cls, context: SourceContext, options: Mapping[str, Any]) -> Self:
        return cls(context)

    async def fetch(
        self, session: aiohttp.ClientSession, validators: Validators
    ) -> Fetched | NotModified:
        return {}["version"]  # type: ignore[no-any-return]  # feedparser's old AttributeError


def context(site: str, name: str, tmp_path: Path) -> SourceContext:
    return SourceContext(
        site=site, source=name, timezone="Europe/Berlin", homepage=None, config_dir=tmp_path
    )


async def test_broken_sources_never_stop_the_healthy_one(
    upstream: Upstream, tmp_path: Path, serve: Serve, http: aiohttp.ClientSession
) -> None:
    upstream.file("/quirks.ics", "ical/quirks.ics")

    async def empty(request: web.Request) -> web.StreamResponse:
        return web.Response(status=200, body=b"", content_type="application/rss+xml")

    upstream.add("/empty.rss", empty)
    names = ("calendar", "empty", "buggy")
    site = Site(
        slug="kaiserslautern",
        name="Engagierte Stadt Kaiserslautern",
        sources=tuple(SourceConfig(name=n, kind="feed", interval=MINUTE) for n in names),
    )
    sources = {
        ("kaiserslautern", "calendar"): ICalSource.from_config(
            context("kaiserslautern", "calendar", tmp_path), {"url": f"{upstream.base}/quirks.ics"}
        ),
        ("kaiserslautern", "empty"): FeedSource.from_config(
            context("kaiserslautern", "empty", tmp_path), {"url": f"{upstream.base}/empty.rss"}
        ),
        ("kaiserslautern", "buggy"): BuggyReader(context("kaiserslautern", "buggy", tmp_path)),
    }
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'feeds.sqlite3'}", outbound=LOCAL)
    app = create_app(settings, Config(Network(name="N", sites=(site,)), sources), harvest=True)
    base = await serve(app)

    def asked() -> int:
        return sum(path == "/quirks.ics" for path, _ in upstream.requests)

    # The first round; then, a minute later, the healthy source is asked again.
    for _ in range(100):
        if asked() >= 1:
            break
        await asyncio.sleep(0.1)
    for _ in range(150):  # the interval is a minute; give it 75 s
        if asked() >= 2:
            break
        await asyncio.sleep(0.5)
    assert asked() >= 2, "the healthy source was not harvested again after its interval"

    status, _, body = await get(http, f"{base}/status.json")
    assert status == 200
    rows = {row["source"]: row for row in json.loads(body)["sources"]}
    assert rows["calendar"]["health"] == "ok"
    assert rows["calendar"]["items"] == 9
    assert rows["calendar"]["skipped"] == [
        "VEVENT 'Irgendwann' (line 57): DTSTART 'Next Year' is no date"
    ]
    assert "'Team call' (line 35): unreadable RRULE" in " ".join(rows["calendar"]["warnings"])
    assert rows["empty"]["health"] == "failing"
    assert "answered 200 with an empty body" in rows["empty"]["last_error"]
    assert rows["buggy"]["health"] == "failing"
    assert (
        "the buggy reader failed while reading it (KeyError: 'version')"
        in (rows["buggy"]["last_error"])
    )
    _, _, page = await get(http, f"{base}/status")
    assert "Übersprungen: 1" in page.decode()
    _, _, calendar = await get(http, f"{base}/kaiserslautern/events.ics")
    assert calendar.count(b"BEGIN:VEVENT") == 9

    status, _, body = await get(http, f"{base}/healthz")
    health = json.loads(body)
    assert (status, health["status"], health["harvester"]["state"]) == (200, "ok", "running")
    assert health["harvester"]["overdue"] == []

    # When harvesting stops, /healthz says so: a load balancer or a supervisor can act.
    app[background_key].task.cancel()
    await asyncio.sleep(0.05)
    status, _, body = await get(http, f"{base}/healthz")
    assert status == 503
    assert json.loads(body)["harvester"]["state"] == "stopped"


async def test_waiting_for_a_busy_host_is_not_a_connect_timeout(
    upstream: Upstream, tmp_path: Path
) -> None:
    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(1.5)
        return web.Response(body=(Path(__file__).parent / "data/feed/news.rss").read_bytes())

    upstream.add("/slow.rss", slow)
    upstream.file("/fast.rss", "feed/news.rss")
    names = ("slow-1", "slow-2", "fast")
    site = Site(
        slug="ks", name="KS", sources=tuple(SourceConfig(name=n, kind="feed") for n in names)
    )
    sources = {
        ("ks", name): FeedSource.from_config(
            context("ks", name, tmp_path),
            {"url": f"{upstream.base}/{'fast' if name == 'fast' else 'slow'}.rss"},
        )
        for name in names
    }
    store = await open_store(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    try:
        # Two connections per host and a one-second connect timeout: the third source waits
        # 1.5 s for its slot, which is politeness, not an unreachable server.
        limits = Limits(per_host=2, connect_timeout=1.0, total_timeout=5.0)
        harvester = Harvester(
            store, Network(name="N", sites=(site,)), sources, limits=limits, outbound=LOCAL
        )
        outcomes = await harvester.run_once([("ks", "slow-1"), ("ks", "slow-2"), ("ks", "fast")])
    finally:
        await store.close()
    assert [(o.source, o.status, o.error) for o in outcomes] == [
        ("slow-1", "ok", None),
        ("slow-2", "ok", None),
        ("fast", "ok", None),
    ]
