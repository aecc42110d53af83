"""A harvest that reads for longer than its lease keeps its source; a dead one lets go.

Two harvesters on one real SQLite store, a lease of one second: the claim is renewed
while a slow source is read for three, so the second harvester never reads it meanwhile;
a harvester stopped mid-harvest renews nothing, and the other takes the source once the
lease has run out, not before.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from aiohttp import web

from feeds.harvest import ELSEWHERE, Harvester, utcnow
from feeds.model import Network, Site, SourceConfig
from feeds.store import open_store
from sources.base import Source, SourceContext
from sources.feed import FeedSource
from tests.helpers import LOCAL, LOCAL_ENV
from tests.upstream import DATA, Upstream

LEASE = timedelta(seconds=1)


def setup(
    upstream: Upstream, tmp_path: Path, seconds: float
) -> tuple[Network, dict[tuple[str, str], Source]]:
    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(seconds)
        return web.Response(body=(DATA / "feed/news.rss").read_bytes())

    upstream.add("/slow.rss", slow)
    site = Site(slug="ks", name="KS", sources=(SourceConfig(name="slow", kind="feed"),))
    context = SourceContext(
        site="ks", source="slow", timezone="Europe/Berlin", homepage=None, config_dir=tmp_path
    )
    sources = {
        ("ks", "slow"): FeedSource.from_config(context, {"url": f"{upstream.base}/slow.rss"})
    }
    return Network(name="N", sites=(site,)), sources


def reads(upstream: Upstream) -> int:
    return sum(path == "/slow.rss" for path, _ in upstream.requests)


async def test_a_long_harvest_is_never_joined_by_a_second_reader(
    upstream: Upstream, tmp_path: Path
) -> None:
    network, sources = setup(upstream, tmp_path, seconds=3.0)
    store = await open_store(f"sqlite:///{tmp_path / 'feeds.sqlite3'}")
    try:
        first = Harvester(store, network, sources, outbound=LOCAL, lease=LEASE, worker="a")
        second = Harvester(store, network, sources, outbound=LOCAL, lease=LEASE, worker="b")
        running = asyncio.create_task(first.run_once())
        await asyncio.sleep(0.2)
        tries = []
        while not running.done():
            [outcome] = await second.run_once()
            tries.append(outcome.status)
            await asyncio.sleep(0.2)
        [outcome] = await running
    finally:
        await store.close()
    assert outcome.status == "ok", outcome.error
    assert len(tries) >= 10  # asked all through the three seconds, three leases long
    assert set(tries) == {ELSEWHERE}
    assert reads(upstream) == 1


async def test_a_dead_harvesters_claim_lapses_after_its_lease(
    upstream: Upstream, tmp_path: Path
) -> None:
    network, sources = setup(upstream, tmp_path, seconds=30.0)
    store = await open_store(f"sqlite:///{tmp_path / 'feeds.sqlite3'}")
    try:
        dying = Harvester(store, network, sources, outbound=LOCAL, lease=LEASE, worker="a")
        running = asyncio.create_task(dying.run_once())
        while reads(upstream) == 0:  # noqa: ASYNC110 (the upstream is another party)
            await asyncio.sleep(0.05)
        began = time.monotonic()
        running.cancel()  # it stops mid-read and renews nothing more, as if killed
        # Another harvester is kept out until the lease runs out, then gets the source.
        tries = []
        while time.monotonic() - began < 5:
            claim = await store.claim("ks", "slow", "b", utcnow(), LEASE, due=False)
            tries.append((time.monotonic() - began, claim.granted))
            if claim.granted:
                break
            await asyncio.sleep(0.1)
    finally:
        await store.close()
    waited, granted = tries[-1]
    assert granted
    assert 0.5 < waited < 1.6
    assert not any(was for _, was in tries[:-1])


async def test_a_killed_worker_s_source_is_taken_over_within_a_minute(
    upstream: Upstream, tmp_path: Path
) -> None:
    """Two `feeds harvest --forever` on one store; the one reading is killed with SIGKILL.
    It renews nothing more, so its claim lapses within the 60 s lease and the other takes
    the source; not before, so no source ever has two readers."""
    asked: list[float] = []

    async def calendar(request: web.Request) -> web.StreamResponse:
        asked.append(time.monotonic())
        if len(asked) == 1:
            await asyncio.sleep(600)  # the first reader is killed while it waits here
        return web.Response(body=(DATA / "ical/quirks.ics").read_bytes())

    upstream.add("/termine.ics", calendar)
    config = tmp_path / "sites.toml"
    config.write_text(
        '[network]\nname = "N"\n\n[[sites]]\nslug = "ks"\nname = "KS"\n\n'
        f'[[sites.sources]]\nname = "cal"\nkind = "ical"\nurl = "{upstream.base}/termine.ics"\n',
        encoding="utf-8",
    )
    env = {
        **os.environ,
        **LOCAL_ENV,
        "FEEDS_CONFIG": str(config),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'feeds.sqlite3'}",
    }

    def worker() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "feeds.cli", "harvest", "--forever"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    first = worker()
    second = None
    try:
        while not asked:  # noqa: ASYNC110 (the upstream is another party)
            await asyncio.sleep(0.05)
        second = worker()
        await asyncio.sleep(2)  # both run; the first reads, the second finds it claimed
        first.kill()
        killed = time.monotonic()
        while len(asked) < 2 and time.monotonic() - killed < 90:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(timeout=15)
    assert len(asked) == 2, "the other worker never took the source over"
    taken_after = asked[1] - killed
    assert taken_after <= 62  # within the lease (a minute), give or take a poll
    assert asked[1] - asked[0] >= 59  # never while the first one's claim was alive
