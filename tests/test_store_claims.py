"""Several processes on one store: a source is claimed by one harvester at a time, every
harvest is recorded, and an instance learns of another's harvest at once (PostgreSQL
NOTIFY) or by polling (SQLite). Each "process" here is a store of its own: its own
connection (pool) to the same real database."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from feeds.model import Post
from feeds.store import Store, open_store
from feeds.store.base import HARVESTS_KEPT, HarvestRecord
from sources.base import Validators

NOW = datetime.now(UTC).replace(microsecond=0)
LEASE = timedelta(minutes=3)


@contextlib.asynccontextmanager
async def stores(url: str, count: int) -> AsyncIterator[list[Store]]:
    opened = [await open_store(url) for _ in range(count)]
    try:
        yield opened
    finally:
        for store in opened:
            await store.close()


async def test_one_claim_at_a_time_until_done_or_lapsed(store_url: str) -> None:
    async with stores(store_url, 2) as (a, b):
        assert (await a.claim("ks", "wp", "a", NOW, LEASE, due=True)).granted
        refused = await b.claim("ks", "wp", "b", NOW, LEASE, due=True)
        assert not refused.granted
        assert refused.held_until == NOW + LEASE
        # Done: the claim ends and the next run is in ten minutes.
        await a.save_schedule("ks", "wp", NOW + timedelta(minutes=10), worker="a")
        not_due = await b.claim("ks", "wp", "b", NOW, LEASE, due=True)
        assert (not_due.granted, not_due.held_until) == (False, None)
        assert not_due.next_run == NOW + timedelta(minutes=10)
        # Asked to run now (an operator's harvest), it may, being free.
        assert (await b.claim("ks", "wp", "b", NOW, LEASE, due=False)).granted
        # b dies holding it: after the lease, a takes over; b's late schedule keeps a's claim.
        later = NOW + LEASE + timedelta(seconds=1)
        assert (await a.claim("ks", "wp", "a", later, LEASE, due=False)).granted
        await b.save_schedule("ks", "wp", later, worker="b")
        assert not (await b.claim("ks", "wp", "b", later, LEASE, due=False)).granted


async def test_of_many_claiming_at_once_exactly_one_wins(store_url: str) -> None:
    async with stores(store_url, 6) as many:
        for round_ in range(5):
            source = f"source-{round_}"
            claims = await asyncio.gather(
                *(s.claim("ks", source, f"w{n}", NOW, LEASE, due=True) for n, s in enumerate(many))
            )
            assert sum(c.granted for c in claims) == 1, claims


async def test_harvests_are_recorded_and_old_ones_let_go(store_url: str) -> None:
    async with stores(store_url, 1) as (store,):
        old = HarvestRecord("ks", "wp", "a", NOW - HARVESTS_KEPT * 2, NOW - HARVESTS_KEPT * 2, "ok")
        await store.record_harvest(old)
        records = [
            HarvestRecord("ks", "wp", "a", NOW, NOW + timedelta(seconds=2), "ok", 3, 1),
            HarvestRecord("ks", "ical", "b", NOW, NOW + timedelta(seconds=3), "failed",
                          error="HTTP 500"),
        ]  # fmt: skip
        for record in records:
            await store.record_harvest(record)
        assert await store.harvests() == records  # the old one went with the new ones
        assert await store.harvests(since=NOW + timedelta(seconds=3)) == records[1:]


async def test_an_instance_learns_of_another_ones_harvest(store_url: str) -> None:
    async with stores(store_url, 2) as (web, worker):
        postgres = store_url.startswith("postgresql")
        # PostgreSQL must tell within a second though the poll is far off; SQLite is polled.
        poll = 30.0 if postgres else 0.2
        seen: list[int] = []
        moved = asyncio.Event()

        async def follow() -> None:
            async for revision in web.revisions(poll):
                seen.append(revision)
                moved.set()

        task = asyncio.create_task(follow())
        try:
            await asyncio.sleep(0.5)  # listening
            post = Post(site="ks", source="wp", external_id="1", title="Neu")
            result = await worker.save_batch("ks", "wp", [post], [], Validators(), NOW)
            async with asyncio.timeout(1.0):
                while result.revision not in seen:
                    await moved.wait()
                    moved.clear()
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        assert await web.last_change() == NOW
