"""Renders shared by every process of `feeds serve --workers N` and every instance on one
store: after a harvest, a popular view is rendered once, not once per process.

Chosen by measurement (README, "Renders shared across processes"): the store, which every
process and instance already shares (SQLite's file, PostgreSQL), rather than Redis, which
the service does not otherwise need: taking the network's calendar (1,000 events, 1 MB
with its codings) from PostgreSQL costs a few milliseconds against hundreds for its render.

Whoever misses a view claims it in the store for the store's revision
(feeds/store/renders.py), renders it, and keeps the bytes and their codings there; the
others wait for them (polling, at most the claim's lease) and keep them in their own
render cache. A render that fails gives its claim up at once; one whose process died
is claimed again when its lease runs out.

What is shared is bounded by the views, not by what clients send: only views without
filters or an item (the popular ones: feeds, calendars, pages of the network and each
group), and only with FEEDS_BASE_URL set, so that no Host header makes a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import socket
import time
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from feeds.model import Network
from feeds.store import RenderClaim, SharedRender, Store, StoreError
from feeds.web.rendered import Rendered

LEASE = timedelta(seconds=30)  # a render longer than this is made again elsewhere
POLL_SECONDS = 0.05


class Claimed:
    """This process is to render the view and keep it (`SharedRenders.keep`)."""


CLAIMED = Claimed()


@dataclass(frozen=True, slots=True)
class Shared:
    """A view's place in the store: its digest and the store revision it is for."""

    key: str
    revision: int


class SharedRenders:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.configuration = ""  # digest of the network served: views list its groups

    def place(self, key: Hashable, revision: int) -> Shared:
        text = repr((self.configuration, key))
        return Shared(hashlib.blake2b(text.encode(), digest_size=20).hexdigest(), revision)

    async def take(self, place: Shared, local: int) -> Rendered | Claimed | None:
        """The view's render from the store (as of `local`, this process's revision), or
        CLAIMED (render it here and keep it), or None (render it here, share nothing)."""
        deadline = time.monotonic() + LEASE.total_seconds()
        try:
            while True:
                found = await self.store.shared_render(place.key, place.revision, time.time())
                if found is not None:
                    return unpack(found, local)
                now = datetime.now(UTC)
                claim = await self.store.claim_render(
                    place.key, place.revision, self.owner, now, now + LEASE
                )
                if claim is RenderClaim.MINE:
                    return CLAIMED
                if claim is RenderClaim.ELSEWHERE:  # another revision is there: no waiting
                    return None
                if claim is RenderClaim.BUSY:
                    if time.monotonic() > deadline:
                        return None
                    await asyncio.sleep(POLL_SECONDS)
        except StoreError:  # a store that cannot share: each process renders, as before
            return None

    async def keep(self, place: Shared, rendered: Rendered) -> None:
        with contextlib.suppress(StoreError):  # the others render it themselves
            await self.store.keep_render(place.key, place.revision, self.owner, pack(rendered))

    async def give_up(self, place: Shared) -> None:
        with contextlib.suppress(StoreError):
            await self.store.release_render(place.key, place.revision, self.owner)


def network_digest(network: Network) -> str:
    """The network served, as views depend on it (its groups, names, regions): processes
    with the same configuration share renders, others do not."""
    return hashlib.blake2b(repr(network).encode(), digest_size=16).hexdigest()


def pack(rendered: Rendered) -> SharedRender:
    meta = {
        "content_type": rendered.content_type,
        "etag": rendered.etag,
        "last_modified": rendered.last_modified.isoformat() if rendered.last_modified else None,
        "valid_until": rendered.valid_until.isoformat() if rendered.valid_until else None,
        "last_modified_http": rendered.last_modified_http,
        "disposition": rendered.disposition,
        "etags": sorted(rendered.etags),
        "headers": [list(pair) for pair in rendered.headers],
    }
    return SharedRender(
        json.dumps(meta), rendered.body, dict(rendered.compressed), rendered.stamp.fresh_until
    )


def unpack(shared: SharedRender, revision: int) -> Rendered:
    meta = json.loads(shared.meta)

    def moment(value: str | None) -> datetime | None:
        return datetime.fromisoformat(value) if value else None

    return Rendered(
        shared.body,
        meta["content_type"],
        meta["etag"],
        moment(meta["last_modified"]),
        revision,
        moment(meta["valid_until"]),
        last_modified_http=meta["last_modified_http"],
        compressed=dict(shared.codings),
        disposition=meta["disposition"],
        etags=frozenset(meta["etags"]),
        headers=tuple((name, value) for name, value in meta["headers"]),
    )
