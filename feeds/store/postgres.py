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
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from feeds import codec
from feeds.model import Coverage, Event, Notes, Post, Stored, Validators
from feeds.store.base import (
    HARVESTS_KEPT,
    BatchResult,
    Claim,
    HarvestRecord,
    ItemQuery,
    Offload,
    SourceState,
    StoreError,
    dump_notes,
    in_a_thread,
    load_notes,
    sort_time,
    unique_items,
)
from feeds.store.columns import Columns, columns, prepare
from feeds.store.migrations import migrations
from feeds.store.presence import Keep, Known, decide
from feeds.store.query import Binder, expired_items, latest_end, select_items

log = logging.getLogger(__name__)

MIGRATION_LOCK = 0x6665_6564  # "feed": one advisory lock id for schema changes
CHANNEL = "feeds_revision"  # NOTIFY'd with the new revision when a harvest changed items


class PostgresStore:
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

    async def close(self) -> None:
        await self._pool.close()

    async def revision(self) -> int:
        return int(await self._value("SELECT value FROM meta WHERE key = 'revision'"))

    async def save_batch(
        self,
        site: str,
        source: str,
        posts: Sequence[Post],
        events: Sequence[Event],
        validators: Validators,
        now: datetime,
        *,
        notes: Notes = Notes(),
        coverage: Coverage | None = None,
        keep: Keep = Keep(),
    ) -> BatchResult:
        items = await asyncio.to_thread(prepare, unique_items(posts, events))
        present = {event.external_id for event in events}
        try:
            async with self._pool.acquire() as db, db.transaction():
                revision = int(
                    await db.fetchval("SELECT value FROM meta WHERE key = 'revision' FOR UPDATE")
                )
                rows = await db.fetch(
                    "SELECT id, kind, external_id, content_hash, first_seen, sort_at, missing,"
                    " removed FROM items WHERE site = $1 AND source = $2",
                    site,
                    source,
                )
                known = {
                    (row["kind"], row["external_id"]): (
                        row["id"],
                        row["content_hash"],
                        row["first_seen"],
                    )
                    for row in rows
                }
                # What the source had before this read is what it may now lack (the rows
                # this read inserts are listed in it; one it updates was listed anyway).
                listed = [
                    Known(r["id"], r["external_id"], r["sort_at"], r["missing"], r["removed"])
                    for r in rows
                    if r["kind"] == "event"
                    and (coverage is not None or r["missing"] or r["removed"] is not None)
                ]
                inserts: list[tuple[Any, ...]] = []
                updates: list[tuple[Any, ...]] = []
                unchanged = 0
                for prepared in items:
                    item, kind, digest = prepared.item, prepared.kind, prepared.digest
                    previous = known.get((kind, item.external_id))
                    if previous is not None and previous[1] == digest:
                        unchanged += 1
                        continue
                    revision += 1
                    first_seen = previous[2] if previous is not None else now
                    values = (
                        prepared.data,
                        digest,
                        sort_time(item, first_seen),
                        now,
                        revision,
                        *_column_values(prepared.columns),
                    )
                    if previous is None:
                        inserts.append((kind, item.site, item.source, item.external_id, *values))
                    else:
                        updates.append((*values, previous[0]))
                await db.executemany(
                    "INSERT INTO items (kind, site, source, external_id, data, content_hash,"
                    " sort_at, changed, revision, uuid, series, ends_at, recurring, search,"
                    " categories, first_seen, sequence) VALUES ($1, $2, $3, $4, $5::jsonb, $6,"
                    " $7, $8, $9, $10, $11, $12, $13, $14, $15, $8, 0)",
                    inserts,
                )
                await db.executemany(
                    "UPDATE items SET data = $1::jsonb, content_hash = $2, sort_at = $3,"
                    " changed = $4, revision = $5, uuid = $6, series = $7, ends_at = $8,"
                    " recurring = $9, search = $10, categories = $11, sequence = sequence + 1"
                    " WHERE id = $12",
                    updates,
                )
                shown: list[tuple[Any, ...]] = []
                counted: list[tuple[Any, ...]] = []
                removed = restored = 0
                for change in decide(listed, present, coverage, now):
                    if change.shown:
                        revision += 1
                        removed += change.removed is not None
                        restored += change.removed is None
                        shown.append((change.missing, change.removed, revision, now, change.id))
                    else:
                        counted.append((change.missing, change.removed, change.id))
                await db.executemany(
                    "UPDATE items SET missing = $1, removed = $2, revision = $3, changed = $4"
                    " WHERE id = $5",
                    shown,
                )
                await db.executemany(
                    "UPDATE items SET missing = $1, removed = $2 WHERE id = $3", counted
                )
                sql, params = expired_items(site, source, now - keep.removed, keep.posts, DIALECT)
                expired = [row[0] for row in await db.fetch(sql, *params)]
                if expired:
                    await db.execute("DELETE FROM items WHERE id = ANY($1::bigint[])", expired)
                    revision += 1
                await db.execute("UPDATE meta SET value = $1 WHERE key = 'revision'", revision)
                if inserts or updates or shown or expired:  # delivered at commit, to every LISTENer
                    await db.execute("SELECT pg_notify($1, $2)", CHANNEL, str(revision))
                await _save_source(db, site, source, validators, now, status=None)
                await db.execute(
                    "UPDATE sources SET upstream_items = $3, skipped = $4, warnings = $5"
                    " WHERE site = $1 AND source = $2",
                    site,
                    source,
                    len(items),
                    dump_notes(notes.skipped),
                    dump_notes(notes.warnings),
                )
        except asyncpg.PostgresError as exc:
            raise StoreError(str(exc)) from exc
        return BatchResult(
            new=len(inserts),
            changed=len(updates) + restored,
            unchanged=unchanged,
            revision=revision,
            removed=removed,
        )

    async def save_not_modified(
        self, site: str, source: str, validators: Validators, now: datetime
    ) -> None:
        async with self._pool.acquire() as db:
            await _save_source(db, site, source, validators, now, status=304)

    async def save_failure(
        self, site: str, source: str, error: str, status: int | None, now: datetime
    ) -> None:
        await self._execute(
            "INSERT INTO sources (site, source, last_attempt, last_error, last_status, failures)"
            " VALUES ($1, $2, $3, $4, $5, 1) ON CONFLICT (site, source) DO UPDATE SET"
            " last_attempt = excluded.last_attempt, last_error = excluded.last_error,"
            " last_status = excluded.last_status, failures = sources.failures + 1",
            site,
            source,
            now,
            error,
            status,
        )

    async def save_schedule(
        self,
        site: str,
        source: str,
        next_run: datetime,
        *,
        gone: bool = False,
        moved_to: str | None = None,
        worker: str | None = None,
        record: HarvestRecord | None = None,
    ) -> None:
        try:
            async with self._pool.acquire() as db, db.transaction():
                await db.execute(
                    "INSERT INTO sources (site, source, next_run, gone, moved_to)"
                    " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (site, source) DO UPDATE SET"
                    " next_run = excluded.next_run, gone = excluded.gone,"
                    " moved_to = excluded.moved_to,"
                    # Only its own claim: after a lapse, another harvester's may be there.
                    " claimed_until = CASE WHEN sources.claimed_by = $6 THEN NULL"
                    " ELSE sources.claimed_until END",
                    site,
                    source,
                    next_run,
                    gone,
                    moved_to,
                    worker,
                )
                if record is not None:
                    await _record(db, record)
        except asyncpg.PostgresError as exc:
            raise StoreError(str(exc)) from exc

    async def claim(
        self, site: str, source: str, worker: str, now: datetime, lease: timedelta, *, due: bool
    ) -> Claim:
        try:
            async with self._pool.acquire() as db, db.transaction():
                # One statement: a new source is inserted claimed; a known one is claimed
                # only if free (or its own) and, with `due`, due. Of two harvesters at
                # once, the second waits for the first's row and then finds it taken
                # (READ COMMITTED re-checks the row it waited for).
                row = await db.fetchrow(
                    "INSERT INTO sources (site, source, claimed_by, claimed_until)"
                    " VALUES ($1, $2, $3, $5) ON CONFLICT (site, source) DO UPDATE SET"
                    " claimed_by = excluded.claimed_by, claimed_until = excluded.claimed_until"
                    " WHERE (sources.claimed_until IS NULL OR sources.claimed_until <= $4"
                    " OR sources.claimed_by = excluded.claimed_by)"
                    " AND (NOT $6 OR sources.next_run IS NULL OR sources.next_run <= $4)"
                    " RETURNING next_run",
                    site,
                    source,
                    worker,
                    now,
                    now + lease,
                    due,
                )
                if row is not None:
                    return Claim(True, next_run=row["next_run"])
                row = await db.fetchrow(
                    "SELECT next_run, claimed_until FROM sources WHERE site = $1 AND source = $2",
                    site,
                    source,
                )
        except asyncpg.PostgresError as exc:
            raise StoreError(str(exc)) from exc
        held = row["claimed_until"] if row["claimed_until"] and row["claimed_until"] > now else None
        return Claim(False, next_run=row["next_run"], held_until=held)

    async def record_harvest(self, record: HarvestRecord) -> None:
        try:
            async with self._pool.acquire() as db, db.transaction():
                await _record(db, record)
        except asyncpg.PostgresError as exc:
            raise StoreError(str(exc)) from exc

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
        changed: datetime | None = await self._value("SELECT max(changed) FROM items")
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
        rows = await self._fetch(*_unpack(select_items("post", query, DIALECT)))
        # Decoding is CPU work: off the event loop, so serving goes on meanwhile.
        return await self._offload(lambda: [_stored(row, Post) for row in rows])

    async def events(self, query: ItemQuery) -> list[Stored[Event]]:
        rows = await self._fetch(*_unpack(select_items("event", query, DIALECT)))
        return await self._offload(lambda: [_stored(row, Event) for row in rows])

    async def latest_end(self, query: ItemQuery, until: datetime | None) -> datetime | None:
        sql, params = latest_end(query, until, DIALECT)
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
            )
            for row in rows
        ]

    async def _fetch(self, sql: str, *params: Any) -> list[asyncpg.Record]:
        try:
            rows: list[asyncpg.Record] = await self._pool.fetch(sql, *params)
            return rows
        except (OSError, asyncpg.PostgresError) as exc:
            raise StoreError(str(exc)) from exc

    async def _value(self, sql: str) -> Any:
        try:
            return await self._pool.fetchval(sql)
        except (OSError, asyncpg.PostgresError) as exc:
            raise StoreError(str(exc)) from exc

    async def _execute(self, sql: str, *params: Any) -> None:
        try:
            await self._pool.execute(sql, *params)
        except (OSError, asyncpg.PostgresError) as exc:
            raise StoreError(str(exc)) from exc


async def _record(db: asyncpg.Connection, record: HarvestRecord) -> None:
    await db.execute(
        "DELETE FROM harvests WHERE site = $1 AND source = $2 AND started < $3",
        record.site,
        record.source,
        record.finished - HARVESTS_KEPT,
    )
    await db.execute(
        "INSERT INTO harvests (site, source, worker, started, finished, status, new, changed,"
        " error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        record.site,
        record.source,
        record.worker,
        record.started,
        record.finished,
        record.status,
        record.new,
        record.changed,
        record.error,
    )


async def _save_source(
    db: asyncpg.Connection,
    site: str,
    source: str,
    validators: Validators,
    now: datetime,
    *,
    status: int | None,
) -> None:
    await db.execute(
        "INSERT INTO sources (site, source, etag, last_modified, last_attempt, last_success,"
        " last_error, last_status, failures) VALUES ($1, $2, $3, $4, $5, $5, NULL, $6, 0)"
        " ON CONFLICT (site, source) DO UPDATE SET etag = excluded.etag,"
        " last_modified = excluded.last_modified, last_attempt = excluded.last_attempt,"
        " last_success = excluded.last_success, last_error = NULL,"
        " last_status = excluded.last_status, failures = 0",
        site,
        source,
        validators.etag,
        validators.last_modified,
        now,
        status,
    )


def _stored(row: asyncpg.Record, kind: type[Any]) -> Stored[Any]:
    item = codec.loads(row["data"])
    assert isinstance(item, kind)
    return Stored(item, row["first_seen"], row["changed"], row["revision"], row["sequence"])


def _unpack(statement: tuple[str, list[Any]]) -> tuple[str, ...]:
    sql, params = statement
    return (sql, *params)


def _column_values(derived: Columns) -> tuple[Any, ...]:
    return (
        derived.uuid,
        derived.series,
        derived.ends_at,
        derived.recurring,
        derived.search,
        list(derived.categories),
    )


async def _fill_columns(db: asyncpg.Connection) -> None:
    """Query columns for rows written before they existed (migration 0004)."""
    while rows := await db.fetch("SELECT id, data FROM items WHERE uuid IS NULL LIMIT 500"):
        await db.executemany(
            "UPDATE items SET uuid = $1, series = $2, ends_at = $3, recurring = $4,"
            " search = $5, categories = $6 WHERE id = $7",
            [(*_column_values(columns(codec.loads(row["data"]))), row["id"]) for row in rows],
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
    def placeholder(self, position: int) -> str:
        return f"${position}"

    def instant(self, value: datetime) -> datetime:
        return value

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
