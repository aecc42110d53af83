"""The store contract, run against every backend on a real database."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from feeds.model import Event, EventStatus, Location, Post
from feeds.store import ItemQuery, Store, StoreError, open_store
from sources.base import Validators

BERLIN = ZoneInfo("Europe/Berlin")
T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    store = await open_store(store_url)
    yield store
    await store.close()


def post(external_id: str = "p1", **changes: object) -> Post:
    base = Post(
        site="ks",
        source="demo",
        external_id=external_id,
        title="Gute Rahmenbedingungen",
        url="https://example.org/p1",
        content_html="<p>Text</p>",
        categories=("Netzwerk",),
        published=datetime(2025, 2, 20, 10, tzinfo=BERLIN),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def event(external_id: str = "e1", **changes: object) -> Event:
    base = Event(
        site="ks",
        source="demo",
        external_id=external_id,
        title="Rock Rising",
        start=datetime(2025, 3, 8, 20, tzinfo=BERLIN),
        end=datetime(2025, 3, 8, 23, 59, tzinfo=BERLIN),
        location=Location(name="Kammgarn", geo=(49.44, 7.76)),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


async def test_items_round_trip_exactly(store: Store) -> None:
    all_day = event(
        "e2", start=date(2025, 9, 20), end=date(2025, 9, 21), status=EventStatus.TENTATIVE
    )
    await store.save_batch("ks", "demo", [post()], [event(), all_day], Validators("e", "lm"), T0)
    [stored_post] = await store.posts(ItemQuery())
    assert stored_post.item == post()
    events = [s.item for s in await store.events(ItemQuery())]
    assert events == [event(), all_day]
    assert events[0].timezone == "Europe/Berlin"


async def test_revisions_move_only_on_real_change(store: Store) -> None:
    first = await store.save_batch("ks", "demo", [post()], [event()], Validators(), T0)
    assert (first.new, first.changed, first.revision) == (2, 0, 2)
    again = await store.save_batch(
        "ks", "demo", [post()], [event()], Validators(), T0 + timedelta(hours=1)
    )
    assert (again.new, again.changed, again.unchanged, again.revision) == (0, 0, 2, 2)
    assert await store.revision() == 2
    [stored] = await store.events(ItemQuery())
    assert (stored.sequence, stored.changed, stored.first_seen) == (0, T0, T0)


async def test_a_changed_event_bumps_revision_and_sequence_and_keeps_first_seen(
    store: Store,
) -> None:
    await store.save_batch("ks", "demo", [], [event()], Validators(), T0)
    later = T0 + timedelta(days=1)
    result = await store.save_batch(
        "ks", "demo", [], [event(status=EventStatus.CANCELLED)], Validators(), later
    )
    assert (result.changed, result.revision) == (1, 2)
    [stored] = await store.events(ItemQuery())
    assert stored.item.status is EventStatus.CANCELLED
    assert (stored.sequence, stored.revision, stored.first_seen, stored.changed) == (
        1,
        2,
        T0,
        later,
    )


async def test_items_gone_upstream_are_kept(store: Store) -> None:
    await store.save_batch("ks", "demo", [post("a"), post("b")], [event()], Validators(), T0)
    await store.save_batch("ks", "demo", [post("b")], [], Validators(), T0 + timedelta(hours=1))
    assert sorted(p.item.external_id for p in await store.posts(ItemQuery())) == ["a", "b"]
    assert len(await store.events(ItemQuery())) == 1


async def test_queries_filter_by_site_and_order(store: Store) -> None:
    older = post("old", published=datetime(2024, 1, 1, tzinfo=BERLIN))
    other = post("x", site="ms", published=datetime(2025, 6, 1, tzinfo=BERLIN))
    await store.save_batch("ks", "demo", [older, post()], [], Validators(), T0)
    await store.save_batch("ms", "demo", [other], [], Validators(), T0)
    assert [p.item.external_id for p in await store.posts(ItemQuery(sites=["ks"]))] == ["p1", "old"]
    assert [p.item.external_id for p in await store.posts(ItemQuery(limit=2))] == ["x", "p1"]
    assert await store.item_counts() == {("ks", "post"): 2, ("ms", "post"): 1}


async def test_source_state_records_validators_success_and_failures(store: Store) -> None:
    assert (await store.source_state("ks", "demo")).last_success is None
    await store.save_batch("ks", "demo", [post()], [], Validators("etag-1", "Tue, 01 Jan 2026"), T0)
    await store.save_failure("ks", "demo", "example.org: 503", 503, T0 + timedelta(minutes=15))
    await store.save_failure("ks", "demo", "example.org: 503", 503, T0 + timedelta(minutes=45))
    state = await store.source_state("ks", "demo")
    assert state.validators == Validators("etag-1", "Tue, 01 Jan 2026")
    assert (state.last_success, state.last_attempt) == (T0, T0 + timedelta(minutes=45))
    assert (state.last_error, state.last_status, state.failures, state.items) == (
        "example.org: 503",
        503,
        2,
        1,
    )
    await store.save_not_modified(
        "ks", "demo", Validators("etag-1", "Wed"), T0 + timedelta(hours=1)
    )
    state = await store.source_state("ks", "demo")
    assert (state.failures, state.last_error, state.validators.last_modified) == (0, None, "Wed")


async def test_contents_survive_a_restart(store_url: str) -> None:
    first = await open_store(store_url)
    await first.save_batch("ks", "demo", [post()], [event()], Validators("e"), T0)
    await first.close()
    second = await open_store(store_url)
    try:
        assert await second.revision() == 2
        assert [p.item for p in await second.posts(ItemQuery())] == [post()]
        assert (await second.source_state("ks", "demo")).validators.etag == "e"
    finally:
        await second.close()


async def test_a_failing_batch_leaves_nothing_behind(store: Store) -> None:
    await store.save_batch("ks", "demo", [post()], [], Validators("old"), T0)

    # A bug half-way through a batch must not leave the first half written.
    broken = [post("new-1"), object(), post("new-2")]
    with pytest.raises((StoreError, AttributeError, TypeError)):
        await store.save_batch("ks", "demo", broken, [], Validators("new"), T0)  # type: ignore[list-item]
    assert [p.item.external_id for p in await store.posts(ItemQuery())] == ["p1"]
    assert (await store.source_state("ks", "demo")).validators.etag == "old"
    assert await store.revision() == 1


async def test_unknown_database_scheme_is_a_clear_error() -> None:
    with pytest.raises(StoreError, match="unsupported scheme 'mysql'"):
        await open_store("mysql://localhost/feeds")


def test_processes_opening_one_new_sqlite_file_at_once_all_open_it(tmp_path: Path) -> None:
    """`feeds serve --workers 2` on a new SQLite file: each process migrates it as it
    starts. One of them once found "table items already exists" and died (its
    supervisor started it again); each migration now looks again under the write lock."""
    url = f"sqlite:///{tmp_path / 'new.sqlite3'}"
    script = (
        "import asyncio, sys, time\n"
        "from feeds.store import open_store\n"
        "time.sleep(max(0.0, float(sys.argv[2]) - time.time()))\n"
        "async def main():\n"
        "    store = await open_store(sys.argv[1])\n"
        "    print(await store.revision())\n"
        "    await store.close()\n"
        "asyncio.run(main())\n"
    )
    start = str(time.time() + 1.5)  # all begin together, once every interpreter is up
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script, url, start],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    finished = [p.communicate(timeout=60) for p in processes]
    assert [p.returncode for p in processes] == [0] * 6, [err[-300:] for _, err in finished]
    assert {out.strip() for out, _ in finished} == {"0"}
