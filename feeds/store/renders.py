"""Renders shared by every process and instance (feeds/web/shared.py), written once for
both stores: one row per view, holding the render of one store revision, or a claim on
making it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from feeds.store.dialect import Binder, Dialect, Plan


@dataclass(frozen=True, slots=True)
class SharedRender:
    meta: str  # what the web layer wrote of it besides the bytes (JSON)
    body: bytes
    codings: dict[str, bytes]  # its compressed forms
    fresh_until: float | None = None  # POSIX seconds, for views that move with the clock


class RenderClaim(Enum):
    MINE = "mine"  # render it, then keep it
    READY = "ready"  # it is there: take it
    BUSY = "busy"  # another is making it: wait for it
    ELSEWHERE = "elsewhere"  # the row is at another revision: render it, share nothing


def found(d: Dialect, key: str, revision: int, clock: float) -> Plan[SharedRender | None]:
    bind = Binder(d)
    rows = yield bind.one(
        "SELECT meta, body, br, gzip FROM renders"
        f" WHERE key = {bind(key)} AND revision = {bind(revision)} AND body IS NOT NULL"
        f" AND (fresh_until IS NULL OR fresh_until > {bind(clock)})"
    )
    if not rows:
        return None
    row = rows[0]
    codings = {name: bytes(row[name]) for name in ("br", "gzip") if row[name] is not None}
    return SharedRender(row["meta"], bytes(row["body"]), codings)


def claim(
    d: Dialect, key: str, revision: int, owner: str, now: datetime, until: datetime
) -> Plan[RenderClaim]:
    """Claim making the view's render of `revision`: where the row is older, or is this
    revision's but unmade (or made and no longer fresh) and unclaimed, or its claim has
    run out (its maker died)."""
    bind = Binder(d)
    values = [key, revision, owner, d.instant(until)]
    clock = now.timestamp()
    rows = yield bind.one(
        "INSERT INTO renders (key, revision, claimed_by, claimed_until)"
        f" VALUES ({bind.each(values)}) ON CONFLICT (key) DO UPDATE SET"
        " revision = excluded.revision, claimed_by = excluded.claimed_by,"
        " claimed_until = excluded.claimed_until,"
        " meta = NULL, body = NULL, br = NULL, gzip = NULL"
        " WHERE renders.revision < excluded.revision OR (renders.revision = excluded.revision"
        f" AND (renders.body IS NULL OR renders.fresh_until < {bind(clock)})"
        f" AND (renders.claimed_until IS NULL OR renders.claimed_until < {bind(d.instant(now))}))"
        " RETURNING claimed_by"
    )
    if rows:
        return RenderClaim.MINE
    bind = Binder(d)
    rows = yield bind.one(
        "SELECT revision, body IS NOT NULL AND (fresh_until IS NULL OR fresh_until >"
        f" {bind(clock)}) AS made FROM renders WHERE key = {bind(key)}"
    )
    if not rows or int(rows[0]["revision"]) != revision:
        return RenderClaim.ELSEWHERE
    return RenderClaim.READY if rows[0]["made"] else RenderClaim.BUSY


def keep(d: Dialect, key: str, revision: int, owner: str, shared: SharedRender) -> Plan[bool]:
    """Keep the render this owner claimed; False where the claim was lost meanwhile."""
    bind = Binder(d)
    rows = yield bind.one(
        f"UPDATE renders SET meta = {bind(shared.meta)}, body = {bind(shared.body)},"
        f" br = {bind(shared.codings.get('br'))}, gzip = {bind(shared.codings.get('gzip'))},"
        f" fresh_until = {bind(shared.fresh_until)},"
        " made = made + 1, claimed_by = NULL, claimed_until = NULL"
        f" WHERE key = {bind(key)} AND revision = {bind(revision)}"
        f" AND claimed_by = {bind(owner)} RETURNING key"
    )
    return bool(rows)


def release(d: Dialect, key: str, revision: int, owner: str) -> Plan[None]:
    """A claim given up (the render failed): the next to ask claims it at once."""
    bind = Binder(d)
    yield bind.one(
        "UPDATE renders SET claimed_by = NULL, claimed_until = NULL"
        f" WHERE key = {bind(key)} AND revision = {bind(revision)} AND claimed_by = {bind(owner)}"
    )


def made(d: Dialect) -> Plan[dict[str, int]]:
    """How often each view was rendered, over every process and instance."""
    rows = yield Binder(d).one("SELECT key, made FROM renders")
    return {row["key"]: int(row["made"]) for row in rows}
