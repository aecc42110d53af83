"""/metrics as Prometheus reads it (prometheus-client's own parser), and /healthz checking
the store and the harvester, on the real app over the demo."""

from __future__ import annotations

import json
from datetime import timedelta

import aiohttp
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from feeds.config import Config, Settings
from feeds.harvest import Harvester
from feeds.model import Network, Site, SourceConfig
from feeds.store import open_store
from feeds.web.app import create_app
from sources import build_source
from tests.conftest import Serve
from tests.helpers import CONTEXT, LOCAL, get
from tests.upstream import Upstream

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(http: aiohttp.ClientSession, base: str) -> Samples:
    status, headers, body = await get(http, f"{base}/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_requests_cache_renders_and_sources_are_counted(
    settings: Settings, demo_config: Config, serve: Serve, http: aiohttp.ClientSession
) -> None:
    store = await open_store(settings.database_url)
    try:
        await Harvester(store, demo_config.network, demo_config.sources, outbound=LOCAL).run_once()
    finally:
        await store.close()
    base = await serve(create_app(settings, demo_config, harvest=False))
    before = await scrape(http, base)
    route = "/{site}/news.{fmt}"
    for _ in range(3):  # rendered once, then replayed in front of routing
        assert (await get(http, f"{base}/kaiserslautern/news.atom"))[0] == 200
    assert (await get(http, f"{base}/atlantis/news.atom"))[0] == 404
    assert (await get(http, f"{base}/kaiserslautern/news.atom?limit=x"))[0] == 400
    after = await scrape(http, base)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("feeds_http_requests_total", route=route, status="200") == 3
    assert grew("feeds_http_requests_total", route=route, status="404") == 1
    assert grew("feeds_http_requests_total", route=route, status="400") == 1
    assert grew("feeds_http_replayed_total") >= 2
    assert grew("feeds_render_cache_lookups_total", result="miss") >= 1
    assert grew("feeds_render_seconds_count", view="news") == 1
    assert value(after, "feeds_store_up") == 1
    assert value(after, "feeds_source_items", site="kaiserslautern", source="demo") == 7
    assert value(after, "feeds_source_failing", site="kaiserslautern", source="demo") == 0
    assert value(after, "feeds_sources_failing") == 0
    assert value(after, "feeds_harvests_total", site="kaiserslautern", source="demo",
                 status="ok") >= 1  # fmt: skip
    assert value(after, "feeds_harvest_seconds_count", status="ok") >= 2


async def test_a_failing_source_shows_and_healthz_checks_store_and_harvester(
    upstream: Upstream, tmp_path: object, serve: Serve, http: aiohttp.ClientSession,
    database_url: str,
) -> None:  # fmt: skip
    async def broken(request: web.Request) -> web.StreamResponse:
        return web.Response(status=500, text="Fehler")

    upstream.add("/feed.xml", broken)
    config = SourceConfig(name="rss", kind="feed", interval=timedelta(minutes=1))
    site = Site(slug="ks", name="KS", sources=(config,))
    sources = {("ks", "rss"): build_source("feed", CONTEXT, {"url": upstream.base + "/feed.xml"})}
    network = Network(name="N", sites=(site,))
    settings = Settings(database_url=database_url, outbound=LOCAL)
    base = await serve(create_app(settings, Config(network, sources), harvest=False))
    _, _, body = await get(http, f"{base}/healthz")
    report = json.loads(body)
    assert report["store"]["state"] == "ok"
    assert report["harvester"] == {"state": "elsewhere", "last_harvest": None, "late": True}
    store = await open_store(database_url)
    try:
        [outcome] = await Harvester(store, network, sources, outbound=LOCAL).run_once()
        assert outcome.status == "failed"
    finally:
        await store.close()
    samples = await scrape(http, base)
    assert value(samples, "feeds_source_failing", site="ks", source="rss") == 1
    assert value(samples, "feeds_source_consecutive_failures", site="ks", source="rss") == 1
    assert value(samples, "feeds_sources_failing") == 1
    status, _, body = await get(http, f"{base}/healthz")
    report = json.loads(body)
    assert status == 200  # the web instance serves; the worker's state is reported
    assert report["harvester"]["late"] is False
    assert report["harvester"]["last_harvest"] is not None
