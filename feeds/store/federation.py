"""What the fediverse needs kept (feeds/federation/), written once for both stores:
actors' keys, their followers, and the queue of deliveries.

A delivery is queued once under a key naming the activity and the inbox, so however
many processes plan at once, each goes once; and sent once, by whichever claims it, as
the outbox's mails are (feeds/store/outbox.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from feeds import codec
from feeds.model import Event, Post, Stored
from feeds.store.base import ActorKey, Delivery, Follower
from feeds.store.dialect import Binder, Dialect, One, Plan, Row

KEPT = timedelta(days=14)  # done deliveries are kept this long


def actor_keys(d: Dialect, names: Sequence[str]) -> Plan[dict[str, ActorKey]]:
    if not names:
        return {}
    bind = Binder(d)
    rows = yield bind.one(
        f"SELECT name, public_key, private_key FROM actors WHERE name {d.one_of(bind, list(names))}"
    )
    return {
        row["name"]: ActorKey(row["name"], row["public_key"], row["private_key"]) for row in rows
    }


def add_actor_key(d: Dialect, key: ActorKey, now: datetime, replace: bool) -> Plan[None]:
    bind = Binder(d)
    conflict = (
        "DO UPDATE SET public_key = excluded.public_key, private_key = excluded.private_key,"
        " created = excluded.created"
        if replace
        else "DO NOTHING"
    )
    yield bind.one(
        "INSERT INTO actors (name, public_key, private_key, created) VALUES"
        f" ({bind.each([key.name, key.public_key, key.private_key, d.instant(now)])})"
        f" ON CONFLICT (name) {conflict}"
    )


def follow(d: Dialect, f: Follower, now: datetime) -> Plan[None]:
    bind = Binder(d)
    values = [f.actor, f.follower, f.inbox, f.shared_inbox, f.follow, d.instant(now)]
    yield bind.one(
        "INSERT INTO followers (actor, follower, inbox, shared_inbox, follow, since)"
        f" VALUES ({bind.each(values)}) ON CONFLICT (actor, follower) DO UPDATE SET"
        " inbox = excluded.inbox, shared_inbox = excluded.shared_inbox,"
        " follow = excluded.follow"
    )


def unfollow(d: Dialect, actor: str | None, follower: str) -> Plan[int]:
    bind = Binder(d)
    sql = f"DELETE FROM followers WHERE follower = {bind(follower)}"
    if actor is not None:
        sql += f" AND actor = {bind(actor)}"
    rows = yield bind.one(sql + " RETURNING actor")
    return len(rows)


def followers(d: Dialect, actors: Sequence[str]) -> Plan[list[Follower]]:
    if not actors:
        return []
    bind = Binder(d)
    rows = yield bind.one(
        "SELECT actor, follower, inbox, shared_inbox, follow, since FROM followers"
        f" WHERE actor {d.one_of(bind, list(actors))} ORDER BY actor, since, follower"
    )
    return [_follower(d, row) for row in rows]


def follower_counts(d: Dialect) -> Plan[dict[str, int]]:
    bind = Binder(d)
    rows = yield bind.one("SELECT actor, count(*) AS n FROM followers GROUP BY actor")
    return {row["actor"]: int(row["n"]) for row in rows}


def queue(d: Dialect, deliveries: Sequence[Delivery], now: datetime) -> Plan[int]:
    queued = 0
    for delivery in deliveries:
        bind = Binder(d)
        values = [delivery.key, delivery.actor, delivery.inbox, delivery.activity]
        rows = yield bind.one(
            "INSERT INTO deliveries (key, actor, inbox, activity, created, next_try) VALUES"
            f" ({bind.each([*values, d.instant(now), d.instant(now)])})"
            " ON CONFLICT (key) DO NOTHING RETURNING id"
        )
        queued += len(rows)
    if queued:
        bind = Binder(d)
        yield bind.one(f"DELETE FROM deliveries WHERE done < {bind(d.instant(now - KEPT))}")
    return queued


def claim(d: Dialect, worker: str, now: datetime, lease: timedelta) -> Plan[Delivery | None]:
    bind = Binder(d)
    rows = yield bind.one(
        "SELECT id, key, actor, inbox, activity, attempts, first_failure FROM deliveries"
        f" WHERE done IS NULL AND next_try <= {bind(d.instant(now))}"
        f" AND (claimed_until IS NULL OR claimed_until <= {bind(d.instant(now))})"
        f" ORDER BY next_try, id LIMIT 1{d.for_update}"
    )
    if not rows:
        return None
    row = rows[0]
    bind = Binder(d)
    yield bind.one(
        f"UPDATE deliveries SET claimed_by = {bind(worker)},"
        f" claimed_until = {bind(d.instant(now + lease))} WHERE id = {bind(row['id'])}"
    )
    first = row["first_failure"]
    return Delivery(
        row["key"], row["actor"], row["inbox"], row["activity"], id=row["id"],
        attempts=row["attempts"], first_failure=None if first is None else d.moment(first),
    )  # fmt: skip


def delivered(d: Dialect, delivery: Delivery, now: datetime) -> Plan[None]:
    bind = Binder(d)
    yield bind.one(
        f"UPDATE deliveries SET done = {bind(d.instant(now))}, claimed_until = NULL,"
        f" attempts = attempts + 1 WHERE id = {bind(delivery.id)}"
    )


def failed(
    d: Dialect, delivery: Delivery, error: str, now: datetime, retry_at: datetime | None
) -> Plan[None]:
    bind = Binder(d)
    first = delivery.first_failure or now
    if retry_at is None:  # given up
        yield bind.one(
            f"UPDATE deliveries SET done = {bind(d.instant(now))}, attempts = attempts + 1,"
            f" last_error = {bind(error[:500])}, first_failure = {bind(d.instant(first))},"
            f" claimed_until = NULL WHERE id = {bind(delivery.id)}"
        )
        return
    yield bind.one(
        f"UPDATE deliveries SET attempts = attempts + 1, last_error = {bind(error[:500])},"
        f" next_try = {bind(d.instant(retry_at))}, first_failure = {bind(d.instant(first))},"
        f" claimed_until = NULL WHERE id = {bind(delivery.id)}"
    )


def forget_inbox(d: Dialect, inbox: str) -> Plan[int]:
    """An inbox that is gone for good: its followers go, and what waits for it."""
    bind = Binder(d)
    rows = yield bind.one(
        f"DELETE FROM followers WHERE inbox = {bind(inbox)} OR shared_inbox = {bind(inbox)}"
        " RETURNING follower"
    )
    bind = Binder(d)
    yield bind.one(
        f"UPDATE deliveries SET done = next_try, last_error = 'the inbox is gone'"
        f" WHERE inbox = {bind(inbox)} AND done IS NULL"
    )
    return len(rows)


def _follower(d: Dialect, row: Row) -> Follower:
    return Follower(
        row["actor"], row["follower"], row["inbox"], row["shared_inbox"], row["follow"],
        d.moment(row["since"]),
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Change:
    """An item whose row moved since followers were last told, with what they were told."""

    stored: Stored[Post] | Stored[Event]
    removed: bool  # its upstream stopped listing it
    digest: str | None  # of the object last sent (None: never sent)
    deleted: bool  # a Delete went out for it


@dataclass(frozen=True, slots=True)
class Planned:
    deliveries: list[Delivery]
    told: list[tuple[str, str, str, bool]]  # (uuid, actor, digest, deleted) to keep


Decide = Callable[[list[Change], list[str], list[Follower]], Planned]


def plan(d: Dialect, decide: Decide, now: datetime) -> Plan[int]:
    """Tell followers what changed since the last plan, once across every process: the
    cursor row is locked until commit, so a second planner finds nothing left.

    `decide` (feeds/federation/planner.py) gets the changed items, the ids of hidden
    items followers were told of and not yet of their deletion, and the followers; it
    returns the deliveries and what followers will then have been told."""
    [row] = yield One(f"SELECT value FROM meta WHERE key = 'federated_revision'{d.for_update}")
    start = int(row["value"])
    [row] = yield One("SELECT value FROM meta WHERE key = 'revision'")
    current = int(row["value"])
    if start >= current:
        return 0
    bind = Binder(d)
    if start < 0:  # the first plan: followers hear of what comes from now on
        yield bind.one(f"UPDATE meta SET value = {bind(current)} WHERE key = 'federated_revision'")
        return 0
    rows = yield bind.one(
        "SELECT items.kind, items.data, items.first_seen, items.changed, items.revision,"
        " items.sequence, items.removed, federated.digest, federated.deleted FROM items"
        " LEFT JOIN federated ON federated.uuid = items.uuid"
        f" WHERE items.revision > {bind(start)} AND NOT EXISTS (SELECT 1 FROM hidden"
        " WHERE hidden.uuid = items.uuid AND hidden.shown IS NULL)"
    )
    changes = [_change(d, row) for row in rows]
    hidden_rows = yield One(
        "SELECT hidden.uuid, hidden.site FROM hidden JOIN federated ON federated.uuid ="
        " hidden.uuid WHERE hidden.shown IS NULL AND federated.deleted IS NULL"
    )
    hidden = [f"{row['site']}/{row['uuid']}" for row in hidden_rows]
    sites = sorted({c.stored.item.site for c in changes} | {h.split("/")[0] for h in hidden})
    followed = yield from followers(d, [*sites, "network"]) if sites else _none()
    planned = decide(changes, hidden, followed)
    for uuid, actor, digest, deleted in planned.told:
        bind = Binder(d)
        gone = d.instant(now) if deleted else None
        yield bind.one(
            "INSERT INTO federated (uuid, actor, digest, deleted) VALUES"
            f" ({bind.each([uuid, actor, digest, gone])}) ON CONFLICT (uuid) DO UPDATE SET"
            " digest = excluded.digest, deleted = excluded.deleted"
        )
    queued = yield from queue(d, planned.deliveries, now)
    bind = Binder(d)
    yield bind.one(f"UPDATE meta SET value = {bind(current)} WHERE key = 'federated_revision'")
    return queued


def _none() -> Plan[list[Follower]]:
    return []
    yield  # a plan without statements


def _change(d: Dialect, row: Row) -> Change:
    item = codec.loads(row["data"])
    first_seen, changed = d.moment(row["first_seen"]), d.moment(row["changed"])
    stored: Stored[Post] | Stored[Event]
    if isinstance(item, Post):
        stored = Stored(item, first_seen, changed, row["revision"], row["sequence"])
    else:
        stored = Stored(item, first_seen, changed, row["revision"], row["sequence"])
    removed, deleted = row["removed"] is not None, row["deleted"] is not None
    return Change(stored, removed, row["digest"], deleted)
