"""Which items of a read are new, changed or unchanged: decided apart from storing, once
for both stores, from what the store holds of the source and what was read (no I/O).

An item is known by (kind, external id) within its source. Its content hash says whether
it changed; a change gets the next store revision of its own (readers of a view ask for
what moved since the revision they saw) and keeps when the item was first seen, which
dates a post without a date of its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from feeds.store.base import sort_time
from feeds.store.columns import Prepared


@dataclass(frozen=True, slots=True)
class Previous:
    """A stored item, as the decision needs it."""

    id: int
    digest: str
    first_seen: datetime


@dataclass(frozen=True, slots=True)
class Write:
    """One item to write: inserted (`id` None) or replacing the stored row `id`."""

    prepared: Prepared
    id: int | None
    revision: int
    sort_at: datetime
    first_seen: datetime


@dataclass(frozen=True, slots=True)
class ItemChanges:
    new: tuple[Write, ...]
    changed: tuple[Write, ...]
    unchanged: int
    revision: int  # the last revision handed out (the one given, if nothing changed)


def decide_items(
    read: Sequence[Prepared],
    stored: Mapping[tuple[str, str], Previous],
    now: datetime,
    revision: int,
) -> ItemChanges:
    """What a read of items (each once, in the source's order) changes in the store, whose
    revision is `revision` before it."""
    new: list[Write] = []
    changed: list[Write] = []
    unchanged = 0
    for prepared in read:
        previous = stored.get((prepared.kind, prepared.item.external_id))
        if previous is not None and previous.digest == prepared.digest:
            unchanged += 1
            continue
        revision += 1
        first_seen = previous.first_seen if previous is not None else now
        write = Write(
            prepared,
            None if previous is None else previous.id,
            revision,
            sort_time(prepared.item, first_seen),
            first_seen,
        )
        (new if previous is None else changed).append(write)
    return ItemChanges(tuple(new), tuple(changed), unchanged, revision)
