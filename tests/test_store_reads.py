"""Where the store reads for views: in the threads the service hands it (its idle-priority
render threads), never in the way of writes or of the health check's revision."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from feeds.model import Event, Post
from feeds.store import ItemQuery, open_store
from sources.base import Validators
from tests.test_store import post

R = TypeVar("R")
T0 = datetime(2026, 1, 1, tzinfo=UTC)


class HeldThreads:
    """An Offload whose thread can be held before it runs, as a scheduler may set an
    idle-priority thread aside while the core is busy; it records what ran in it."""

    def __init__(self) -> None:
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="held")
        self.release = threading.Event()
        self.waiting = threading.Event()
        self.threads: list[str] = []

    async def __call__(self, fn: Callable[[], R], /) -> R:
        def run() -> R:
            self.waiting.set()
            assert self.release.wait(10), "never released"
            self.threads.append(threading.current_thread().name)
            return fn()

        return await asyncio.get_running_loop().run_in_executor(self.executor, run)


async def test_views_read_in_the_given_threads_and_writes_never_wait_for_them(
    store_url: str,
) -> None:
    held = HeldThreads()
    store = await open_store(store_url, offload=held)
    try:
        held.release.set()
        await store.save_batch("ks", "demo", [post("p1")], [], Validators(), T0)
        assert [p.item.external_id for p in await store.posts(ItemQuery())] == ["p1"]
        assert held.threads
        assert all(name.startswith("held") for name in held.threads)

        held.release.clear()
        held.waiting.clear()
        reading = asyncio.create_task(store.posts(ItemQuery()))
        await asyncio.to_thread(held.waiting.wait, 5)  # the view's read is held in its thread
        async with asyncio.timeout(5):  # meanwhile the harvest writes, the health check reads
            before = await store.revision()
            await store.save_batch("ks", "demo", [post("p1"), post("p2")], [], Validators(), T0)
            await store.save_failure("ks", "other", "cannot connect", None, T0)
            await store.save_schedule("ks", "demo", T0 + timedelta(minutes=15))
            assert await store.revision() > before
            await store.last_harvest()
        assert not reading.done()
        held.release.set()
        seen = await asyncio.wait_for(reading, 5)
        # SQLite reads in the held thread, when it runs; PostgreSQL's rows came at once (only
        # their decoding was held): either way a whole read, never half of a write.
        expected = ["p1", "p2"] if store_url.startswith("sqlite") else ["p1"]
        assert sorted(p.item.external_id for p in seen) == expected
    finally:
        held.release.set()
        await store.close()
        held.executor.shutdown()


async def test_a_network_of_eleven_thousand_groups_is_one_question(store_url: str) -> None:
    """A network's views name every group, in up to three places of one statement: past
    the 32,767 parameters PostgreSQL and SQLite take, were each a parameter."""
    store = await open_store(store_url)
    try:
        now = datetime.now(UTC)
        post = Post(site="g7", source="web", external_id="p", title="Neu", published=now)
        start = now + timedelta(days=1)
        event = Event(site="g7", source="web", external_id="e", title="Treffen", start=start)
        await store.save_batch("g7", "web", [post], [event], Validators(), now)
        sites = [f"g{n}" for n in range(11_200)]
        [found] = await store.posts(ItemQuery(sites=sites))
        assert found.item.title == "Neu"
        [coming] = await store.events(ItemQuery(sites=sites, after=now, ids=(str(event.uuid),)))
        assert coming.item.title == "Treffen"
        assert await store.latest_end(ItemQuery(sites=sites), now + timedelta(days=9)) is not None
        assert await store.posts(ItemQuery(sites=sites[8:])) == []
    finally:
        await store.close()
