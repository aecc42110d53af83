"""Sending what the queue holds (feeds/store/federation.py): one delivery at a time,
claimed so that of all processes and instances one sends it, signed afresh at every try
(a signature more than five minutes old is refused), retried with backoff.

An inbox that answers 410 is gone: its followers go with it. One that refuses what it
was sent (400, 403, 404, 422…) will not take it later either; one that fails otherwise
is tried again, from a minute doubling to six hours, and given up after three days.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from feeds.federation.keys import Keys
from feeds.federation.planner import decider
from feeds.federation.remote import Remote, RemoteError
from feeds.federation.signatures import signed_post
from feeds.model import Network
from feeds.store import Delivery, Store, StoreError
from feeds.urls import Urls

log = logging.getLogger(__name__)

EVERY_SECONDS = 5.0  # how often the queue is looked at, besides when woken
SENDERS = 8  # deliveries under way at once, per process
LEASE = timedelta(minutes=2)
RETRY_FIRST = timedelta(minutes=1)
RETRY_MAX = timedelta(hours=6)
GIVE_UP_AFTER = timedelta(days=3)
TRANSIENT = {401, 408, 425, 429}  # 401: its cache may hold an older key of ours


class Deliverer:
    def __init__(
        self,
        store: Store,
        keys: Keys,
        remote: Remote,
        urls: Urls,
        network: Callable[[], Network],
        *,
        worker: str,
        every: float = EVERY_SECONDS,
        retry_first: timedelta = RETRY_FIRST,
    ) -> None:
        self.retry_first = retry_first
        self.network = network  # the configuration in force
        self.store = store
        self.keys = keys
        self.remote = remote
        self.urls = urls
        self.worker = worker
        self.every = every
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.every)
            self._wake.clear()
            try:
                await self.round()
            except StoreError:
                log.exception("fediverse: the store failed; delivering later")

    async def round(self) -> int:
        """Plan what changed (once, whichever process comes first), then send what is
        due; how many were delivered."""
        now = _now()
        planned = await self.store.plan_federation(decider(self.urls, self.network(), now), now)
        if planned:
            log.info("fediverse: %d deliveries queued", planned)
        # Several at once: a remote server takes a fraction of a second to answer, and a
        # popular group's post goes to hundreds of them.
        counts = await asyncio.gather(*(self._drain() for _ in range(SENDERS)))
        return sum(counts)

    async def _drain(self) -> int:
        sent = 0
        while (delivery := await self.store.claim_delivery(self.worker, _now(), LEASE)) is not None:
            sent += await self.send(delivery)
        return sent

    async def send(self, delivery: Delivery) -> int:
        now = _now()
        key = await self.keys.of(delivery.actor, now)
        body = delivery.activity.encode()
        headers = signed_post(self.urls.key_id(delivery.actor), key.private_key, delivery.inbox,
                              body, now)  # fmt: skip
        try:
            status = await self.remote.post(delivery.inbox, body, headers)
        except RemoteError as exc:
            await self._failed(delivery, str(exc), now, transient=True)
            return 0
        if 200 <= status < 300:
            await self.store.delivered(delivery, now)
            log.info("fediverse: delivered %s to %s", delivery.key.split(":")[0], delivery.inbox)
            return 1
        if status == 410:
            gone = await self.store.forget_inbox(delivery.inbox)
            log.info("fediverse: %s is gone (410); %d followers with it", delivery.inbox, gone)
            await self.store.delivery_failed(delivery, "the inbox is gone (410)", now, None)
            return 0
        transient = status >= 500 or status in TRANSIENT
        await self._failed(delivery, f"the inbox answered {status}", now, transient=transient)
        return 0

    async def _failed(
        self, delivery: Delivery, error: str, now: datetime, *, transient: bool
    ) -> None:
        first = delivery.first_failure or now
        if not transient or now - first >= GIVE_UP_AFTER:
            log.warning("fediverse: %s to %s given up: %s", delivery.key, delivery.inbox, error)
            await self.store.delivery_failed(delivery, error, now, None)
            return
        retry = min(self.retry_first * 2**delivery.attempts, RETRY_MAX)
        log.info("fediverse: %s to %s failed (%s); again in %s", delivery.key, delivery.inbox,
                 error, retry)  # fmt: skip
        await self.store.delivery_failed(delivery, error, now, now + retry)


def _now() -> datetime:
    return datetime.now(UTC)
