"""The embedded store: one SQLite file in WAL mode, driven from worker threads.

One connection writes (and answers what the harvester and the health check read), one
thread at a time under a lock. What views read (items, counts, dates) is read through a
connection of the reading thread's own, in the threads `offload` gives: the service's
idle-priority render threads. WAL lets those readers and the writer go on side by side,
so a write never waits for a render thread the scheduler has set aside."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

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
from feeds.store.dialect import Binder, Dialect, Many, One, Plan, Row, Statement, Written, drive
from feeds.store.migrations import migrations
from feeds.store.query import LAST_CHANGE, latest_end, select_items
from feeds.store.writes import Writes

R = TypeVar("R")
log = logging.getLogger(__name__)
_guarded = store_errors(sqlite3.Error)  # what SQLite raises becomes a StoreError


# A list this long or shorter is bound value by value; a longer one as one JSON array.
LISTED_PARAMETERS = 500


class SQLiteStore(Writes):
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

    @property
    def dialect(self) -> Dialect:
        return DIALECT

    @_guarded
    async def _run(self, fn: Callable[[sqlite3.Connection], R]) -> R:
        def locked() -> R:
            with self._lock:
                return fn(self._db)

        return await asyncio.to_thread(locked)

    async def _transact(self, plan: Plan[R]) -> R:
        """The whole plan in one worker thread, one transaction, under the writer's lock:
        SQLite statements cost microseconds, a thread hop each would cost more."""

        def run(db: sqlite3.Connection) -> R:
            with _transaction(db):
                return drive(plan, lambda statement: _execute(db, statement))

        return await self._run(run)

    @_guarded
    async def _read(self, fn: Callable[[sqlite3.Connection], R]) -> R:
        """`fn` with this thread's reading connection, in the threads views read in."""
        if self._path == ":memory:":  # one connection is the whole database
            return await self._run(fn)

        def read() -> R:
            return fn(self._reader())

        return await self._offload(read)

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
        return _parse(await self._read(lambda db: db.execute(LAST_CHANGE).fetchone()[0]))

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
        query = await self.narrowed(query)
        # Decoded where read: thousands of JSON rows are CPU work, off the event loop.
        sql, params = select_items("post", query, DIALECT)
        return await self._read(lambda db: [_stored(r, Post) for r in db.execute(sql, params)])

    async def events(self, query: ItemQuery) -> list[Stored[Event]]:
        query = await self.narrowed(query)
        sql, params = select_items("event", query, DIALECT)
        return await self._read(lambda db: [_stored(r, Event) for r in db.execute(sql, params)])

    async def latest_end(
        self, query: ItemQuery, until: datetime | None, kind: str = "event"
    ) -> datetime | None:
        sql, params = latest_end(await self.narrowed(query), until, DIALECT, kind)
        return _parse(await self._read(lambda db: db.execute(sql, params).fetchone()[0]))


class _Dialect:
    for_update = ""  # BEGIN IMMEDIATE has locked the database already

    def placeholder(self, position: int) -> str:
        return "?"

    def instant(self, value: datetime) -> str:
        return _iso(value)

    def moment(self, value: Any) -> datetime:
        return _time(value)

    def one_of(self, bind: Binder, values: Sequence[Any]) -> str:
        if len(values) <= LISTED_PARAMETERS:  # the planner sees each value
            return f"IN ({bind.each(values)})"
        # Past that, one JSON parameter: SQLite allows 32,766 in a statement.
        return f"IN (SELECT value FROM json_each({bind(json.dumps(list(values)))}))"

    def json(self, placeholder: str) -> str:
        return placeholder

    def item_columns(self, derived: Columns) -> dict[str, Any]:
        return {
            "uuid": derived.uuid,
            "series": derived.series,
            "ends_at": derived.ends_at and _iso(derived.ends_at),
            "recurring": derived.recurring,
        }

    def index_items(self, since_revision: int, written: Sequence[Written]) -> Plan[None]:
        # Categories and search text live in side tables keyed by the item's id (an FTS5
        # table cannot be a column); new rows' ids are read back, as executemany keeps none.
        replaced = [(w.id,) for w in written if w.id is not None]
        yield Many("DELETE FROM item_categories WHERE item_id = ?", replaced)
        yield Many("DELETE FROM item_search WHERE rowid = ?", replaced)
        ids: dict[tuple[str, str, str, str], int] = {}
        for site, source in {(w.site, w.source) for w in written if w.id is None}:
            rows = yield One(
                "SELECT id, kind, external_id FROM items"
                " WHERE site = ? AND source = ? AND revision > ?",
                (site, source, since_revision),
            )
            ids.update({(site, source, r["kind"], r["external_id"]): r["id"] for r in rows})
        indexed = [
            (ids[w.site, w.source, w.kind, w.external_id] if w.id is None else w.id, w)
            for w in written
        ]
        yield Many(
            "INSERT INTO item_categories (category, item_id) VALUES (?, ?)",
            [(category, i) for i, w in indexed for category in w.columns.categories],
        )
        yield Many(
            "INSERT INTO item_search (rowid, search) VALUES (?, ?)",
            [(i, w.columns.search) for i, w in indexed],
        )

    def forget_items(self, ids: Sequence[int]) -> Plan[None]:
        rows = [(i,) for i in ids]
        yield Many("DELETE FROM item_categories WHERE item_id = ?", rows)
        yield Many("DELETE FROM item_search WHERE rowid = ?", rows)

    def announce(self, revision: int) -> Plan[None]:
        yield from ()  # other processes poll the revision (SQLite has no notifications)

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
            # Processes opening one new file at once (`serve --workers 2`) each saw it
            # missing; with the write lock held, this look is the one that counts.
            if db.execute("SELECT 1 FROM schema_version WHERE version = ?", (version,)).fetchone():
                continue
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
                drive(_fill(row["id"], columns(codec.loads(row["data"]))), partial(_execute, db))
        if not rows:
            return


def _fill(item_id: int, derived: Columns) -> Plan[None]:
    names = DIALECT.item_columns(derived)
    assignments = ", ".join(f"{name} = ?" for name in names)
    yield One(f"UPDATE items SET {assignments} WHERE id = ?", (*names.values(), item_id))
    yield from DIALECT.index_items(0, [Written("", "", "", "", derived, item_id)])


def _execute(db: sqlite3.Connection, statement: Statement) -> list[Row]:
    if isinstance(statement, Many):
        db.executemany(statement.sql, statement.rows)
        return []
    return db.execute(statement.sql, statement.params).fetchall()


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
            failing_since=_parse(row["failing_since"]),
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


def _time(value: str) -> datetime:
    # The fixed form _iso writes; fromisoformat reads it (and its "Z" as UTC) many times
    # faster than strptime, which counted when a write reads a source's every row.
    return datetime.fromisoformat(value)


def _parse(value: str | None) -> datetime | None:
    return None if value is None else _time(value)
