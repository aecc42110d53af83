"""Which stored events an upstream no longer lists: decided apart from storing, once for
both stores (the stores only read the rows and write the changes).

An event missing from a complete read of its source (`Coverage`) is counted; missing from
two in a row, it is removed from every feed, calendar and page (a site mid-edit, or one
read between two writes of an export, shows an event gone for one read only). It stays in
the store: listed again, it comes back as it was. Posts are never removed: they are the
group's archive.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from feeds.model import Coverage

REMOVE_AFTER = 2  # complete reads an event must be missing from before it is removed
# What the store keeps of one source, so that no upstream can grow it without end (one
# that invents new ids at every read grew a store from 87 to 271 MB in two harvests):
# removed events for 30 days (listed again meanwhile, they come back as they were), and
# a source's newest 10,000 posts (as many as one read may deliver; a group publishes a
# few a week, so that is decades of its archive).
KEEP_REMOVED = timedelta(days=30)
KEEP_POSTS = 10_000


@dataclass(frozen=True, slots=True)
class Keep:
    """What the store keeps of one source (FEEDS_KEEP_POSTS, FEEDS_KEEP_REMOVED_DAYS)."""

    posts: int = KEEP_POSTS  # its newest posts
    removed: timedelta = KEEP_REMOVED  # how long removed events stay, to come back as they were


@dataclass(frozen=True, slots=True)
class Known:
    """A stored event of the source, as the decision needs it."""

    id: int
    external_id: str
    starts: datetime
    missing: int
    removed: datetime | None


@dataclass(frozen=True, slots=True)
class Change:
    id: int
    missing: int
    removed: datetime | None
    shown: bool  # it left the feeds or came back: a change readers see (a new revision)


def decide(
    known: Iterable[Known], present: set[str], coverage: Coverage | None, now: datetime
) -> list[Change]:
    """The rows whose count or removal changes after a read listing `present`."""
    changes = []
    for row in known:
        if row.external_id in present:
            if row.missing or row.removed:
                changes.append(Change(row.id, 0, None, shown=row.removed is not None))
            continue
        if coverage is None or (coverage.since is not None and row.starts < coverage.since):
            continue  # this read does not show whether it is still there
        missing = row.missing + 1
        if row.removed is None and missing >= REMOVE_AFTER:
            changes.append(Change(row.id, missing, now, shown=True))
        else:
            changes.append(Change(row.id, missing, row.removed, shown=False))
    return changes
