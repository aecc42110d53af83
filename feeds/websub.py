"""WebSub: telling the hub which feeds changed, so subscribed readers get them pushed.

Feeds name the hub (`rel="hub"`, JSON Feed `hubs`); after a harvest changes a group's
items, its news and events feeds and the network's are announced to the hub with
`hub.mode=publish` (the ping PubSubHubbub hubs take; several `hub.url` in one request).
Changes are collected for a moment, so one harvest round is one ping, not one per source.
A hub that is down costs a log line, never a harvest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable

import aiohttp

from feeds.config import Settings
from feeds.urls import FEEDS, NETWORK, Urls

log = logging.getLogger(__name__)

BATCH = 50  # hub.url values per request


def feed_urls(base_url: str, sites: Iterable[str]) -> list[str]:
    """The feeds that change when these groups' items do: theirs and the network's."""
    slugs, urls = [*sorted(set(sites)), NETWORK], Urls(base_url)
    kinds = (urls.news, urls.events_feed)
    return [address(s, fmt) for s in slugs for address in kinds for fmt in FEEDS]


class Publisher:
    def __init__(
        self, hub: str, base_url: str, session: aiohttp.ClientSession, *, delay: float = 2.0
    ) -> None:
        self.hub = hub
        self.base_url = base_url
        self.session = session
        self.delay = delay
        self._pending: set[str] = set()
        self._flush: asyncio.Task[None] | None = None

    def changed(self, site: str) -> None:
        """A group's items changed; the hub hears of it after `delay` (with the others)."""
        self._pending.add(site)
        if self._flush is None or self._flush.done():
            self._flush = asyncio.create_task(self._later(), name="websub")

    async def settled(self) -> None:
        """Until every change so far has been announced (tests, shutdown)."""
        while self._flush is not None and not self._flush.done():
            await asyncio.shield(self._flush)

    async def close(self, wait: float = 5.0) -> None:
        """Announce what is pending (for at most `wait` seconds), then stop."""
        if self._flush is None:
            return
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(self.settled(), wait)
        self._flush.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._flush

    async def _later(self) -> None:
        await asyncio.sleep(self.delay)
        sites, self._pending = self._pending, set()
        urls = feed_urls(self.base_url, sites)
        for start in range(0, len(urls), BATCH):
            form = [("hub.mode", "publish")] + [("hub.url", u) for u in urls[start : start + BATCH]]
            try:
                async with self.session.post(self.hub, data=form) as response:
                    if response.status >= 300:
                        body = (await response.text())[:200]
                        log.warning(
                            "websub hub %s answered %s: %s", self.hub, response.status, body
                        )
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.warning("websub hub %s unreachable: %s", self.hub, exc)


@contextlib.asynccontextmanager
async def publishing(settings: Settings, delay: float = 2.0) -> AsyncIterator[Publisher | None]:
    """A publisher when a hub is configured (and the public address known), else None."""
    if settings.websub_hub is None:
        yield None
        return
    if settings.base_url is None:
        log.warning(
            "FEEDS_WEBSUB_HUB is set but FEEDS_BASE_URL is not: feeds name the hub, but the"
            " hub is not told of changes (it needs the addresses readers subscribed to)"
        )
        yield None
        return
    timeout = aiohttp.ClientTimeout(total=30)
    connector = settings.outbound.connector()
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        publisher = Publisher(settings.websub_hub, settings.base_url, session, delay=delay)
        try:
            yield publisher
        finally:
            await publisher.close()
