"""The fediverse as one process holds it: addresses, keys, remote documents, the inbox,
the deliverer and the per-server rate of inbox requests. Made when FEEDS_FEDERATION is on."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from feeds.federation import NETWORK_ACTOR
from feeds.federation.delivery import Deliverer
from feeds.federation.inbox import Inbox
from feeds.federation.keys import Keys
from feeds.federation.remote import Remote
from feeds.model import Network
from feeds.store import Store
from feeds.urls import Urls
from sources.outbound import Outbound

INBOX_RATE = 2.0  # requests a second from one server, on average
INBOX_BURST = 120.0  # what one server may send at once (a busy server's backlog)


@dataclass
class Rate:
    """A token bucket per remote server: within it, requests pass; past it, 429."""

    per_second: float = INBOX_RATE
    burst: float = INBOX_BURST
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def take(self, host: str) -> bool:
        now = time.monotonic()
        tokens, then = self._buckets.get(host, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.per_second)
        if len(self._buckets) > 50_000:  # many servers: forget the quiet ones
            self._buckets.clear()
        if tokens < 1:
            self._buckets[host] = (tokens, now)
            return False
        self._buckets[host] = (tokens - 1, now)
        return True


@dataclass
class Federation:
    urls: Urls  # under FEEDS_BASE_URL: ids must not depend on how a request came in
    host: str  # the host of every account's name: @group@host
    keys: Keys
    remote: Remote
    inbox: Inbox
    deliverer: Deliverer
    rate: Rate


def federation(store: Store, network: Callable[[], Network], base_url: str,
               outbound: Outbound, user_agent: str, worker: str) -> Federation:  # fmt: skip
    urls = Urls(base_url)
    keys = Keys(store)
    remote = Remote(
        outbound,
        user_agent,
        signing=lambda: keys.cached(NETWORK_ACTOR),
        key_id=urls.key_id(NETWORK_ACTOR),
    )
    deliverer = Deliverer(store, keys, remote, urls, network, worker=worker)
    inbox = Inbox(store, remote, on_queued=deliverer.wake)
    return Federation(urls, urlsplit(base_url).netloc, keys, remote, inbox, deliverer, Rate())
