"""Harvest 112 simulated sources, each answering after 50–500 ms, on loopback hosts.

Twice: every group on its own host, as the network's groups mostly are (goal: wall time
at most 1.5x the slowest single source); then with 12 of them on one host, like a hosting
provider serving many groups' sites, where the per-host limit sets a floor of its own
(their latencies over the per-host limit): wall time against that floor. Both report the
most requests any one host saw at once, against the per-host limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import random
import tempfile
import time
from collections import Counter
from multiprocessing.connection import Connection
from pathlib import Path

from aiohttp import web

from feeds.harvest import Harvester, Limits
from feeds.model import Network, Site, SourceConfig
from feeds.store import open_store
from sources.base import SourceContext
from sources.feed import FeedSource
from sources.parsing import parse_pool, warmed
from tests.helpers import LOCAL

SOURCES = 112
SHARED_HOST_SOURCES = 12  # like a hosting provider serving many groups' sites
GOAL = 1.5
RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>{name}</title><link>https://example.org/</link>
<description>d</description>{items}</channel></rss>"""
ITEM = (
    "<item><title>Beitrag {n}</title><guid>{name}-{n}</guid><description>Text</description></item>"
)


class SimulatedWeb:
    def __init__(self, latencies: dict[str, float]) -> None:
        self.latencies = latencies
        self.in_flight: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()

    async def handle(self, request: web.Request) -> web.Response:
        host = request.host.split(":")[0]
        self.in_flight[host] += 1
        self.peak[host] = max(self.peak[host], self.in_flight[host])
        try:
            await asyncio.sleep(self.latencies[request.path])
            name = request.path.strip("/")
            items = "".join(ITEM.format(n=n, name=name) for n in range(20))
            return web.Response(
                text=RSS.format(name=name, items=items), content_type="application/rss+xml"
            )
        finally:
            self.in_flight[host] -= 1


PORT = 18741


def simulate(hosts: list[str], latencies: dict[str, float], conn: Connection) -> None:
    """The simulated websites, in a process of their own as real ones are: their work
    must not be counted as the harvester's. Says "ready", then the peaks when told."""

    async def serve() -> None:
        simulated = SimulatedWeb(latencies)
        app = web.Application()
        app.router.add_get("/{name}", simulated.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        for host in sorted(set(hosts)):
            await web.TCPSite(runner, host, PORT).start()
        conn.send("ready")
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, conn.recv)  # "stop"
        conn.send(dict(simulated.peak))
        await runner.cleanup()

    asyncio.run(serve())


async def run(limits: Limits, shared: int, *, warm: bool = True) -> float:
    """The harvest's wall time against its baseline. `warm`: as the service's harvester
    runs (serve, harvest --forever), its parse workers started once for its life; else as
    a one-off `feeds harvest`, whose workers start with it."""
    rng = random.Random(112)
    own = SOURCES - shared if shared else SOURCES
    hosts = [f"127.0.{1 + n // 200}.{10 + n % 200}" for n in range(own)] + ["127.0.0.2"]
    plan = [(hosts[n] if n < own else "127.0.0.2", f"/s{n}") for n in range(SOURCES)]
    latencies = {path: rng.uniform(0.05, 0.5) for _, path in plan}
    ours, theirs = multiprocessing.get_context("spawn").Pipe()
    websites = multiprocessing.get_context("spawn").Process(
        target=simulate, args=(hosts, latencies, theirs), daemon=True
    )
    websites.start()
    if ours.recv() != "ready":
        raise RuntimeError("the simulated websites did not start")
    port = PORT
    sites = []
    sources = {}
    for n, (host, path) in enumerate(plan):
        slug = f"gruppe-{n}"
        sites.append(
            Site(slug=slug, name=f"Gruppe {n}", sources=(SourceConfig(name="rss", kind="feed"),))
        )
        context = SourceContext(
            site=slug, source="rss", timezone="Europe/Berlin", homepage=None, config_dir=Path()
        )
        sources[slug, "rss"] = FeedSource.from_config(
            context, {"url": f"http://{host}:{port}{path}"}
        )
    with tempfile.TemporaryDirectory() as tmp:
        store = await open_store(f"sqlite:///{Path(tmp) / 'bench.sqlite3'}")
        harvester = Harvester(
            store, Network(name="Bench", sites=tuple(sites)), sources, limits=limits, outbound=LOCAL
        )
        # The service's harvester holds its pool; a one-off harvest opens its own.
        async with parse_pool(limits.parse_workers) if warm else contextlib.nullcontext():
            await warmed()
            began = time.perf_counter()
            outcomes = await harvester.run_once()
            wall = time.perf_counter() - began
        await store.close()
    ours.send("stop")
    peak: Counter[str] = Counter(ours.recv())
    websites.join(timeout=10)
    assert all(o.status == "ok" for o in outcomes), [o.error for o in outcomes if o.error]
    slowest, total = max(latencies.values()), sum(latencies.values())
    shared_time = sum(latencies[path] for host, path in plan if host == "127.0.0.2")
    shared_peak = peak["127.0.0.2"]
    others = max(v for k, v in peak.items() if k != "127.0.0.2")
    if not shared and not warm:
        return wall / slowest
    if not shared:
        verdict = "met" if wall / slowest <= GOAL else "NOT met"
        print(f"harvest of {SOURCES} sources on their own hosts, 50–500 ms each")
        print(f"  slowest single source   {slowest:6.2f} s  (baseline)")
        print(
            f"  all, harvested          {wall:6.2f} s  {wall / slowest:5.2f}x baseline"
            f"  goal <= {GOAL}x  {verdict}  (the service's harvester, its parse workers running)"
        )
        print(f"  all, one after another  {total:6.2f} s  {total / slowest:5.2f}x (computed)")
        print(f"  at most {limits.per_host} per host: the busiest host peaked at {others}")
        assert others <= limits.per_host, "the per-host limit was not kept"
        return wall
    floor = max(slowest, shared_time / limits.per_host, total / limits.concurrency)
    print(f"the same, with {shared} of them on one host ({limits.per_host} at a time there)")
    print(f"  floor under the limits  {floor:6.2f} s  (baseline: that host's sources, in pairs)")
    print(
        f"  all, harvested          {wall:6.2f} s  {wall / floor:5.2f}x baseline"
        f"  goal <= {GOAL}x  {'met' if wall / floor <= GOAL else 'NOT met'}"
    )
    print(f"  the shared host peaked at {shared_peak} at once, the busiest other at {others}")
    assert shared_peak <= limits.per_host, "the per-host limit was not kept"
    return wall


def main() -> None:
    # The one-off harvest first: it starts the fork server its workers come from, which
    # lives on in this process and would spare the later ones that half second.
    cold = asyncio.run(run(Limits(), shared=0, warm=False))
    asyncio.run(run(Limits(), shared=0))
    print(f"  as a one-off `feeds harvest`, its parse workers starting with it: {cold:.2f}x")
    asyncio.run(run(Limits(), shared=SHARED_HOST_SOURCES))


if __name__ == "__main__":
    main()
