"""A render shared by every process (feeds/web/shared.py): taking it from the store,
against making it, for the same calendar, in the same run."""

from __future__ import annotations

import asyncio
import gzip
import statistics
import time
from datetime import UTC, datetime, timedelta

import brotli

from bench.render import best_of
from feeds.render.ics import CalendarInfo, render_calendar
from feeds.store import ItemQuery, SharedRender, open_store


async def _measure(db: str) -> tuple[float, float, int]:
    store = await open_store(db)
    try:
        events = await store.events(ItemQuery())
        info = CalendarInfo(
            name="Bench", description=None, timezone="Europe/Berlin", refresh=timedelta(hours=1)
        )

        def make() -> tuple[bytes, dict[str, bytes]]:
            body = render_calendar(info, events)
            return body, {"br": brotli.compress(body), "gzip": gzip.compress(body)}

        made = best_of(make, repeat=3)
        body, codings = make()
        now = datetime.now(UTC)
        revision = await store.revision()
        await store.claim_render("bench", revision, "bench", now, now + timedelta(seconds=30))
        await store.keep_render("bench", revision, "bench", SharedRender("{}", body, codings))
        taken = []
        for _ in range(20):
            began = time.perf_counter()
            await store.shared_render("bench", revision, time.time())
            taken.append(time.perf_counter() - began)
        return made, statistics.median(taken), len(body) + sum(map(len, codings.values()))
    finally:
        await store.close()


def measure(db: str) -> None:
    made, taken, size = asyncio.run(_measure(db))
    print(f"a render shared by every process ({size / 1e3:.0f} kB with its codings, SQLite)")
    print(f"  made (render and compress)   {made * 1e3:8.1f} ms  (baseline)")
    print(f"  taken from the store         {taken * 1e3:8.2f} ms  {taken / made:6.3f}x")
