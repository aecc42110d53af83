"""Each actor's key pair: RSA 2048, made the first time the actor is needed, kept in the
store (so every process and instance signs with the same key), rotated on demand
(`feeds rotate-key`). A process keeps what it read for a minute: a rotated key is in
use everywhere within that time."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

from bovine.crypto import generate_rsa_public_private_key

from feeds.store import ActorKey, Store

KEPT_SECONDS = 60.0


class Keys:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._read: dict[str, tuple[float, ActorKey]] = {}

    async def of(self, name: str, now: datetime, *, fresh: bool = False) -> ActorKey:
        """`name`'s key pair (made now if it has none); `fresh`: as the store has it now,
        as the actor's document shows it."""
        kept = self._read.get(name)
        if kept is not None and not fresh and time.monotonic() - kept[0] < KEPT_SECONDS:
            return kept[1]
        found = (await self.store.actor_keys([name])).get(name)
        if found is None:
            # Two processes may make one at once: the store keeps the first, both use it.
            await self.store.add_actor_key(await made(name), now)
            found = (await self.store.actor_keys([name]))[name]
        self._read[name] = (time.monotonic(), found)
        return found

    def cached(self, name: str) -> ActorKey | None:
        """What was read of `name`'s key, however old (for signing a fetch in passing)."""
        kept = self._read.get(name)
        return kept[1] if kept else None


async def made(name: str) -> ActorKey:
    """A new key pair (about 0.1 s of CPU: off the event loop)."""
    public, private = await asyncio.to_thread(generate_rsa_public_private_key)
    return ActorKey(name, public, private)


async def rotate(store: Store, name: str, now: datetime) -> ActorKey:
    key = await made(name)
    await store.add_actor_key(key, now, replace=True)
    return key
