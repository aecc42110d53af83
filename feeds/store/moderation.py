"""Items the network office hid (`feeds hide`), written once for both stores.

A hidden item is left out of every read (feeds/store/query.py), so of every feed,
calendar, page and widget; its page answers 410. It is kept by its public id, not as a
mark on its row: a source that lists it again, or lists it again after the store let
its row go, does not bring it back. Showing it again keeps the row, with the moment, so
that a view's Last-Modified moves both times.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from feeds.store.base import Hidden
from feeds.store.dialect import Binder, Dialect, Plan, Row, move_revision

_FIELDS = "uuid, site, kind, series, title, url, reason, since"


def hide(d: Dialect, items: Sequence[Hidden], now: datetime) -> Plan[list[Hidden]]:
    newly: list[Hidden] = []
    for item in items:
        bind = Binder(d)
        # Hidden before and shown again: hidden anew, with today's reason.
        values = [item.uuid, item.site, item.kind, item.series, item.title, item.url]
        values += [item.reason, d.instant(now)]
        rows = yield bind.one(
            f"INSERT INTO hidden ({_FIELDS}) VALUES ({bind.each(values)})"
            " ON CONFLICT (uuid) DO UPDATE SET"
            " since = excluded.since, reason = excluded.reason, title = excluded.title,"
            " url = excluded.url, shown = NULL WHERE hidden.shown IS NOT NULL"
            f" RETURNING {_FIELDS}"
        )
        newly.extend(_hidden(d, row) for row in rows)
    if newly:
        yield from move_revision(d)
    return newly


def unhide(d: Dialect, ids: Sequence[str], now: datetime) -> Plan[list[Hidden]]:
    if not ids:
        return []
    bind = Binder(d)
    rows = yield bind.one(
        f"UPDATE hidden SET shown = {bind(d.instant(now))}"
        f" WHERE shown IS NULL AND uuid {d.one_of(bind, list(ids))} RETURNING {_FIELDS}"
    )
    if rows:
        yield from move_revision(d)
    return [_hidden(d, row) for row in rows]


def hidden(d: Dialect, ids: Sequence[str] | None) -> Plan[list[Hidden]]:
    bind = Binder(d)
    sql = f"SELECT {_FIELDS} FROM hidden WHERE shown IS NULL"
    if ids is not None:
        if not ids:
            return []
        sql += f" AND uuid {d.one_of(bind, list(ids))}"
    rows = yield bind.one(sql + " ORDER BY since DESC, uuid")
    return [_hidden(d, row) for row in rows]


def _hidden(d: Dialect, row: Row) -> Hidden:
    return Hidden(
        uuid=row["uuid"],
        site=row["site"],
        kind=row["kind"],
        series=row["series"],
        title=row["title"],
        url=row["url"],
        reason=row["reason"],
        since=d.moment(row["since"]),
    )
