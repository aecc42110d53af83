"""The embedded store: one SQLite file in WAL mode, driven from worker threads.

One connection writes (and answers what the harvester and the health check read), one
thread at a time under a lock. What views read (items, counts, dates) is read through a
connection of the reading thread's own, in the threads `offload` gives: the service's
idle-priority render threads. WAL lets those readers and the writer go on side by side,
so a write never waits for a render thread the scheduler has set aside."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

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
from feeds.store.columns import Columns, Prepared, columns, prepare
from feeds.store.migrations import migrations
from feeds.store.presence import Keep, Known, decide
from feeds.store.query import Binder, expired_items, latest_end, select_items

R = TypeVar("R")
log = logging.getLogger(__name__)


class SQLiteStore:
    def __init__(
        self, connection: sqlite3.Connection, path: str, offload: Offload = in_a_thread
    ) -> None:
        self._db = connection
        # One connection, one writer at a time; the lock keeps worker threads apart.
        self._lock = threading.Lock()
        self._path = path
        self._offload = offload  # where views' reads run
        self._readers = threading.local()  # each reading thread's connection
        self._opened: list[sqlite3.Connection] = []  # closed with the store
        self._opened_lock = threading.Lock()

    @classmethod
    async def open(cls, path: str, offload: Offload = in_a_thread) -> SQLiteStore:
        def connect() -> sqlite3.Connection:
            db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA busy_timeout=5000")
            db.execute("PRAGMA foreign_keys=ON")
            _migrate(db)
            return db

        try:
            return cls(await asyncio.to_thread(connect), path, offload)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open SQLite database {path}: {exc}") from exc

    async def _run(self, fn: Callable[[sqlite3.Connection], R]) -> R:
        def locked() -> R:
            with self._lock:
                return fn(self._db)

        try:
            return await asyncio.to_thread(locked)
        except sqlite3.Error as exc:
            raise StoreError(str(exc)) from exc

    async def _read(self, fn: Callable[[sqlite3.Connection], R]) -> R:
        """`fn` with this thread's reading connection, in the threads views read in."""
        if self._path == ":memory:":  # one connection is the whole database
            return await self._run(fn)

        def read() -> R:
            return fn(self._reader())

        try:
            return await self._offload(read)
        except sqlite3.Error as exc:
            raise StoreError(str(exc)) from exc

    def _reader(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._readers, "db", None)
        if db is None:
            db = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA query_only=ON")
            db.execute("PRAGMA busy_timeout=5000")
            with self._opened_lock:
                self._opened.append(db)
            self._readers.db = db
        return db

    async def close(self) -> None:
        with self._opened_lock:
            readers, self._opened = self._opened, []
        for reader in readers:
            reader.close()
        await self._run(lambda db: db.close())

    async def revision(self) -> int:
        return await self._run(_revision)

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

        def save(db: sqlite3.Connection) -> BatchResult:
            with _transaction(db):
                counts = {"new": 0, "changed": 0, "unchanged": 0, "removed": 0}
                revision = _revision(db)
                for item in items:
                    outcome = _upsert(db, item, revision + 1, now)
                    counts[outcome] += 1
                    if outcome != "unchanged":
                        revision += 1
                rows = db.execute(
                    "SELECT id, external_id, sort_at, missing, removed FROM items"
                    " WHERE site = ? AND source = ? AND kind = 'event'"
                    " AND (? OR missing > 0 OR removed IS NOT NULL)",
                    (site, source, coverage is not None),
                ).fetchall()
                known = [Known(r[0], r[1], _time(r[2]), r[3], _parse(r[4])) for r in rows]
                for change in decide(known, present, coverage, now):
                    if change.shown:
                        revision += 1
                        counts["removed" if change.removed else "changed"] += 1
                        db.execute(
                            "UPDATE items SET missing = ?, removed = ?, revision = ?,"
                            " changed = ? WHERE id = ?",
                            (change.missing, change.removed and _iso(change.removed), revision,
                             _iso(now), change.id),
                        )  # fmt: skip
                    else:
                        db.execute(
                            "UPDATE items SET missing = ?, removed = ? WHERE id = ?",
                            (change.missing, change.removed and _iso(change.removed), change.id),
                        )
                if _expire(db, site, source, now, keep):
                    revision += 1
                db.execute("UPDATE meta SET value = ? WHERE key = 'revision'", (revision,))
                _save_source(
                    db, site, source, validators, attempt=now, success=now, error=None, status=None
                )
                db.execute(
                    "UPDATE sources SET upstream_items = ?, skipped = ?, warnings = ?"
                    " WHERE site = ? AND source = ?",
                    (
                        len(items),
                        dump_notes(notes.skipped),
                        dump_notes(notes.warnings),
                        site,
                        source,
                    ),
                )
                return BatchResult(revision=revision, **counts)

        return await self._run(save)

    async def save_not_modified(
        self, site: str, source: str, validators: Validators, now: datetime
    ) -> None:
        def save(db: sqlite3.Connection) -> None:
            with _transaction(db):
                _save_source(
                    db, site, source, validators, attempt=now, success=now, error=None, status=304
                )

        await self._run(save)

    async def save_failure(
        self, site: str, source: str, error: str, status: int | None, now: datetime
    ) -> None:
        def save(db: sqlite3.Connection) -> None:
            with _transaction(db):
                db.execute(
                    "INSERT INTO sources"
                    " (site, source, last_attempt, last_error, last_status, failures)"
                    " VALUES (?, ?, ?, ?, ?, 1)"
                    " ON CONFLICT (site, source) DO UPDATE SET"
                    " last_attempt = excluded.last_attempt,"
                    " last_error = excluded.last_error, last_status = excluded.last_status,"
                    " failures = sources.failures + 1",
                    (site, source, _iso(now), error, status),
                )

        await self._run(save)

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
        def save(db: sqlite3.Connection) -> None:
            with _transaction(db):
                db.execute(
                    "INSERT INTO sources (site, source, next_run, gone, moved_to)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (site, source) DO UPDATE SET"
                    " next_run = excluded.next_run, gone = excluded.gone,"
                    " moved_to = excluded.moved_to,"
                    # Only its own claim: after a lapse, another harvester's may be there.
                    " claimed_until = CASE WHEN claimed_by = ? THEN NULL ELSE claimed_until END",
                    (site, source, _iso(next_run), int(gone), moved_to, worker),
                )
                if record is not None:
                    _record(db, record)

        await self._run(save)

    async def claim(
        self, site: str, source: str, worker: str, now: datetime, lease: timedelta, *, due: bool
    ) -> Claim:
        def claim(db: sqlite3.Connection) -> Claim:
            # BEGIN IMMEDIATE: of processes claiming at once, one writes at a time.
            with _transaction(db):
                # One statement: a new source is inserted claimed; a known one is claimed
                # only if free (or its own) and, with `due`, due.
                row = db.execute(
                    "INSERT INTO sources (site, source, claimed_by, claimed_until)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT (site, source) DO UPDATE SET"
                    " claimed_by = excluded.claimed_by, claimed_until = excluded.claimed_until"
                    " WHERE (sources.claimed_until IS NULL OR sources.claimed_until <= ?"
                    " OR sources.claimed_by = excluded.claimed_by)"
                    " AND (NOT ? OR sources.next_run IS NULL OR sources.next_run <= ?)"
                    " RETURNING next_run",
                    (site, source, worker, _iso(now + lease), _iso(now), due, _iso(now)),
                ).fetchone()
                if row is not None:
                    return Claim(True, next_run=_parse(row[0]))
                row = db.execute(
                    "SELECT next_run, claimed_until FROM sources WHERE site = ? AND source = ?",
                    (site, source),
                ).fetchone()
            held = _parse(row[1])
            return Claim(
                False, next_run=_parse(row[0]), held_until=held if held and held > now else None
            )

        return await self._run(claim)

    async def record_harvest(self, record: HarvestRecord) -> None:
        def save(db: sqlite3.Connection) -> None:
            with _transaction(db):
                _record(db, record)

        await self._run(save)

    async def harvests(self, since: datetime | None = None) -> list[HarvestRecord]:
        rows = await self._run(
            lambda db: db.execute(
                "SELECT site, source, worker, started, finished, status, new, changed, error"
                " FROM harvests WHERE ? IS NULL OR finished >= ? ORDER BY finished, id",
                (since and _iso(since), since and _iso(since)),
            ).fetchall()
        )
        return [
            HarvestRecord(row[0], row[1], row[2], _time(row[3]), _time(row[4]), *tuple(row)[5:])
            for row in rows
        ]

    async def last_harvest(self) -> datetime | None:
        return _parse(
            await self._run(
                lambda db: db.execute("SELECT max(finished) FROM harvests").fetchone()[0]
            )
        )

    async def last_change(self) -> datetime | None:
        return _parse(
            await self._read(lambda db: db.execute("SELECT max(changed) FROM items").fetchone()[0])
        )

    async def revisions(self, poll: float) -> AsyncIterator[int]:
        """Polled: SQLite has no notifications, and another process may write the file."""
        while True:
            await asyncio.sleep(poll)
            try:
                yield await self.revision()
            except StoreError:
                log.exception("cannot read the store revision")

    async def source_state(self, site: str, source: str) -> SourceState:
        states = await self._run(lambda db: _states(db, site, source))
        return states[0] if states else SourceState(site=site, source=source)

    async def source_states(self) -> list[SourceState]:
        return await self._run(lambda db: _states(db, None, None))

    async def item_counts(self) -> dict[tuple[str, str], int]:
        rows = await self._read(
            lambda db: db.execute(
                "SELECT site, kind, count(*) FROM items WHERE removed IS NULL GROUP BY site, kind"
            ).fetchall()
        )
        return {(row[0], row[1]): row[2] for row in rows}

    async def posts(self, query: ItemQuery) -> list[Stored[Post]]:
        # Decoded where read: thousands of JSON rows are CPU work, off the event loop.
        sql, params = select_items("post", query, DIALECT)
        return await self._read(lambda db: [_stored(r, Post) for r in db.execute(sql, params)])

    async def events(self, query: ItemQuery) -> list[Stored[Event]]:
        sql, params = select_items("event", query, DIALECT)
        return await self._read(lambda db: [_stored(r, Event) for r in db.execute(sql, params)])

    async def latest_end(self, query: ItemQuery, until: datetime | None) -> datetime | None:
        sql, params = latest_end(query, until, DIALECT)
        return _parse(await self._read(lambda db: db.execute(sql, params).fetchone()[0]))


class _Dialect:
    def placeholder(self, position: int) -> str:
        return "?"

    def instant(self, value: datetime) -> str:
        return _iso(value)

    def in_categories(self, alias: str, bind: Binder, categories: Sequence[str]) -> str:
        return (
            f"{alias}.id IN (SELECT item_id FROM item_categories"
            f" WHERE category IN ({bind.each(categories)}))"
        )

    def contains(self, alias: str, bind: Binder, needle: str) -> str:
        # Parameters are bound in the order they appear in the text ("?" is positional).
        # Shorter than a trigram, the index cannot help; FTS5 reads a NUL as the end of
        # its query string. Both are matched by reading the texts instead.
        if len(needle) < 3 or "\x00" in needle:
            return (
                f"{alias}.id IN (SELECT rowid FROM item_search"
                f" WHERE instr(search, {bind(needle)}) > 0)"
            )
        # A phrase of trigrams from case-sensitive text matches exactly where the text
        # contains the needle (tests/test_store_queries.py holds it to `in`).
        phrase = '"' + needle.replace('"', '""') + '"'
        return (
            f"{alias}.id IN (SELECT rowid FROM item_search WHERE item_search MATCH {bind(phrase)})"
        )


DIALECT = _Dialect()


def _migrate(db: sqlite3.Connection) -> None:
    db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY)")
    done = {row[0] for row in db.execute("SELECT version FROM schema_version")}
    for version, sql in migrations("sqlite"):
        if version in done:
            continue
        with _transaction(db):
            for statement in sql.split(";\n"):
                if statement.strip():
                    db.execute(statement)
            db.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
    _fill_columns(db)


def _fill_columns(db: sqlite3.Connection) -> None:
    """Query columns for rows written before they existed (migration 0004)."""
    while True:
        with _transaction(db):
            rows = db.execute("SELECT id, data FROM items WHERE uuid IS NULL LIMIT 500").fetchall()
            for row in rows:
                _write_columns(db, row["id"], columns(codec.loads(row["data"])), new=False)
        if not rows:
            return


def _expire(db: sqlite3.Connection, site: str, source: str, now: datetime, keep: Keep) -> int:
    """Delete what the store no longer keeps of a source; how many items went."""
    sql, params = expired_items(site, source, now - keep.removed, keep.posts, DIALECT)
    ids = [(row[0],) for row in db.execute(sql, params)]
    db.executemany("DELETE FROM item_categories WHERE item_id = ?", ids)
    db.executemany("DELETE FROM item_search WHERE rowid = ?", ids)
    db.executemany("DELETE FROM items WHERE id = ?", ids)
    return len(ids)


def _write_columns(db: sqlite3.Connection, item_id: int, derived: Columns, *, new: bool) -> None:
    db.execute(
        "UPDATE items SET uuid = ?, series = ?, ends_at = ?, recurring = ? WHERE id = ?",
        (
            derived.uuid,
            derived.series,
            _iso(derived.ends_at) if derived.ends_at else None,
            int(derived.recurring),
            item_id,
        ),
    )
    if not new:
        db.execute("DELETE FROM item_categories WHERE item_id = ?", (item_id,))
        db.execute("DELETE FROM item_search WHERE rowid = ?", (item_id,))
    db.executemany(
        "INSERT INTO item_categories (category, item_id) VALUES (?, ?)",
        [(category, item_id) for category in derived.categories],
    )
    db.execute("INSERT INTO item_search (rowid, search) VALUES (?, ?)", (item_id, derived.search))


@contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    # BEGIN IMMEDIATE takes the write lock up front, so a batch never fails half-way
    # on a lock upgrade; a crash before COMMIT leaves the file as it was (WAL).
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _revision(db: sqlite3.Connection) -> int:
    row = db.execute("SELECT value FROM meta WHERE key = 'revision'").fetchone()
    return int(row[0])


def _upsert(db: sqlite3.Connection, prepared: Prepared, revision: int, now: datetime) -> str:
    item = prepared.item
    row = db.execute(
        "SELECT id, content_hash, first_seen FROM items"
        " WHERE site = ? AND source = ? AND kind = ? AND external_id = ?",
        (item.site, item.source, prepared.kind, item.external_id),
    ).fetchone()
    if row is not None and row["content_hash"] == prepared.digest:
        return "unchanged"
    first_seen = _parse(row["first_seen"]) if row is not None else now
    assert first_seen is not None
    values = (
        prepared.data,
        prepared.digest,
        _iso(sort_time(item, first_seen)),
        _iso(now),
        revision,
    )
    if row is None:
        cursor = db.execute(
            "INSERT INTO items (kind, site, source, external_id, data, content_hash, sort_at,"
            " changed, revision, first_seen, sequence) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
            (prepared.kind, item.site, item.source, item.external_id, *values, _iso(now)),
        )
        assert cursor.lastrowid is not None
        _write_columns(db, cursor.lastrowid, prepared.columns, new=True)
        return "new"
    db.execute(
        "UPDATE items SET data = ?, content_hash = ?, sort_at = ?, changed = ?, revision = ?,"
        " sequence = sequence + 1 WHERE id = ?",
        (*values, row["id"]),
    )
    _write_columns(db, row["id"], prepared.columns, new=False)
    return "changed"


def _save_source(
    db: sqlite3.Connection,
    site: str,
    source: str,
    validators: Validators,
    *,
    attempt: datetime,
    success: datetime,
    error: str | None,
    status: int | None,
) -> None:
    db.execute(
        "INSERT INTO sources (site, source, etag, last_modified, last_attempt, last_success,"
        " last_error, last_status, failures) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)"
        " ON CONFLICT (site, source) DO UPDATE SET etag = excluded.etag,"
        " last_modified = excluded.last_modified, last_attempt = excluded.last_attempt,"
        " last_success = excluded.last_success, last_error = excluded.last_error,"
        " last_status = excluded.last_status, failures = 0",
        (
            site,
            source,
            validators.etag,
            validators.last_modified,
            _iso(attempt),
            _iso(success),
            error,
            status,
        ),
    )


def _states(db: sqlite3.Connection, site: str | None, source: str | None) -> list[SourceState]:
    sql = (
        "SELECT s.*, (SELECT count(*) FROM items i WHERE i.site = s.site AND i.source = s.source"
        " AND i.removed IS NULL)"
        " AS items FROM sources s"
    )
    params: tuple[Any, ...] = ()
    if site is not None:
        sql += " WHERE s.site = ? AND s.source = ?"
        params = (site, source)
    rows = db.execute(sql + " ORDER BY s.site, s.source", params).fetchall()
    return [
        SourceState(
            site=row["site"],
            source=row["source"],
            validators=Validators(row["etag"], row["last_modified"]),
            last_attempt=_parse(row["last_attempt"]),
            last_success=_parse(row["last_success"]),
            last_error=row["last_error"],
            last_status=row["last_status"],
            failures=row["failures"],
            items=row["items"],
            upstream_items=row["upstream_items"],
            next_run=_parse(row["next_run"]),
            gone=bool(row["gone"]),
            moved_to=row["moved_to"],
            notes=load_notes(row["skipped"], row["warnings"]),
        )
        for row in rows
    ]


def _stored(row: sqlite3.Row, kind: type[Any]) -> Stored[Any]:
    item = codec.loads(row["data"])
    assert isinstance(item, kind)
    first_seen = _parse(row["first_seen"])
    changed = _parse(row["changed"])
    assert first_seen is not None
    assert changed is not None
    return Stored(item, first_seen, changed, row["revision"], row["sequence"])


def _iso(value: datetime) -> str:
    # Fixed-width UTC text sorts in time order, which the indexes rely on.
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _record(db: sqlite3.Connection, record: HarvestRecord) -> None:
    db.execute(
        "DELETE FROM harvests WHERE site = ? AND source = ? AND started < ?",
        (record.site, record.source, _iso(record.finished - HARVESTS_KEPT)),
    )
    db.execute(
        "INSERT INTO harvests (site, source, worker, started, finished, status, new, changed,"
        " error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            record.site, record.source, record.worker, _iso(record.started),
            _iso(record.finished), record.status, record.new, record.changed, record.error,
        ),
    )  # fmt: skip


def _time(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _parse(value: str | None) -> datetime | None:
    return None if value is None else _time(value)
