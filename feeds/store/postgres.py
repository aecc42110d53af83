"""The store for several instances: PostgreSQL through asyncpg.

Same contract as the SQLite store. Revisions stay monotonic across instances because each
batch takes the revision row's lock (SELECT … FOR UPDATE) inside its transaction, and a
batch that changed items NOTIFYs the new revision to every instance; migrations take an
advisory lock, so instances starting together migrate once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import asyncpg

from feeds import codec
from feeds.model import Event, Post, Stored, Validators
from feeds.store.base import (
    HarvestRecord,
    ItemQuery,
    Offload,
    SourceState,
    StoreError,
    in_a_thread,
    load_notes,
    store_errors,
)
from feeds.store.columns import Columns, columns
from feeds.store.dialect import Binder, Dialect, Many, One, Plan, Row, Statement, Written
from feeds.store.migrations import migrations
from feeds.store.query import LAST_CHANGE, latest_end, select_items
from feeds.store.writes import Writes

R = TypeVar("R")
log = logging.getLogger(__name__)
# What asyncpg raises (and a dropped connection's OSError) becomes a StoreError.
_guarded = store_errors(OSError, asyncpg.PostgresError, asyncpg.InterfaceError)

MIGRATION_LOCK = 0x6665_6564  # "feed": one advisory lock id for schema changes
CHANNEL = "feeds_revision"  # NOTIFY'd with the new revision when a harvest changed items


class PostgresStore(Writes):
    def __init__(self, pool: asyncpg.Pool, url: str, offload: Offload = in_a_thread) -> None:
        self._pool = pool
        self._offload = offload  # decodes rows read
        self._url = url  # for the LISTEN connection, which lives outside the pool

    @classmethod
    async def open(cls, url: str, offload: Offload = in_a_thread) -> PostgresStore:
        try:
            pool = await asyncpg.create_pool(url, min_size=1, max_size=8)
        except (OSError, asyncpg.PostgresError) as exc:
            raise StoreError(f"cannot connect to PostgreSQL: {exc}") from exc
        store = cls(pool, url, offload)
        try:
            await store._migrate()
        except asyncpg.PostgresError as exc:
            await pool.close()
            raise StoreError(f"cannot migrate the PostgreSQL schema: {exc}") from exc
        return store

    async def _migrate(self) -> None:
        async with self._pool.acquire() as db, db.transaction():
            await db.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
            await db.execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY)"
            )
            done = {row[0] for row in await db.fetch("SELECT version FROM schema_version")}
            for version, sql in migrations("postgres"):
                if version not in done:
                    await db.execute(sql)
                    await db.execute("INSERT INTO schema_version (version) VALUES ($1)", version)
            await _fill_columns(db)
            await _search_index(db)

    @property
    def dialect(self) -> Dialect:
        return DIALECT

    async def close(self) -> None:
        await self._pool.close()

    async def revision(self) -> int:
        return int(await self._value("SELECT value FROM meta WHERE key = 'revision'"))

    @_guarded
    async def _transact(self, plan: Plan[R]) -> R:
        """The plan on one connection, in one transaction; each statement awaited."""
        async with self._pool.acquire() as db, db.transaction():
            try:
                statement = next(plan)
                while True:
                    statement = plan.send(await _execute(db, statement))
            except StopIteration as done:
                result: R = done.value
                return result
            finally:
                plan.close()

    async def harvests(self, since: datetime | None = None) -> list[HarvestRecord]:
        rows = await self._fetch(
            "SELECT site, source, worker, started, finished, status, new, changed, error"
            " FROM harvests WHERE $1::timestamptz IS NULL OR finished >= $1 ORDER BY finished, id",
            since,
        )
        return [HarvestRecord(*row) for row in rows]

    async def last_harvest(self) -> datetime | None:
        finished: datetime | None = await self._value("SELECT max(finished) FROM harvests")
        return finished

    async def last_change(self) -> datetime | None:
        changed: datetime | None = await self._value(LAST_CHANGE)
        return changed

    async def revisions(self, poll: float) -> AsyncIterator[int]:
        """LISTEN on a connection of its own (pooled connections are reset on release),
        reconnecting when it drops; a poll every `poll` seconds covers the gaps."""
        changed = asyncio.Event()

        def notified(*_: object) -> None:
            changed.set()

        listener: asyncpg.Connection | None = None
        try:
            while True:
                if listener is None or listener.is_closed():
                    listener = await self._listen(notified)
                    if listener is not None:
                        changed.set()  # what moved while we were not listening
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), poll)
                changed.clear()
                try:
                    yield await self.revision()
                except StoreError:
                    log.exception("cannot read the store revision")
        finally:
            if listener is not None and not listener.is_closed():
                await listener.close()

    async def _listen(self, notified: Callable[..., None]) -> asyncpg.Connection | None:
        try:
            connection = await asyncpg.connect(self._url)
            await connection.add_listener(CHANNEL, notified)
            return connection
        except (OSError, asyncpg.PostgresError):
            log.exception("cannot LISTEN for revisions; polling until the next try")
            return None

    async def source_state(self, site: str, source: str) -> SourceState:
        states = await self._states("WHERE s.site = $1 AND s.source = $2", site, source)
        return states[0] if states else SourceState(site=site, source=source)

    async def source_states(self) -> list[SourceState]:
        return await self._states("")

    async def item_counts(self) -> dict[tuple[str, str], int]:
        rows = await self._fetch(
            "SELECT site, kind, count(*) FROM items WHERE removed IS NULL GROUP BY site, kind"
        )
        return {(row[0], row[1]): row[2] for row in rows}

    async def posts(self, query: ItemQuery) -> list[Stored[Post]]:
        query = await self.narrowed(query)
        rows = await self._fetch(*_unpack(select_items("post", query, DIALECT)))
        # Decoding is CPU work: off the event loop, so serving goes on meanwhile.
        return await self._offload(lambda: [_stored(row, Post) for row in rows])

    async def events(self, query: ItemQuery) -> list[Stored[Event]]:
        query = await self.narrowed(query)
        rows = await self._fetch(*_unpack(select_items("event", query, DIALECT)))
        return await self._offload(lambda: [_stored(row, Event) for row in rows])

    async def latest_end(
        self, query: ItemQuery, until: datetime | None, kind: str = "event"
    ) -> datetime | None:
        sql, params = latest_end(await self.narrowed(query), until, DIALECT, kind)
        [row] = await self._fetch(sql, *params)
        value: datetime | None = row[0]
        return value

    async def _states(self, where: str, *params: Any) -> list[SourceState]:
        rows = await self._fetch(
            "SELECT s.*, (SELECT count(*) FROM items i WHERE i.site = s.site"
            " AND i.source = s.source AND i.removed IS NULL) AS items"
            f" FROM sources s {where} ORDER BY s.site, s.source",
            *params,
        )
        return [
            SourceState(
                site=row["site"],
                source=row["source"],
                validators=Validators(row["etag"], row["last_modified"]),
                last_attempt=row["last_attempt"],
                last_success=row["last_success"],
                last_error=row["last_error"],
                last_status=row["last_status"],
                failures=row["failures"],
                items=row["items"],
                upstream_items=row["upstream_items"],
                next_run=row["next_run"],
                gone=row["gone"],
                moved_to=row["moved_to"],
                notes=load_notes(row["skipped"], row["warnings"]),
                failing_since=row["failing_since"],
            )
            for row in rows
        ]

    @_guarded
    async def _fetch(self, sql: str, *params: Any) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self._pool.fetch(sql, *params)
        return rows

    @_guarded
    async def _value(self, sql: str) -> Any:
        return await self._pool.fetchval(sql)


async def _execute(db: asyncpg.Connection, statement: Statement) -> list[Row]:
    if isinstance(statement, Many):
        if statement.rows:
            await db.executemany(statement.sql, statement.rows)
        return []
    rows: list[Row] = await db.fetch(statement.sql, *statement.params)
    return rows


def _stored(row: asyncpg.Record, kind: type[Any]) -> Stored[Any]:
    item = codec.loads(row["data"])
    assert isinstance(item, kind)
    return Stored(item, row["first_seen"], row["changed"], row["revision"], row["sequence"])


def _unpack(statement: tuple[str, list[Any]]) -> tuple[str, ...]:
    sql, params = statement
    return (sql, *params)


async def _fill_columns(db: asyncpg.Connection) -> None:
    """Query columns for rows written before they existed (migration 0004)."""
    while rows := await db.fetch("SELECT id, data FROM items WHERE uuid IS NULL LIMIT 500"):
        await db.executemany(
            "UPDATE items SET uuid = $1, series = $2, ends_at = $3, recurring = $4,"
            " search = $5, categories = $6 WHERE id = $7",
            [
                (*DIALECT.item_columns(columns(codec.loads(row["data"]))).values(), row["id"])
                for row in rows
            ],
        )


async def _search_index(db: asyncpg.Connection) -> None:
    """A trigram index for `q` (pg_trgm), wherever that extension lives or can be made.

    Without it, searches stay correct and read the rows of the groups asked for.
    """
    if await db.fetchval("SELECT to_regclass('items_by_search') IS NOT NULL"):
        return
    schema = await _trigram_schema(db)
    if schema is None:
        try:
            async with db.transaction():  # a savepoint: a refusal leaves the migration intact
                await db.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        except asyncpg.PostgresError as exc:
            log.warning("no trigram index for searches (pg_trgm: %s); they scan instead", exc)
            return
        schema = await _trigram_schema(db)
    await db.execute(
        f'CREATE INDEX items_by_search ON items USING GIN (search "{schema}".gin_trgm_ops)'
    )


async def _trigram_schema(db: asyncpg.Connection) -> str | None:
    schema: str | None = await db.fetchval(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
        " WHERE e.extname = 'pg_trgm'"
    )
    return schema


class _Dialect:
    for_update = " FOR UPDATE"

    def placeholder(self, position: int) -> str:
        return f"${position}"

    def instant(self, value: datetime) -> datetime:
        return value

    def moment(self, value: Any) -> datetime:
        assert isinstance(value, datetime)
        return value

    def one_of(self, bind: Binder, values: Sequence[Any]) -> str:
        # One array parameter: one prepared statement, whatever the number of values.
        return f"= ANY({bind(list(values))})"

    def json(self, placeholder: str) -> str:
        return f"{placeholder}::jsonb"

    def item_columns(self, derived: Columns) -> dict[str, Any]:
        return {
            "uuid": derived.uuid,
            "series": derived.series,
            "ends_at": derived.ends_at,
            "recurring": derived.recurring,
            "search": derived.search,
            "categories": list(derived.categories),
        }

    def index_items(self, since_revision: int, written: Sequence[Written]) -> Plan[None]:
        yield from ()  # the item row holds it all (item_columns)

    def forget_items(self, ids: Sequence[int]) -> Plan[None]:
        yield from ()

    def announce(self, revision: int) -> Plan[None]:
        # Delivered at commit, to every instance that LISTENs (revisions()).
        yield One("SELECT pg_notify($1, $2)", (CHANNEL, str(revision)))

    def in_categories(self, alias: str, bind: Binder, categories: Sequence[str]) -> str:
        # PostgreSQL text cannot hold a NUL, so no kept category has one: it matches none.
        kept = [c for c in categories if "\x00" not in c]
        return f"{alias}.categories && {bind(kept)}::text[]"

    def contains(self, alias: str, bind: Binder, needle: str) -> str:
        if "\x00" in needle:  # nor does any kept text
            return "FALSE"
        # LIKE (not strpos) so the trigram index serves it; the text is folded already.
        escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return f"{alias}.search LIKE {bind('%' + escaped + '%')}"


DIALECT = _Dialect()
