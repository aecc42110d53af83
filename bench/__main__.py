"""Benchmarks: `make bench`. Every figure is printed beside a baseline measured in the same run.

1. Cold render cost per item, for each format.
2. Requests per second for a cached feed, against a bare aiohttp handler serving the same bytes.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp import web

from bench import harvest
from feeds.config import Config, Settings
from feeds.model import Event, Location, Network, Post, Site
from feeds.render.entries import FeedInfo, post_entry
from feeds.render.ics import CalendarInfo, render_calendar
from feeds.render.jsonfeed import render_json_feed
from feeds.render.syndication import render_atom, render_rss
from feeds.store import ItemQuery, open_store
from feeds.web.app import create_app
from feeds.web.caching import BytesMemo
from sources.base import Validators

BERLIN = ZoneInfo("Europe/Berlin")
PARAGRAPH = "<p>Engagierte Städte entstehen dort, wo sich Menschen gemeinsam einsetzen. </p>" * 8


def synthetic(posts: int, events: int) -> tuple[list[Post], list[Event]]:
    start = datetime(2025, 1, 1, 18, tzinfo=BERLIN)
    return (
        [
            Post(
                site="bench",
                source="synthetic",
                external_id=f"p{n}",
                title=f"Beitrag {n}: Ehrenamt in der Königstraße",
                url=f"https://example.org/posts/{n}",
                content_html=PARAGRAPH,
                categories=("Netzwerk", "Ehrenamt"),
                published=start + timedelta(hours=n),
            )
            for n in range(posts)
        ],
        [
            Event(
                site="bench",
                source="synthetic",
                external_id=f"e{n}",
                title=f"Termin {n}",
                start=start + timedelta(days=n),
                end=start + timedelta(days=n, hours=2),
                description=PARAGRAPH,
                location=Location(name="Stadtteilbüro", address="Königstraße 1", geo=(49.44, 7.76)),
                categories=("Treffen",),
            )
            for n in range(events)
        ],
    )


def best_of(fn: Callable[[], object], repeat: int = 7) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return min(times)


async def render_costs(db: str) -> None:
    store = await open_store(db)
    stored_posts = await store.posts(ItemQuery(limit=50))
    stored_events = await store.events(ItemQuery())
    await store.close()
    entries = [post_entry(p, None) for p in stored_posts]
    info = FeedInfo(
        id="urn:x", title="Bench", subtitle=None, self_url="http://x/", alternate_url="http://x/"
    )
    calendar = CalendarInfo(
        name="Bench", description=None, timezone="Europe/Berlin", refresh=timedelta(minutes=15)
    )
    memo = BytesMemo()
    render_calendar(calendar, stored_events, memo=memo)
    copy_cost = best_of(lambda: [bytes(PARAGRAPH, "utf-8") for _ in entries])
    baseline = copy_cost / len(entries)
    print(f"cold render, per item (baseline: encoding one item's HTML, {baseline * 1e6:.1f} µs)")
    for name, fn, count in [
        ("atom", lambda: render_atom(info, entries), len(entries)),
        ("rss", lambda: render_rss(info, entries), len(entries)),
        ("json", lambda: render_json_feed(info, entries), len(entries)),
        ("ics", lambda: render_calendar(calendar, stored_events), len(stored_events)),
        (
            "ics, VEVENTs kept",
            lambda: render_calendar(calendar, stored_events, memo=memo),
            len(stored_events),
        ),
    ]:
        seconds = best_of(fn)
        per_item = seconds / count
        print(
            f"  {name:17} {count:4} items  {per_item * 1e6:8.1f} µs/item"
            f"  {per_item / baseline:7.1f}x baseline"
        )


def _serve_bare(body: bytes, port: int) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/atom+xml", charset="utf-8")

    app = web.Application()
    app.router.add_get("/feed", handler)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def _serve_real(settings: Settings, config: Config, port: int) -> None:
    web.run_app(
        create_app(settings, config, harvest=False),
        host="127.0.0.1",
        port=port,
        print=None,
        access_log=None,
    )


async def load(url: str, seconds: float, concurrency: int) -> float:
    count = 0
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=concurrency)
    # Identity on both sides, so both serve the very same bytes.
    headers = {"Accept-Encoding": "identity"}
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def worker() -> None:
            nonlocal count
            while time.perf_counter() < deadline:
                async with session.get(url) as response:
                    await response.read()
                    assert response.status == 200
                count += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return count / seconds


async def wait_up(url: str) -> bytes:
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            try:
                async with session.get(url) as response:
                    return await response.read()
            except aiohttp.ClientError:
                await asyncio.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


def throughput(settings: Settings, config: Config, seconds: float) -> None:
    real = multiprocessing.Process(target=_serve_real, args=(settings, config, 18731), daemon=True)
    real.start()
    body = asyncio.run(wait_up("http://127.0.0.1:18731/bench/news.atom"))
    bare = multiprocessing.Process(target=_serve_bare, args=(body, 18732), daemon=True)
    bare.start()
    asyncio.run(wait_up("http://127.0.0.1:18732/feed"))
    try:
        rounds = [
            (
                asyncio.run(load("http://127.0.0.1:18732/feed", seconds, 16)),
                asyncio.run(load("http://127.0.0.1:18731/bench/news.atom", seconds, 16)),
            )
            for _ in range(3)
        ]
    finally:
        real.terminate()
        bare.terminate()
    base = statistics.median(r[0] for r in rounds)
    ours = statistics.median(r[1] for r in rounds)
    print(
        f"cached feed over HTTP ({len(body)} bytes, 16 connections, median of 3 × {seconds:.0f} s)"
    )
    print(f"  bare aiohttp handler, same bytes  {base:8.0f} req/s  (baseline)")
    print(f"  /bench/news.atom, cached          {ours:8.0f} req/s  {ours / base:5.2f}x baseline")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--seconds", type=float, default=3.0, help="per load round")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        posts, events = synthetic(50, 200)

        async def fill() -> None:
            store = await open_store(db)
            await store.save_batch(
                "bench", "synthetic", posts, events, Validators(), datetime.now(UTC)
            )
            await store.close()

        asyncio.run(fill())
        asyncio.run(render_costs(db))
        site = Site(slug="bench", name="Bench")
        config = Config(Network(name="Bench", sites=(site,)), {})
        throughput(Settings(database_url=db), config, args.seconds)


if __name__ == "__main__":
    main()
    harvest.main()
