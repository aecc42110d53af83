"""Benchmarks: `make bench`. Every figure is printed beside a baseline measured in the same run.

1. Cold render cost per item, for each format.
2. Requests per second for cached responses (200, gzip, 304), measured at the server with
   wrk on another core, against a bare aiohttp handler serving the same bytes (bench/http.py).
3. Filtered requests on a 25,000-post group against a 1,000-post one; a cached request's
   p99 while filtered requests run; peak memory with a network's feeds cached
   (bench/queries.py).
4. The wall time of harvesting 112 simulated sources, against the slowest one (bench/harvest.py).
5. Reading a calendar per event at 5,000, 20,000 and 40,000 events, and the refusal of
   larger ones (bench/parsing.py).
6. A render shared by every process: taken from the store, against made (bench/shared.py).
7. Delivering a new post to followers on 50 and 200 servers, against a bare client's
   POSTs (bench/federation.py).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bench import federation, harvest, network, parsing, queries, shared, workers
from bench import http as bench_http
from bench import render as bench_render
from bench.render import best_of
from feeds.model import Event, Location, Post, Stored
from feeds.render.entries import FeedInfo, post_entry
from feeds.render.ics import CalendarInfo, render_calendar
from feeds.render.jsonfeed import render_json_feed
from feeds.render.syndication import render_atom, render_rss
from feeds.store import ItemQuery, open_store
from feeds.web.cache import BytesMemo
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
    bench_render.compare(info, entries, calendar, stored_events)


def incremental_calendar(count: int = 3400) -> None:
    """One event changed in a big network calendar: only its VEVENT is rendered again."""
    _, events = synthetic(0, count)
    seen = datetime(2026, 1, 1, tzinfo=UTC)
    stored = [Stored(e, seen, seen, 1, 0) for e in events]
    info = CalendarInfo(
        name="Netz", description=None, timezone="Europe/Berlin", refresh=timedelta(minutes=15)
    )
    memo = BytesMemo()
    full = best_of(lambda: render_calendar(info, stored), repeat=3)
    render_calendar(info, stored, memo=memo)  # as served before the change
    changed = replace(stored[1700].item, title="Termin 1700 (verlegt)")
    stored[1700] = Stored(changed, seen, seen, 2, 1)
    again = best_of(lambda: render_calendar(info, stored, memo=memo), repeat=3)
    same = render_calendar(info, stored, memo=memo) == render_calendar(info, stored)
    print(f"one event changed in a {count}-event calendar (goal: <= 5 % of a full render)")
    print(f"  full render                {full * 1e3:8.1f} ms  (baseline)")
    print(
        f"  re-render, VEVENTs kept    {again * 1e3:8.1f} ms  {again / full * 100:5.1f} %"
        f"  byte-identical to a full render: {same}"
    )


BENCH_CONFIG = """
[network]
name = "Bench"

[[sites]]
slug = "bench"
name = "Bench"
"""


def throughput(db: str, seconds: float, tmp: Path) -> None:
    missing = bench_http.tools_missing()
    if missing:
        print(f"cached responses at the server: not measured ({missing})")
        return
    config = tmp / "sites.toml"
    config.write_text(BENCH_CONFIG)
    results = bench_http.measure(config, db, ["/bench/news.atom", "/network/events.ics"], seconds)
    bench_http.report(results, seconds)
    workers.measure(config, db, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--seconds", type=float, default=5.0, help="per wrk run")
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
        incremental_calendar()
        shared.measure(db)
        throughput(db, args.seconds, Path(tmp))
        queries.filtered(Path(tmp), args.seconds)
        queries.memory(Path(tmp))
        network.measure(Path(tmp))
        parsing.measure()
        federation.deliveries()


if __name__ == "__main__":
    main()
    harvest.main()
