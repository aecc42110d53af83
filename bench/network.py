"""The generated 112-group network (tests/network.py): a full harvest from local servers,
then the network's views from a running service, cold (the first request renders) and
cached, with their sizes."""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

from bench import http as bench_http
from feeds.harvest import Harvester
from feeds.model import Site
from feeds.store import open_store
from tests.helpers import LOCAL
from tests.network import serve_network
from tests.upstream import Upstream

PORT = 18744
BASE = f"http://127.0.0.1:{PORT}"
VIEWS = [
    "/network/news.atom",
    "/network/events.ics?from=2027-01-01",
    "/network/events.ics",
    "/",  # the network's page: 112 groups by state, what is coming, what is new
    "/kaiserslautern/",
]


async def harvest(database_url: str) -> tuple[float, str]:
    site = Upstream()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", site.dispatch)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 18745).start()
    site.base = "http://127.0.0.1:18745"
    try:
        config = serve_network(site)
        store = await open_store(database_url)
        began = time.perf_counter()
        outcomes = await Harvester(store, config.network, config.sources, outbound=LOCAL).run_once()
        wall = time.perf_counter() - began
        await store.close()
    finally:
        await runner.cleanup()
    assert all(o.status == "ok" for o in outcomes)
    return wall, _toml(config.network.sites)


def _toml(sites: Sequence[Site]) -> str:
    """The network as a configuration file for `feeds serve` (sources are not needed to
    serve what is stored)."""
    lines = ['[network]\nname = "Engagierte Stadt"\n']
    for site in sites:
        assert site.geo is not None
        lines.append(
            f'[[sites]]\nslug = "{site.slug}"\nname = "{site.name}"\nregion = "{site.region}"\n'
            f"geo = [{site.geo[0]}, {site.geo[1]}]\n"
        )
    return "\n".join(lines)


def measure(tmp: Path) -> None:
    database_url = f"sqlite:///{tmp / 'network112.sqlite3'}"
    config = tmp / "network112.toml"
    wall, toml = asyncio.run(harvest(database_url))
    config.write_text(toml, encoding="utf-8")
    print(
        "the 112-group test network (feeds, calendars, schema.org pages, WordPress and The"
        " Events Calendar APIs on local servers)"
    )
    print(f"  full harvest                 {wall:6.2f} s")
    env = {**os.environ, "FEEDS_CONFIG": str(config), "DATABASE_URL": database_url}
    feeds = str(Path(sys.executable).with_name("feeds"))
    server = bench_http.start([feeds, "serve", "--port", str(PORT), "--no-harvest"], env)
    try:
        bench_http.wait_up(BASE + "/healthz")
        for view in VIEWS:
            began = time.perf_counter()
            _, _, body = bench_http.get(BASE + view, {"Accept-Encoding": "identity"})
            cold = time.perf_counter() - began
            _, _, packed = bench_http.get(BASE + view, {"Accept-Encoding": "gzip"})
            cached = []
            for _ in range(50):
                began = time.perf_counter()
                bench_http.get(BASE + view, {"Accept-Encoding": "gzip"})
                cached.append(time.perf_counter() - began)
            median = statistics.median(cached) * 1e3
            print(
                f"  {view:37} cold {cold * 1e3:6.1f} ms, cached {median:5.2f} ms (client side)"
                f"  {len(body) / 1e3:7.1f} kB, {len(packed) / 1e3:5.1f} kB gzip"
            )
    finally:
        bench_http.stop(server)
