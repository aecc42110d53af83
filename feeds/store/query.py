"""An `ItemQuery` as SQL, written once for both stores (feeds/store/dialect.py says how
each spells what differs)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from feeds.store.base import ItemQuery
from feeds.store.columns import fold
from feeds.store.dialect import Binder, Dialect

# What every read returns; the stores decode these into `Stored` items.
ITEM_COLUMNS = "items.data, items.first_seen, items.changed, items.revision, items.sequence"


# When the store last changed what readers see: an item's content, or the office hiding
# or showing one again.
LAST_CHANGE = (
    "SELECT max(moment) FROM (SELECT max(changed) AS moment FROM items"
    " UNION ALL SELECT max(COALESCE(shown, since)) FROM hidden) AS changes"
)


def select_items(kind: str, query: ItemQuery, dialect: Dialect) -> tuple[str, list[Any]]:
    """One statement reading the items of `kind` that `query` asks for, in feed order."""
    bind = Binder(dialect)
    if kind == "event" and query.limit is not None and query.after is not None:
        return _soonest_events(query, query.limit, query.after, bind)
    where = _conditions("items", kind, query, bind)
    if kind == "post":
        sql = f"SELECT {ITEM_COLUMNS} FROM items WHERE {where}"
        sql += " ORDER BY items.sort_at DESC, items.id"
        if query.limit is not None:
            sql += f" LIMIT {bind(query.limit)}"
        return sql, bind.params
    if query.limit is not None:
        # Single events past the `limit`-th start cannot be among the first `limit`
        # occurrences; series are placed by their occurrences later, so all stay.
        cutoff = (
            f"SELECT cut.sort_at FROM items AS cut WHERE {_conditions('cut', kind, query, bind)}"
            f" AND NOT cut.recurring ORDER BY cut.sort_at LIMIT 1 OFFSET {bind(query.limit - 1)}"
        )
        where += f" AND (items.recurring OR items.sort_at <= COALESCE(({cutoff}), items.sort_at))"
    return (
        f"SELECT {ITEM_COLUMNS} FROM items WHERE {where} ORDER BY items.sort_at, items.id",
        bind.params,
    )


def _soonest_events(
    query: ItemQuery, limit: int, after: datetime, bind: Binder
) -> tuple[str, list[Any]]:
    """The candidates for the first `limit` events still on at `after`: the single events
    up to the cut, the `limit`-th single event's start, and the series with a date before
    it (series_dates, written at the harvest), or whose dates do not say (none written
    yet, written after `after`, or ending before the cut). No event past the cut can be
    among the first `limit`, so these hold them all; the caller expands the series among
    them and places every one by its occurrence. Each part runs on an index: the singles
    by start, the series among the items by a partial index, their dates by start.
    Parameters are bound in the order they stand in the text (SQLite's "?")."""
    moment = bind.dialect.instant(after)
    singles = _conditions("cut", "event", query, bind)
    cutoff = (
        f"WITH cutoff AS (SELECT cut.sort_at AS at FROM items AS cut WHERE {singles}"
        f" AND NOT cut.recurring ORDER BY cut.sort_at LIMIT 1 OFFSET {bind(limit - 1)}) "
    )
    cut = "(SELECT at FROM cutoff)"
    single = _conditions("items", "event", query, bind)
    # Against a value known before the scan (no cut: the end of time), so the single
    # events come from the index by start; COALESCE(cut, items.sort_at) made it a scan.
    up_to = f"COALESCE({cut}, {bind(bind.dialect.instant(END_OF_TIME))})"
    series = _conditions("items", "event", query, bind)
    columns = f"{ITEM_COLUMNS}, items.sort_at AS sort_key, items.id AS id_key"
    return (
        f"{cutoff}SELECT {columns} FROM items WHERE {single} AND NOT items.recurring"
        f" AND items.sort_at <= {up_to}"
        f" UNION ALL SELECT {columns} FROM items WHERE {series} AND items.recurring"
        f" AND ({cut} IS NULL OR items.dated_from IS NULL"
        f" OR items.dated_from > {bind(moment)} OR items.dated_until <= {cut}"
        " OR items.id IN (SELECT d.item_id FROM series_dates AS d"
        f" WHERE d.starts_at <= {cut} AND d.ends_at > {bind(moment)}))"
        " ORDER BY sort_key, id_key",  # as every read: the same answer twice, byte for byte
        bind.params,
    )


def latest_end(
    query: ItemQuery, until: datetime | None, dialect: Dialect, kind: str = "event"
) -> tuple[str, list[Any]]:
    """When an item `query` asks for last left what it shows (or came back), though no
    shown item changed: an event's end, if over by `until` (if given); its removal after
    its upstream stopped listing it; an item's hiding by the office, or its showing again.
    """
    bind = Binder(dialect)
    removed = _conditions("items", kind, query, bind, removed=True)
    departures = f"SELECT items.removed AS moment FROM items WHERE {removed}"
    if until is not None and kind == "event":
        where = _conditions("items", kind, query, bind)
        departures += (
            f" UNION ALL SELECT items.ends_at FROM items WHERE {where}"
            f" AND items.ends_at <= {bind(dialect.instant(until))}"
        )
    either = _conditions("items", kind, query, bind, hidden=True)
    departures += (
        " UNION ALL SELECT COALESCE(hidden.shown, hidden.since) FROM hidden"
        f" JOIN items ON items.uuid = hidden.uuid WHERE {either}"
    )
    return f"SELECT max(moment) FROM ({departures}) AS departures", bind.params


END_OF_TIME = datetime(9999, 12, 31, tzinfo=UTC)  # later than any start
NARROW_FROM = 200  # groups asked for, from which the store asks for those left out instead


def narrowed(query: ItemQuery, known: frozenset[str]) -> ItemQuery:
    """`query` asking for what it leaves out of the groups the store `known`s, where that
    is the shorter question: a network's views name every group it has, and 11,200 names
    in a statement cost PostgreSQL's planner 60 ms and more each time (any plan it may
    cache for them is a poor one); asking for none but the gone ones costs nothing."""
    if query.sites is None or len(query.sites) < NARROW_FROM:
        return query
    gone = known.difference(query.sites)
    if len(gone) >= len(query.sites):
        return query
    return replace(query, sites=None, except_sites=(*query.except_sites, *sorted(gone)))


def _conditions(
    alias: str,
    kind: str,
    query: ItemQuery,
    bind: Binder,
    *,
    removed: bool = False,
    hidden: bool = False,
) -> str:
    """What `query` selects, among the items shown (or, with `removed`, those removed);
    with `hidden`, hidden or not."""
    parts = [f"{alias}.kind = {bind(kind)}"]
    parts.append(f"{alias}.removed IS {'NOT NULL' if removed else 'NULL'}")
    if not hidden:  # the office took it out of every output (feeds/store/moderation.py)
        parts.append(
            "NOT EXISTS (SELECT 1 FROM hidden WHERE hidden.uuid ="
            f" {alias}.uuid AND hidden.shown IS NULL)"
        )
    if query.sites is not None:
        if not query.sites:  # no group asked for (a region without groups)
            return f"{parts[0]} AND FALSE"
        # One array (PostgreSQL) or JSON (SQLite) parameter for a long list: a network
        # of 11,200 groups asked for three times passes the 32,767 parameters of either.
        parts.append(f"{alias}.site {bind.dialect.one_of(bind, list(query.sites))}")
    if query.except_sites:
        parts.append(f"NOT ({alias}.site {bind.dialect.one_of(bind, list(query.except_sites))})")
    if query.ids:
        parts.append(f"{alias}.uuid {bind.dialect.one_of(bind, list(query.ids))}")
    if query.series:
        parts.append(f"{alias}.series {bind.dialect.one_of(bind, list(query.series))}")
    if query.categories:
        wanted = sorted({fold(c) for c in query.categories})
        parts.append(bind.dialect.in_categories(alias, bind, wanted))
    if query.text:
        parts.append(bind.dialect.contains(alias, bind, fold(query.text)))
    instant = bind.dialect.instant
    if query.before is not None:
        parts.append(f"{alias}.sort_at < {bind(instant(query.before))}")
    if query.after is not None:
        if kind == "post":
            parts.append(f"{alias}.sort_at >= {bind(instant(query.after))}")
        else:
            # Still on at `after`, or starting then (an event without duration);
            # a series without end may always have an occurrence to come.
            # (Bound twice: SQLite's "?" is one parameter per use.)
            parts.append(
                f"({alias}.ends_at IS NULL OR {alias}.ends_at > {bind(instant(query.after))}"
                f" OR {alias}.sort_at >= {bind(instant(query.after))})"
            )
    return " AND ".join(parts)


def expired_items(
    site: str, source: str, removed_before: datetime, keep_posts: int, dialect: Dialect
) -> tuple[str, list[Any]]:
    """The ids of a source's items the store no longer keeps (feeds/store/presence.py):
    events removed before `removed_before`, and posts past its `keep_posts` newest."""
    bind = Binder(dialect)
    return (
        f"SELECT id FROM items WHERE site = {bind(site)} AND source = {bind(source)}"
        f" AND kind = 'event' AND removed < {bind(dialect.instant(removed_before))}"
        " UNION ALL SELECT id FROM (SELECT id, row_number() OVER"
        " (ORDER BY sort_at DESC, id DESC) AS newest FROM items"
        f" WHERE site = {bind(site)} AND source = {bind(source)} AND kind = 'post') AS ranked"
        f" WHERE newest > {bind(keep_posts)}",
        bind.params,
    )
