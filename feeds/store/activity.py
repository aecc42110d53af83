"""What the store's items say of how often each source publishes: read for stillness
(feeds/stillness.py), written once for both stores."""

from __future__ import annotations

from datetime import datetime

from feeds.store.base import ACTIVITY_DATES, Activity
from feeds.store.dialect import Binder, Dialect, One, Plan


def activity(d: Dialect, now: datetime) -> Plan[dict[tuple[str, str], Activity]]:
    bind = Binder(d)
    rows = yield bind.one(
        "SELECT site, source, sort_at FROM (SELECT site, source, sort_at, row_number() OVER"
        " (PARTITION BY site, source ORDER BY sort_at DESC) AS newest FROM items"
        f" WHERE removed IS NULL) AS ranked WHERE newest <= {bind(ACTIVITY_DATES)}"
        " ORDER BY site, source, sort_at DESC"
    )
    dates: dict[tuple[str, str], list[datetime]] = {}
    for row in rows:
        dates.setdefault((row["site"], row["source"]), []).append(d.moment(row["sort_at"]))
    bind = Binder(d)
    # An open-ended series (no end) always has a date to come.
    rows = yield bind.one(
        "SELECT DISTINCT site, source FROM items WHERE removed IS NULL AND kind = 'event'"
        f" AND (ends_at IS NULL OR ends_at > {bind(d.instant(now))})"
    )
    ongoing = {(row["site"], row["source"]) for row in rows}
    return {key: Activity(tuple(found), key in ongoing) for key, found in dates.items()}


def watching_since(d: Dialect) -> Plan[datetime | None]:
    [row] = yield One("SELECT min(first_seen) AS first FROM items")
    return None if row["first"] is None else d.moment(row["first"])
