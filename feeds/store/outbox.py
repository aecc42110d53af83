"""The outbox: mails queued in the store, so that each is sent once however many
processes and instances run (feeds/alerts.py writes them, feeds/mailer.py sends them).

A mail is queued under a key naming what it is about; a second queueing of the same key,
by any process, is a no-op. Sending claims one mail at a time, like a harvest claims its
source: of processes claiming at once one gets it, and a claim whose sender died lapses.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta

from feeds.store.base import Mail
from feeds.store.dialect import Binder, Dialect, Plan

KEPT = timedelta(days=90)  # sent mails are kept this long (what /status shows of them)


def queue(d: Dialect, mails: Sequence[Mail], now: datetime) -> Plan[int]:
    queued = 0
    for mail in mails:
        bind = Binder(d)
        rows = yield bind.one(
            "INSERT INTO outbox (key, channel, recipients, subject, body, created, next_try)"
            f" VALUES ({bind(mail.key)}, {bind(mail.channel)},"
            f" {bind(json.dumps(list(mail.recipients)))}, {bind(mail.subject)},"
            f" {bind(mail.body)}, {bind(d.instant(now))}, {bind(d.instant(now))})"
            " ON CONFLICT (key) DO NOTHING RETURNING id"
        )
        queued += len(rows)
    if queued:
        bind = Binder(d)
        yield bind.one(f"DELETE FROM outbox WHERE sent < {bind(d.instant(now - KEPT))}")
    return queued


def queued(d: Dialect, keys: Sequence[str]) -> Plan[set[str]]:
    if not keys:
        return set()
    bind = Binder(d)
    rows = yield bind.one(f"SELECT key FROM outbox WHERE key {d.one_of(bind, list(keys))}")
    return {row["key"] for row in rows}


def claim(d: Dialect, worker: str, now: datetime, lease: timedelta) -> Plan[Mail | None]:
    bind = Binder(d)
    rows = yield bind.one(
        "SELECT id, key, channel, recipients, subject, body, attempts FROM outbox"
        f" WHERE sent IS NULL AND next_try <= {bind(d.instant(now))}"
        f" AND (claimed_until IS NULL OR claimed_until <= {bind(d.instant(now))})"
        f" ORDER BY id LIMIT 1{d.for_update}"
    )
    if not rows:
        return None
    row = rows[0]
    bind = Binder(d)
    yield bind.one(
        f"UPDATE outbox SET claimed_by = {bind(worker)},"
        f" claimed_until = {bind(d.instant(now + lease))} WHERE id = {bind(row['id'])}"
    )
    return Mail(
        row["key"],
        tuple(json.loads(row["recipients"])),
        row["subject"],
        row["body"],
        id=row["id"],
        attempts=row["attempts"],
        channel=row["channel"],
    )


def sent(d: Dialect, mail: Mail, now: datetime) -> Plan[None]:
    bind = Binder(d)
    yield bind.one(
        f"UPDATE outbox SET sent = {bind(d.instant(now))}, claimed_until = NULL,"
        f" attempts = attempts + 1 WHERE id = {bind(mail.id)}"
    )


def failed(d: Dialect, mail: Mail, error: str, retry_at: datetime) -> Plan[None]:
    bind = Binder(d)
    yield bind.one(
        f"UPDATE outbox SET attempts = attempts + 1, last_error = {bind(error[:500])},"
        f" next_try = {bind(d.instant(retry_at))}, claimed_until = NULL"
        f" WHERE id = {bind(mail.id)}"
    )
