"""Upgrading keeps data: a database as the first version left it (schema 0001 and what it
harvested from its demo, recorded in tests/data/migrations/v1-demo.sql) is opened by this
version on both backends; every migration runs, and every item, its ids, the source's
validators and the revision are still there."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from feeds.model import Post
from feeds.store import ItemQuery, Store, open_store
from feeds.store.migrations import migrations
from sources.base import Validators
from tests.conftest import fresh_postgres_schema

V1_DATA = Path(__file__).parent / "data" / "migrations" / "v1-demo.sql"
V1_ITEMS = {
    ("post", "kaiserslautern", "gute-rahmenbedingungen-fuer-engagement"),
    ("event", "kaiserslautern", "demokratie-cafe-koenigstrasse"),
    ("event", "kaiserslautern", "rock-rising-2025"),
    ("post", "musterstadt", "willkommen"),
    ("event", "musterstadt", "freiwilligentag-2025"),
    ("event", "musterstadt", "engagement-sprechstunde"),
}


def first_version(dialect: str) -> str:
    [(version, sql)] = [step for step in migrations(dialect) if step[0] == 1]
    return (
        "CREATE TABLE schema_version (version INTEGER PRIMARY KEY);\n"
        f"{sql}\nINSERT INTO schema_version (version) VALUES ({version});\n"
        + V1_DATA.read_text(encoding="utf-8")
    )


@pytest.fixture(params=["sqlite", "postgres"])
async def v1_database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "postgres":
        async with fresh_postgres_schema() as url:
            db = await asyncpg.connect(url)
            try:
                await db.execute(first_version("postgres"))
            finally:
                await db.close()
            yield url
    else:
        path = tmp_path / "v1.sqlite3"
        with sqlite3.connect(path) as db:
            db.executescript(first_version("sqlite"))
        yield f"sqlite:///{path}"


async def test_upgrading_the_first_version_loses_nothing(v1_database: str) -> None:
    store: Store = await open_store(v1_database)
    try:
        posts = await store.posts(ItemQuery())
        events = await store.events(ItemQuery())
        found = {("post", p.item.site, p.item.external_id) for p in posts} | {
            ("event", e.item.site, e.item.external_id) for e in events
        }
        assert found == V1_ITEMS
        [rock] = [e for e in events if e.item.external_id == "rock-rising-2025"]
        assert rock.item.title == "Rock Rising"
        assert rock.item.start_instant() == datetime(2025, 3, 8, 19, tzinfo=UTC)
        assert rock.revision == 3
        # The columns later versions query by were filled in for the old rows.
        assert [e.item.title for e in await store.events(ItemQuery(text="rising"))] == [
            "Rock Rising"
        ]
        by_id = await store.events(ItemQuery(ids=(str(rock.item.uuid),)))
        assert [e.item.external_id for e in by_id] == ["rock-rising-2025"]
        state = await store.source_state("kaiserslautern", "demo")
        assert state.validators.etag is not None
        assert state.last_success is not None
        assert await store.revision() == 6
        # And it goes on: the next change takes the next revision; old items stay.
        post = Post(site="kaiserslautern", source="demo", external_id="neu", title="Neu")
        result = await store.save_batch("kaiserslautern", "neu", [post], [], Validators(),
                                        datetime.now(UTC))  # fmt: skip
        assert (result.new, result.revision) == (1, 7)
        assert len(await store.posts(ItemQuery())) == 3
    finally:
        await store.close()
