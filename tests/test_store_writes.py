"""The store's writes, written once (feeds/store/writes.py), give the same results on both
databases: which items are new, changed or unchanged, their revisions, first sightings
and iCalendar sequences, what is removed and what expires, the source's state; and
whatever a database raises reaches callers as the store's own error.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from feeds.model import Coverage, Event, Notes, Post, Validators
from feeds.store import HarvestRecord, ItemQuery, StoreError, open_store
from feeds.store.changes import Previous, decide_items
from feeds.store.columns import prepare
from feeds.store.presence import Keep

BERLIN = ZoneInfo("Europe/Berlin")
T0 = datetime(2026, 12, 4, 12, tzinfo=UTC)
HOUR = timedelta(hours=1)


def post(number: int, version: int = 0) -> Post:
    return Post(
        site="ks", source="news", external_id=f"p{number}", title=f"Post {number} v{version}",
        categories=("Umwelt", f"Thema {number % 3}"), content_html=f"<p>Text {number}</p>",
        # Every other post has no date: it is dated by when it was first seen.
        published=T0 - timedelta(days=number) if number % 2 == 0 else None,
    )  # fmt: skip


def event(number: int, version: int = 0) -> Event:
    return Event(
        site="ks", source="cal", external_id=f"e{number}", title=f"Termin {number} v{version}",
        start=datetime(2027, 1, 1, 19, tzinfo=BERLIN) + timedelta(days=number),
        categories=("Kultur",), rrule="FREQ=WEEKLY;COUNT=3" if number == 3 else None,
    )  # fmt: skip


async def test_a_sequence_of_reads_is_written_alike_on_both_stores(store_url: str) -> None:
    store = await open_store(store_url)
    try:
        first = await store.save_batch(
            "ks", "news", [post(n) for n in range(6)], [], Validators("a"), T0,
            notes=Notes(("ein Beitrag ohne Titel",), ()),
        )  # fmt: skip
        assert (first.new, first.changed, first.unchanged, first.revision) == (6, 0, 0, 6)
        # Two change, two are new, the oldest goes past what the store keeps of the source.
        again = await store.save_batch(
            "ks", "news", [post(n, 1 if n in (1, 2) else 0) for n in range(8)], [],
            Validators("b"), T0 + HOUR, keep=Keep(posts=7),
        )  # fmt: skip
        assert (again.new, again.changed, again.unchanged) == (2, 2, 4)
        assert again.revision == 6 + 4 + 1  # one per change, one for what expired
        posts = {p.item.external_id: p for p in await store.posts(ItemQuery(sites=["ks"]))}
        # The oldest by its date went; undated, p7 is dated by when it was first seen.
        assert sorted(posts) == ["p0", "p1", "p2", "p3", "p4", "p5", "p7"]
        changed = posts["p1"]
        assert changed.item.title == "Post 1 v1"
        assert changed.sequence == 1
        assert changed.first_seen == T0
        assert changed.changed == T0 + HOUR
        assert posts["p3"].sequence == 0
        assert posts["p3"].changed == T0
        assert {p.revision for p in posts.values() if p.changed == T0 + HOUR} == {7, 8, 10}
        found = await store.posts(ItemQuery(sites=["ks"], categories=("thema 1",), text="v1"))
        assert [p.item.external_id for p in found] == ["p1"]  # indexes follow the change

        whole = Coverage()
        await store.save_batch("ks", "cal", [], [event(n) for n in range(5)], Validators(), T0,
                               coverage=whole)  # fmt: skip
        once = await store.save_batch("ks", "cal", [], [event(n) for n in (0, 1, 2, 3)],
                                      Validators(), T0 + HOUR, coverage=whole)  # fmt: skip
        assert (once.removed, once.changed) == (0, 0)  # missing once: not yet
        twice = await store.save_batch("ks", "cal", [], [event(n) for n in (0, 1, 2, 3)],
                                       Validators(), T0 + 2 * HOUR, coverage=whole)  # fmt: skip
        assert twice.removed == 1
        back = await store.save_batch("ks", "cal", [], [event(n) for n in range(5)],
                                      Validators(), T0 + 3 * HOUR, coverage=whole)  # fmt: skip
        assert (back.new, back.changed, back.removed) == (0, 1, 0)  # listed again: back
        events = await store.events(ItemQuery(sites=["ks"]))
        assert [e.item.external_id for e in events] == ["e0", "e1", "e2", "e3", "e4"]

        state = await store.source_state("ks", "news")
        assert state.validators == Validators("b")
        assert state.upstream_items == 8
        assert state.items == 7
        assert state.notes == Notes()
        assert state.last_success == T0 + HOUR
        assert state.failures == 0
        await store.save_failure("ks", "news", "cannot connect", 503, T0 + 2 * HOUR)
        await store.save_failure("ks", "news", "cannot connect", None, T0 + 3 * HOUR)
        state = await store.source_state("ks", "news")
        assert (state.failures, state.last_status, state.last_error) == (2, None, "cannot connect")
        await store.save_not_modified("ks", "news", Validators("c"), T0 + 4 * HOUR)
        state = await store.source_state("ks", "news")
        assert (state.failures, state.last_status, state.validators) == (0, 304, Validators("c"))
        assert await store.revision() == back.revision  # the source's state is not content
    finally:
        await store.close()


def test_the_decision_needs_no_database() -> None:
    one, two, three = prepare([post(1), post(2), post(3)], datetime.now(UTC))
    stored = {
        ("post", "p1"): Previous(41, one.digest, T0 - HOUR),  # as read: unchanged
        ("post", "p2"): Previous(42, "another digest", T0 - HOUR),  # changed upstream
    }
    changes = decide_items([one, two, three], stored, T0, revision=10)
    assert changes.unchanged == 1
    assert changes.revision == 12
    [changed] = changes.changed
    assert (changed.id, changed.revision, changed.first_seen) == (42, 11, T0 - HOUR)
    [new] = changes.new
    assert (new.id, new.revision, new.first_seen) == (None, 12, T0)
    assert new.sort_at == T0  # undated: when first seen
    assert changed.sort_at == T0 - timedelta(days=2)  # its own date


async def test_what_a_database_raises_is_the_stores_error(store_url: str) -> None:
    store = await open_store(store_url)
    try:
        await store.save_failure("ks", "news", "cannot connect", None, T0)
        # Another hand breaks the database under the running store.
        if store_url.startswith("sqlite"):
            other = sqlite3.connect(store_url.removeprefix("sqlite:///"))
            other.execute("DROP TABLE harvests")
            other.close()
        else:
            db = await asyncpg.connect(store_url)
            await db.execute("DROP TABLE harvests")
            await db.close()
        with pytest.raises(StoreError, match="harvests"):
            await store.harvests()
        with pytest.raises(StoreError, match="harvests"):
            await store.save_schedule(
                "ks", "news", T0 + HOUR, record=HarvestRecord("ks", "news", "w", T0, T0, "ok")
            )
        # The failed write was one transaction: none of it was kept.
        assert (await store.source_state("ks", "news")).next_run is None
    finally:
        await store.close()
