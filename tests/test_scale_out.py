"""Several processes, one truth, on PostgreSQL: two web instances (`feeds serve
--no-harvest`) and two harvest workers (`feeds harvest --forever`), real processes on one
real database, six groups on a local website. An upstream change reaches both instances
within one harvest interval, each within a second of the harvest that brought it, with
the same ETag and Last-Modified on both; the store's record of harvests shows that no
source was ever harvested by two workers at once.

It takes about a harvest interval (the shortest allowed, one minute)."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import socket
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import feedparser
import pytest
from aiohttp import web

from feeds.store import open_store
from tests.helpers import LOCAL_ENV, get
from tests.upstream import Upstream

GROUPS = [f"gruppe{n}" for n in range(1, 7)]
INTERVAL = timedelta(minutes=1)
FEEDS = str(Path(sys.executable).with_name("feeds"))


def rss(group: str, titles: list[str]) -> str:
    items = "".join(
        f"<item><title>{title}</title><guid>{group}-{n}</guid>"
        f"<pubDate>Mon, 0{n + 1} Nov 2026 10:00:00 +0100</pubDate></item>"
        for n, title in enumerate(titles)
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>{group}'
        f"</title><link>https://example.org/{group}</link><description>d</description>"
        f"{items}</channel></rss>"
    )


def launch(command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, env=env)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        process.send_signal(signal.SIGTERM)
    for process in started:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


async def wait_until_up(http: aiohttp.ClientSession, base: str) -> None:
    for _ in range(200):
        try:
            status, _, _ = await get(http, f"{base}/healthz")
            if status == 200:
                return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError(f"{base} did not come up")


async def titles(http: aiohttp.ClientSession, url: str) -> tuple[list[str], str, str]:
    status, headers, body = await get(http, url)
    assert status == 200, body[:200]
    parsed = feedparser.parse(body)
    return [e.title for e in parsed.entries], headers["ETag"], headers["Last-Modified"]


async def test_two_instances_two_workers_one_truth(
    upstream: Upstream,
    postgres_url: str,
    tmp_path: Path,
    http: aiohttp.ClientSession,
    processes: list[subprocess.Popen[bytes]],
) -> None:
    feeds = {group: ["Erster Beitrag", "Zweiter Beitrag"] for group in GROUPS}

    def serve_feed(group: str) -> web.StreamResponse:
        return web.Response(text=rss(group, feeds[group]), content_type="application/rss+xml")

    for group in GROUPS:

        async def handler(request: web.Request, group: str = group) -> web.StreamResponse:
            return serve_feed(group)

        upstream.add(f"/{group}/feed.xml", handler)
    config = tmp_path / "sites.toml"
    config.write_text(
        '[network]\nname = "Engagierte Stadt"\n'
        + "".join(
            f'\n[[sites]]\nslug = "{group}"\nname = "Gruppe {group[-1]}"\n'
            f'[[sites.sources]]\nname = "rss"\nkind = "feed"\n'
            f'url = "{upstream.base}/{group}/feed.xml"\ninterval = "1m"\n'
            for group in GROUPS
        ),
        encoding="utf-8",
    )
    env = {
        **os.environ,
        **LOCAL_ENV,
        "FEEDS_CONFIG": str(config),
        "DATABASE_URL": postgres_url,
        "FEEDS_LOG_LEVEL": "WARNING",
        "FEEDS_BASE_URL": "https://feeds.example.org",  # as behind a load balancer
    }
    for _ in range(2):
        processes.append(launch([FEEDS, "harvest", "--forever"], env))
    bases = []
    for _ in range(2):
        port = free_port()
        processes.append(launch([FEEDS, "serve", "--port", str(port), "--no-harvest"], env))
        bases.append(f"http://127.0.0.1:{port}")
    for base in bases:
        await wait_until_up(http, base)

    # The first round: every group's posts on both instances.
    async with asyncio.timeout(30):
        while True:
            shown = [(await titles(http, f"{b}/network/news.atom"))[0] for b in bases]
            if all(len(s) == 2 * len(GROUPS) for s in shown):
                break
            await asyncio.sleep(0.2)

    # A group posts something new.
    changed_at = datetime.now(UTC)
    feeds["gruppe3"] = ["Neu: Sommerfest", *feeds["gruppe3"]]
    first_seen: dict[str, datetime] = {}
    async with asyncio.timeout(INTERVAL.total_seconds() + 30):
        while len(first_seen) < len(bases):
            for base in bases:
                if base not in first_seen:
                    shown, _, _ = await titles(http, f"{base}/gruppe3/news.atom")
                    if "Neu: Sommerfest" in shown:
                        first_seen[base] = datetime.now(UTC)
            await asyncio.sleep(0.05)
    assert max(first_seen.values()) - changed_at <= INTERVAL + timedelta(seconds=15)

    # Every source is read again at its interval (gruppe3's second read brought the
    # change; the others' follow within the round).
    store = await open_store(postgres_url)
    try:
        async with asyncio.timeout(INTERVAL.total_seconds() + 30):
            while True:
                records = await store.harvests()
                rounds = Counter((r.site, r.source) for r in records)
                if len(rounds) == len(GROUPS) and min(rounds.values()) >= 2:
                    break
                await asyncio.sleep(0.2)
    finally:
        await store.close()
    # Each instance served it within a second of the harvest that brought it.
    [bringing] = [
        r for r in records if r.site == "gruppe3" and r.new == 1 and r.finished >= changed_at
    ]
    for base, seen in first_seen.items():
        assert seen - bringing.finished < timedelta(seconds=1), (base, seen, bringing)

    # Identical content, identical validators, on every instance.
    for path in ("/gruppe3/news.atom", "/network/news.atom", "/network/news.json",
                 "/network/events.ics", "/gruppe3/", "/", "/opml"):  # fmt: skip
        answers = []
        for base in bases:
            status, headers, body = await get(http, base + path)
            assert status == 200, (base, path)
            answers.append((body, headers["ETag"], headers.get("Last-Modified")))
        assert answers[0] == answers[1], path

    # Never two workers on one source at once, by the store's own record.
    by_source: dict[tuple[str, str], list[tuple[datetime, datetime, str]]] = defaultdict(list)
    for record in records:
        by_source[record.site, record.source].append(
            (record.started, record.finished, record.worker)
        )
    assert set(by_source) == {(group, "rss") for group in GROUPS}
    for key, runs in by_source.items():
        runs.sort()
        assert len(runs) >= 2, key  # the first round and the one that found the change
        for (_, finished, _), (started, _, _) in itertools.pairwise(runs):
            assert started >= finished, (key, runs)
    workers = {worker for runs in by_source.values() for _, _, worker in runs}
    assert len(workers) == 2  # both worked, each on its share
