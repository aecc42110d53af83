"""Rendered bytes kept per (route, query, store revision): a repeated request is a look-up."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime

from feeds.store import Store, StoreError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Rendered:
    body: bytes
    content_type: str
    etag: str  # strong, quoted
    last_modified: datetime
    revision: int


def make_rendered(
    body: bytes, content_type: str, last_modified: datetime, revision: int
) -> Rendered:
    etag = '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'
    return Rendered(
        body, content_type, etag, last_modified.astimezone(UTC).replace(microsecond=0), revision
    )


class Revision:
    """The store's current revision, held in memory: bumped by an in-process harvester,
    polled from the store when another process harvests."""

    def __init__(self, value: int = 0) -> None:
        self.value = value

    def bump(self, value: int) -> None:
        self.value = max(self.value, value)

    async def follow(self, store: Store, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                self.bump(await store.revision())
            except StoreError:
                log.exception("cannot read the store revision")


class RenderCache:
    def __init__(self, max_entries: int = 1024) -> None:
        self._entries: OrderedDict[Hashable, Rendered] = OrderedDict()
        self._locks: dict[Hashable, asyncio.Lock] = {}
        self.max_entries = max_entries

    def get(self, key: Hashable, revision: int) -> Rendered | None:
        hit = self._entries.get(key)
        if hit is None or hit.revision != revision:
            return None
        self._entries.move_to_end(key)
        return hit

    async def get_or_render(
        self, key: Hashable, revision: int, render: Callable[[], Awaitable[Rendered]]
    ) -> Rendered:
        hit = self.get(key, revision)
        if hit is not None:
            return hit
        # One render per key at a time: a burst of pollers after a harvest waits for it.
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            hit = self.get(key, revision)
            if hit is None:
                hit = await render()
                self._entries[key] = hit
                self._entries.move_to_end(key)
                while len(self._entries) > self.max_entries:
                    old, _ = self._entries.popitem(last=False)
                    self._locks.pop(old, None)
        return hit
