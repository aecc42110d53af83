"""What the two stores' SQL has in common, and the few places it differs.

Statements are written once (reads in `feeds/store/query.py`, writes in
`feeds/store/writes.py`); a `Dialect` says only how each database spells a parameter, a
time, JSON, a row lock, a set of categories and a substring search, and what it keeps
beside the items row (SQLite: side tables for categories and an FTS5 index; PostgreSQL:
array and text columns with GIN indexes).

A write is a *plan*: a generator that yields its statements one by one and is sent each
one's rows. It does no I/O itself, so one plan runs both ways: SQLite drives it in one
worker thread inside one transaction (`drive`), PostgreSQL awaits each statement on one
connection inside one transaction. The logic of a write exists once; only the driving
differs.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

from feeds.store.columns import Columns

R = TypeVar("R")

# A row as a driver returns it (sqlite3.Row, asyncpg.Record): both index by column name.
Row = Any


@dataclass(frozen=True, slots=True)
class One:
    """One statement; its rows (if any) are sent back into the plan."""

    sql: str
    params: Sequence[Any] = ()


@dataclass(frozen=True, slots=True)
class Many:
    """One statement run for each of `rows` (sent back: no rows)."""

    sql: str
    rows: Sequence[Sequence[Any]]


Statement = One | Many
Plan = Generator[Statement, list[Row], R]


@dataclass(frozen=True, slots=True)
class Written:
    """An item row a write just inserted (`id` None: the database chose it) or replaced."""

    site: str  # the item's own (a caller's batch is expected to match)
    source: str
    kind: str
    external_id: str
    columns: Columns
    id: int | None


class Dialect(Protocol):
    for_update: str  # appended to a SELECT that locks the rows it reads in a transaction

    def placeholder(self, position: int) -> str: ...

    def instant(self, value: datetime) -> Any:
        """A time as this database takes it as a parameter."""
        ...

    def moment(self, value: Any) -> datetime:
        """A time as this database returns it, as an aware datetime."""
        ...

    def one_of(self, bind: Binder, values: Sequence[Any]) -> str:
        """A condition's right side: equal to one of `values` (a list of any length)."""
        ...

    def json(self, placeholder: str) -> str:
        """The parameter `placeholder` as the items' JSON column takes it."""
        ...

    def item_columns(self, derived: Columns) -> dict[str, Any]:
        """Query columns kept in the items row itself, by name (feeds/store/columns.py)."""
        ...

    def index_items(self, since_revision: int, written: Sequence[Written]) -> Plan[None]:
        """Keep what this database indexes outside the items row for rows just written
        (those past `since_revision`)."""
        ...

    def forget_items(self, ids: Sequence[int]) -> Plan[None]:
        """Before items are deleted: what this database keeps of them elsewhere goes."""
        ...

    def announce(self, revision: int) -> Plan[None]:
        """Tell other instances the store moved to `revision` (at commit)."""
        ...

    def in_categories(self, alias: str, bind: Binder, categories: Sequence[str]) -> str:
        """A condition: the item has one of these (folded) categories."""
        ...

    def contains(self, alias: str, bind: Binder, needle: str) -> str:
        """A condition: the item's folded search text contains `needle` (already folded)."""
        ...


@dataclass
class Binder:
    """Collects parameters in order and hands out their placeholders."""

    dialect: Dialect
    params: list[Any] = field(default_factory=list)

    def __call__(self, value: Any) -> str:
        self.params.append(value)
        return self.dialect.placeholder(len(self.params))

    def each(self, values: Sequence[Any]) -> str:
        return ", ".join(self(v) for v in values)

    def one(self, sql: str) -> One:
        """The statement `sql`, written with this binder, with the parameters it bound."""
        return One(sql, tuple(self.params))


def marks(dialect: Dialect, count: int) -> list[str]:
    """Placeholders for the values of one row of a `Many`, in the order they are given."""
    return [dialect.placeholder(position) for position in range(1, count + 1)]


def move_revision(d: Dialect) -> Plan[int]:
    """A change no item row shows (a hide, an image copy): the store's revision moves, so
    every cached view is rendered again, and other instances hear of it."""
    [row] = yield One(f"SELECT value FROM meta WHERE key = 'revision'{d.for_update}")
    revision = int(row["value"]) + 1
    bind = Binder(d)
    yield bind.one(f"UPDATE meta SET value = {bind(revision)} WHERE key = 'revision'")
    yield from d.announce(revision)
    return revision


def drive(plan: Plan[R], execute: Callable[[Statement], list[Row]]) -> R:
    """Run a plan with a synchronous `execute` (each statement's rows go back in)."""
    try:
        statement = next(plan)
        while True:
            statement = plan.send(execute(statement))
    except StopIteration as done:
        result: R = done.value
        return result
    finally:
        plan.close()
