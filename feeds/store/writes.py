"""Every write the store makes, written once for both databases.

Each write is a plan (feeds/store/dialect.py): its statements in order, deciding from
the rows it reads what to write next. `Writes` gives both stores the same methods over
their own `_transact`, which runs one plan in one transaction.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from feeds.model import Coverage, Event, Notes, Post, Validators
from feeds.store import activity, federation, images, moderation, outbox, renders
from feeds.store.base import (
    HARVESTS_KEPT,
    Activity,
    ActorKey,
    BatchResult,
    Claim,
    Delivery,
    Follower,
    HarvestRecord,
    Hidden,
    ImageCopy,
    ItemQuery,
    Mail,
    dump_notes,
    unique_items,
)
from feeds.store.changes import Previous, Write, decide_items
from feeds.store.columns import DATED_AGAIN, Prepared, prepare
from feeds.store.dialect import Binder, Dialect, Many, One, Plan, Written, marks
from feeds.store.presence import Keep, Known, decide
from feeds.store.query import NARROW_FROM, expired_items, narrowed

R = TypeVar("R")


class Writes:
    """The store's writes; a store gives its `dialect` and runs plans in `_transact`."""

    # The groups the store holds items of, and the revision they were counted at.
    _known: tuple[int, frozenset[str]] | None = None

    async def revision(self) -> int:
        raise NotImplementedError

    async def narrowed(self, query: ItemQuery) -> ItemQuery:
        """`query`, asking for the groups it leaves out where that is shorter (a network's
        views: feeds/store/query.py `narrowed`)."""
        if query.sites is None or len(query.sites) < NARROW_FROM:
            return query
        revision = await self.revision()
        if self._known is None or self._known[0] != revision:
            self._known = (revision, frozenset(await self._transact(_sites(self.dialect))))
        return narrowed(query, self._known[1])

    @property
    def dialect(self) -> Dialect:
        raise NotImplementedError

    async def _transact(self, plan: Plan[R]) -> R:
        """Run `plan` in one transaction: all of it is kept, or none (StoreError)."""
        raise NotImplementedError

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
        # JSON, hashes and search text are made before the transaction, off the loop.
        items = await asyncio.to_thread(prepare, unique_items(posts, events), now)
        present = {event.external_id for event in events}
        batch = Batch(site, source, items, present, validators, now, notes, coverage, keep)
        return await self._transact(save_batch(self.dialect, batch))

    async def save_not_modified(
        self, site: str, source: str, validators: Validators, now: datetime
    ) -> None:
        await self._transact(save_success(self.dialect, site, source, validators, now, 304))

    async def save_failure(
        self, site: str, source: str, error: str, status: int | None, now: datetime
    ) -> None:
        await self._transact(save_failure(self.dialect, site, source, error, status, now))

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
        await self._transact(
            save_schedule(self.dialect, site, source, next_run, gone, moved_to, worker, record)
        )

    async def claim(
        self, site: str, source: str, worker: str, now: datetime, lease: timedelta, *, due: bool
    ) -> Claim:
        return await self._transact(claim(self.dialect, site, source, worker, now, lease, due))

    async def record_harvest(self, record: HarvestRecord) -> None:
        await self._transact(record_harvest(self.dialect, record))

    async def queue_mails(self, mails: Sequence[Mail], now: datetime) -> int:
        return await self._transact(outbox.queue(self.dialect, mails, now))

    async def queued(self, keys: Sequence[str]) -> set[str]:
        return await self._transact(outbox.queued(self.dialect, keys))

    async def claim_mail(self, worker: str, now: datetime, lease: timedelta) -> Mail | None:
        return await self._transact(outbox.claim(self.dialect, worker, now, lease))

    async def mail_sent(self, mail: Mail, now: datetime) -> None:
        await self._transact(outbox.sent(self.dialect, mail, now))

    async def mail_failed(self, mail: Mail, error: str, retry_at: datetime) -> None:
        await self._transact(outbox.failed(self.dialect, mail, error, retry_at))

    async def activity(self, now: datetime) -> dict[tuple[str, str], Activity]:
        return await self._transact(activity.activity(self.dialect, now))

    async def watching_since(self) -> datetime | None:
        return await self._transact(activity.watching_since(self.dialect))

    async def actor_keys(self, names: Sequence[str]) -> dict[str, ActorKey]:
        return await self._transact(federation.actor_keys(self.dialect, names))

    async def add_actor_key(self, key: ActorKey, now: datetime, *, replace: bool = False) -> None:
        await self._transact(federation.add_actor_key(self.dialect, key, now, replace))

    async def follow(self, follower: Follower, now: datetime) -> None:
        await self._transact(federation.follow(self.dialect, follower, now))

    async def unfollow(self, actor: str | None, follower: str) -> int:
        return await self._transact(federation.unfollow(self.dialect, actor, follower))

    async def followers(self, actors: Sequence[str]) -> list[Follower]:
        return await self._transact(federation.followers(self.dialect, actors))

    async def follower_counts(self) -> dict[str, int]:
        return await self._transact(federation.follower_counts(self.dialect))

    async def queue_deliveries(self, deliveries: Sequence[Delivery], now: datetime) -> int:
        return await self._transact(federation.queue(self.dialect, deliveries, now))

    async def claim_delivery(self, worker: str, now: datetime, lease: timedelta) -> Delivery | None:
        return await self._transact(federation.claim(self.dialect, worker, now, lease))

    async def delivered(self, delivery: Delivery, now: datetime) -> None:
        await self._transact(federation.delivered(self.dialect, delivery, now))

    async def delivery_failed(
        self, delivery: Delivery, error: str, now: datetime, retry_at: datetime | None
    ) -> None:
        await self._transact(federation.failed(self.dialect, delivery, error, now, retry_at))

    async def plan_federation(self, decide: federation.Decide, now: datetime) -> int:
        return await self._transact(federation.plan(self.dialect, decide, now))

    async def forget_inbox(self, inbox: str) -> int:
        return await self._transact(federation.forget_inbox(self.dialect, inbox))

    async def images(self, urls: Sequence[str]) -> dict[str, ImageCopy | None]:
        return await self._transact(images.known(self.dialect, urls))

    async def keep_image(
        self,
        url: str,
        copy: ImageCopy | None,
        error: str | None,
        files: Mapping[str, bytes],
        now: datetime,
    ) -> None:
        await self._transact(images.keep(self.dialect, url, copy, error, files, now))

    async def image_file(self, name: str) -> bytes | None:
        return await self._transact(images.file(self.dialect, name))

    async def shared_render(
        self, key: str, revision: int, clock: float
    ) -> renders.SharedRender | None:
        return await self._transact(renders.found(self.dialect, key, revision, clock))

    async def claim_render(
        self, key: str, revision: int, owner: str, now: datetime, until: datetime
    ) -> renders.RenderClaim:
        return await self._transact(renders.claim(self.dialect, key, revision, owner, now, until))

    async def keep_render(
        self, key: str, revision: int, owner: str, shared: renders.SharedRender
    ) -> bool:
        return await self._transact(renders.keep(self.dialect, key, revision, owner, shared))

    async def release_render(self, key: str, revision: int, owner: str) -> None:
        await self._transact(renders.release(self.dialect, key, revision, owner))

    async def renders_made(self) -> dict[str, int]:
        return await self._transact(renders.made(self.dialect))

    async def hide(self, items: Sequence[Hidden], now: datetime) -> list[Hidden]:
        return await self._transact(moderation.hide(self.dialect, items, now))

    async def unhide(self, ids: Sequence[str], now: datetime) -> list[Hidden]:
        return await self._transact(moderation.unhide(self.dialect, ids, now))

    async def hidden(self, ids: Sequence[str] | None = None) -> list[Hidden]:
        return await self._transact(moderation.hidden(self.dialect, ids))


def _sites(d: Dialect) -> Plan[list[str]]:
    """Every group with a source in the store: items are only ever of these."""
    rows = yield One("SELECT DISTINCT site FROM sources")
    return [row["site"] for row in rows]


@dataclass(frozen=True, slots=True)
class Batch:
    """One successful read of a source, as `save_batch` writes it."""

    site: str
    source: str
    items: list[Prepared]  # each once, in the source's order
    present: set[str]  # the external ids of the events it listed
    validators: Validators
    now: datetime
    notes: Notes
    coverage: Coverage | None
    keep: Keep


def save_batch(d: Dialect, batch: Batch) -> Plan[BatchResult]:
    """A source's items, what it no longer lists, what the store no longer keeps of it,
    its success and its notes; the store's revision moves once per change readers see."""
    site, source, now = batch.site, batch.source, batch.now
    # The revision row is locked (PostgreSQL) or the database is (SQLite's BEGIN
    # IMMEDIATE) until commit, so revisions stay in order across writers.
    [row] = yield One(f"SELECT value FROM meta WHERE key = 'revision'{d.for_update}")
    base = int(row["value"])
    # Only the rows the decisions need: those of the items read (a feed lists its newest
    # ten, the store may keep thousands), and the events that may have gone missing.
    stored: dict[tuple[str, str], Previous] = {}
    wanted: dict[tuple[str, str, str], list[str]] = {}  # an item names its own source
    for prepared in batch.items:
        where = (prepared.item.site, prepared.item.source, prepared.kind)
        wanted.setdefault(where, []).append(prepared.item.external_id)
    for (item_site, item_source, kind), ids in wanted.items():
        for chunk in _chunks(ids):
            bind = Binder(d)
            rows = yield bind.one(
                "SELECT id, external_id, content_hash, first_seen FROM items"
                f" WHERE site = {bind(item_site)} AND source = {bind(item_source)}"
                f" AND kind = {bind(kind)} AND external_id {d.one_of(bind, chunk)}"
            )
            for r in rows:
                stored[kind, r["external_id"]] = Previous(
                    r["id"], r["content_hash"], d.moment(r["first_seen"])
                )
    bind = Binder(d)
    events = yield bind.one(
        "SELECT id, external_id, sort_at, missing, removed FROM items"
        f" WHERE site = {bind(site)} AND source = {bind(source)} AND kind = 'event'"
        # Without a complete read, only what was counted missing before can change.
        + ("" if batch.coverage is not None else " AND (missing > 0 OR removed IS NOT NULL)")
    )
    # What the source had before this read is what it may now lack (the rows this read
    # inserts are listed in it).
    listed = [
        Known(r["id"], r["external_id"], d.moment(r["sort_at"]), r["missing"], _at(d, r["removed"]))
        for r in events
    ]

    items = decide_items(batch.items, stored, now, base)
    revision = items.revision
    yield from _insert_items(d, items.new, now)
    yield from _update_items(d, items.changed, now)
    written = [
        Written(item.site, item.source, w.prepared.kind, item.external_id, w.prepared.columns, w.id)
        for w in (*items.new, *items.changed)
        for item in (w.prepared.item,)
    ]
    if written:
        yield from d.index_items(base, written)
    yield from _date_series(d, batch, base)

    shown: list[tuple[Any, ...]] = []
    counted: list[tuple[Any, ...]] = []
    removed = restored = 0
    for change in decide(listed, batch.present, batch.coverage, now):
        when = None if change.removed is None else d.instant(change.removed)
        if change.shown:
            revision += 1
            removed += change.removed is not None
            restored += change.removed is None
            shown.append((change.missing, when, revision, d.instant(now), change.id))
        else:
            counted.append((change.missing, when, change.id))
    if shown:
        p = marks(d, 5)
        yield Many(
            f"UPDATE items SET missing = {p[0]}, removed = {p[1]}, revision = {p[2]},"
            f" changed = {p[3]} WHERE id = {p[4]}",
            shown,
        )
    if counted:
        p = marks(d, 3)
        yield Many(
            f"UPDATE items SET missing = {p[0]}, removed = {p[1]} WHERE id = {p[2]}", counted
        )

    sql, params = expired_items(site, source, now - batch.keep.removed, batch.keep.posts, d)
    expired = [r["id"] for r in (yield One(sql, params))]
    if expired:
        yield from d.forget_items(expired)
        yield Many(f"DELETE FROM series_dates WHERE item_id = {d.placeholder(1)}",
                   [(i,) for i in expired])  # fmt: skip
        yield Many(f"DELETE FROM items WHERE id = {d.placeholder(1)}", [(i,) for i in expired])
        revision += 1

    bind = Binder(d)
    yield bind.one(f"UPDATE meta SET value = {bind(revision)} WHERE key = 'revision'")
    if revision != base:
        yield from d.announce(revision)
    yield from save_success(d, site, source, batch.validators, now, None)
    bind = Binder(d)
    yield bind.one(
        f"UPDATE sources SET upstream_items = {bind(len(batch.items))},"
        f" skipped = {bind(dump_notes(batch.notes.skipped))},"
        f" warnings = {bind(dump_notes(batch.notes.warnings))}"
        f" WHERE site = {bind(site)} AND source = {bind(source)}"
    )
    return BatchResult(
        new=len(items.new),
        changed=len(items.changed) + restored,
        unchanged=items.unchanged,
        revision=revision,
        removed=removed,
    )


def _date_series(d: Dialect, batch: Batch, base: int) -> Plan[None]:
    """The next dates of the source's events written in this batch (past revision `base`),
    and of its series whose dates reach less than DATED_AGAIN ahead (or have none yet)."""
    read = {p.item.external_id: p for p in batch.items if p.kind == "event"}
    if not read:  # a feed of posts: no event of it to date
        return
    bind = Binder(d)
    rows = yield bind.one(
        "SELECT id, external_id FROM items"
        f" WHERE site = {bind(batch.site)} AND source = {bind(batch.source)}"
        f" AND kind = 'event' AND (revision > {bind(base)} OR (recurring AND"
        f" (dated_until IS NULL OR dated_until < {bind(d.instant(batch.now + DATED_AGAIN))})))"
    )
    if not rows:
        return
    ids, columns, dates = [], [], []
    for row in rows:
        prepared = read.get(row["external_id"])
        if prepared is None:  # not in this read (gone upstream): left as it was
            continue
        ids.append((row["id"],))
        span = prepared.dates
        since, until = (d.instant(span.since), d.instant(span.until)) if span else (None, None)
        columns.append((since, until, row["id"]))
        if span is not None:
            dates += [(row["id"], d.instant(a), d.instant(b)) for a, b in span.occurrences]
    if not ids:
        return
    p = marks(d, 3)
    yield Many(f"DELETE FROM series_dates WHERE item_id = {p[0]}", ids)
    yield Many(f"UPDATE items SET dated_from = {p[0]}, dated_until = {p[1]} WHERE id = {p[2]}",
               columns)  # fmt: skip
    if dates:
        yield Many(
            "INSERT INTO series_dates (item_id, starts_at, ends_at)"
            f" VALUES ({p[0]}, {p[1]}, {p[2]})",
            dates,
        )


# Written with every item row; the dialect adds its own query columns after these.
ITEM_VALUES = ("data", "content_hash", "sort_at", "changed", "revision")


def _insert_items(d: Dialect, writes: Sequence[Write], now: datetime) -> Plan[None]:
    if not writes:
        return
    extra = list(d.item_columns(writes[0].prepared.columns))
    names = ["kind", "site", "source", "external_id", *ITEM_VALUES, "first_seen", "sequence"]
    names += extra
    p = marks(d, len(names))
    p[names.index("data")] = d.json(p[names.index("data")])
    rows = [
        (
            w.prepared.kind,
            w.prepared.item.site,
            w.prepared.item.source,
            w.prepared.item.external_id,
            *_item_values(d, w, now),
            d.instant(w.first_seen),
            0,
            *d.item_columns(w.prepared.columns).values(),
        )
        for w in writes
    ]
    yield Many(f"INSERT INTO items ({', '.join(names)}) VALUES ({', '.join(p)})", rows)


def _update_items(d: Dialect, writes: Sequence[Write], now: datetime) -> Plan[None]:
    if not writes:
        return
    names = [*ITEM_VALUES, *d.item_columns(writes[0].prepared.columns)]
    p = marks(d, len(names) + 1)
    p[0] = d.json(p[0])
    assignments = ", ".join(f"{name} = {mark}" for name, mark in zip(names, p, strict=False))
    rows = [
        (*_item_values(d, w, now), *d.item_columns(w.prepared.columns).values(), w.id)
        for w in writes
    ]
    yield Many(f"UPDATE items SET {assignments}, sequence = sequence + 1 WHERE id = {p[-1]}", rows)


def _item_values(d: Dialect, write: Write, now: datetime) -> tuple[Any, ...]:
    prepared = write.prepared
    return (
        prepared.data,
        prepared.digest,
        d.instant(write.sort_at),
        d.instant(now),
        write.revision,
    )


def save_success(
    d: Dialect,
    site: str,
    source: str,
    validators: Validators,
    now: datetime,
    status: int | None,
) -> Plan[None]:
    """The source answered (with `status` 304: nothing new): its failures end."""
    bind = Binder(d)
    yield bind.one(
        "INSERT INTO sources (site, source, etag, last_modified, last_attempt, last_success,"
        f" last_error, last_status, failures) VALUES ({bind(site)}, {bind(source)},"
        f" {bind(validators.etag)}, {bind(validators.last_modified)}, {bind(d.instant(now))},"
        f" {bind(d.instant(now))}, NULL, {bind(status)}, 0)"
        " ON CONFLICT (site, source) DO UPDATE SET etag = excluded.etag,"
        " last_modified = excluded.last_modified, last_attempt = excluded.last_attempt,"
        " last_success = excluded.last_success, last_error = NULL,"
        " last_status = excluded.last_status, failures = 0"
    )


def save_failure(
    d: Dialect, site: str, source: str, error: str, status: int | None, now: datetime
) -> Plan[None]:
    bind = Binder(d)
    yield bind.one(
        "INSERT INTO sources (site, source, last_attempt, last_error, last_status, failures,"
        f" failing_since) VALUES ({bind(site)}, {bind(source)}, {bind(d.instant(now))},"
        f" {bind(error)}, {bind(status)}, 1, {bind(d.instant(now))})"
        " ON CONFLICT (site, source) DO UPDATE SET"
        " last_attempt = excluded.last_attempt, last_error = excluded.last_error,"
        " last_status = excluded.last_status, failures = sources.failures + 1,"
        # The first failure after a success begins a new run of them (an alert's episode).
        " failing_since = CASE WHEN sources.failures = 0 OR sources.failing_since IS NULL"
        " THEN excluded.failing_since ELSE sources.failing_since END"
    )


def save_schedule(
    d: Dialect,
    site: str,
    source: str,
    next_run: datetime,
    gone: bool,
    moved_to: str | None,
    worker: str | None,
    record: HarvestRecord | None,
) -> Plan[None]:
    bind = Binder(d)
    yield bind.one(
        "INSERT INTO sources (site, source, next_run, gone, moved_to)"
        f" VALUES ({bind(site)}, {bind(source)}, {bind(d.instant(next_run))}, {bind(gone)},"
        f" {bind(moved_to)}) ON CONFLICT (site, source) DO UPDATE SET"
        " next_run = excluded.next_run, gone = excluded.gone, moved_to = excluded.moved_to,"
        # Only its own claim: after a lapse, another harvester's may be there.
        f" claimed_until = CASE WHEN sources.claimed_by = {bind(worker)} THEN NULL"
        " ELSE sources.claimed_until END"
    )
    if record is not None:
        yield from record_harvest(d, record)


def claim(
    d: Dialect,
    site: str,
    source: str,
    worker: str,
    now: datetime,
    lease: timedelta,
    due: bool,
) -> Plan[Claim]:
    # One statement: a new source is inserted claimed; a known one is claimed only if
    # free (or its own) and, with `due`, due. Of two harvesters at once, the second waits
    # for the first's row (PostgreSQL: READ COMMITTED re-checks the row it waited for;
    # SQLite: BEGIN IMMEDIATE lets one writer in at a time) and then finds it taken.
    bind = Binder(d)
    rows = yield bind.one(
        "INSERT INTO sources (site, source, claimed_by, claimed_until)"
        f" VALUES ({bind(site)}, {bind(source)}, {bind(worker)}, {bind(d.instant(now + lease))})"
        " ON CONFLICT (site, source) DO UPDATE SET"
        " claimed_by = excluded.claimed_by, claimed_until = excluded.claimed_until"
        f" WHERE (sources.claimed_until IS NULL OR sources.claimed_until <= {bind(d.instant(now))}"
        " OR sources.claimed_by = excluded.claimed_by)"
        f" AND (NOT {bind(due)} OR sources.next_run IS NULL"
        f" OR sources.next_run <= {bind(d.instant(now))}) RETURNING next_run"
    )
    if rows:
        return Claim(True, next_run=_at(d, rows[0]["next_run"]))
    bind = Binder(d)
    [row] = yield bind.one(
        "SELECT next_run, claimed_until FROM sources"
        f" WHERE site = {bind(site)} AND source = {bind(source)}"
    )
    held = _at(d, row["claimed_until"])
    return Claim(
        False, next_run=_at(d, row["next_run"]), held_until=held if held and held > now else None
    )


def record_harvest(d: Dialect, record: HarvestRecord) -> Plan[None]:
    """Keep the record of a harvest, and let the source's older than HARVESTS_KEPT go."""
    bind = Binder(d)
    yield bind.one(
        f"DELETE FROM harvests WHERE site = {bind(record.site)} AND source = {bind(record.source)}"
        f" AND started < {bind(d.instant(record.finished - HARVESTS_KEPT))}"
    )
    bind = Binder(d)
    values = (
        record.site, record.source, record.worker, d.instant(record.started),
        d.instant(record.finished), record.status, record.new, record.changed, record.error,
    )  # fmt: skip
    yield bind.one(
        "INSERT INTO harvests (site, source, worker, started, finished, status, new, changed,"
        f" error) VALUES ({bind.each(values)})"
    )


def _chunks(values: list[str], size: int = 500) -> list[list[str]]:
    """Parameter lists short enough for either database."""
    return [values[start : start + size] for start in range(0, len(values), size)]


def _at(d: Dialect, value: Any) -> datetime | None:
    return None if value is None else d.moment(value)
