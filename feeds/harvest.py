"""Drive the sources into the store: once, or each at its interval, forever.

A broken source is recorded and retried later; it never stops another, and what it
delivered before stays in the store.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import aiohttp

from feeds import __version__
from feeds.model import Network
from feeds.store import Store, StoreError
from sources.base import Fetched, Source, SourceError

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(hours=6)

SourceKey = tuple[str, str]  # (site, source)


@dataclass(frozen=True, slots=True)
class Outcome:
    site: str
    source: str
    status: str  # "ok", "not-modified" or "failed"
    new: int = 0
    changed: int = 0
    revision: int | None = None
    error: str | None = None
    seconds: float = 0.0


def utcnow() -> datetime:
    return datetime.now(UTC)


async def harvest_source(
    store: Store, session: aiohttp.ClientSession, key: SourceKey, source: Source
) -> Outcome:
    """Fetch one source and write what it gave in one transaction; failures are recorded."""
    site, name = key
    started = time.perf_counter()
    state = await store.source_state(site, name)
    try:
        result = await source.fetch(session, state.validators)
    except SourceError as exc:
        await store.save_failure(site, name, str(exc), exc.status, utcnow())
        outcome = Outcome(
            site, name, "failed", error=str(exc), seconds=time.perf_counter() - started
        )
        log.warning("harvest %s/%s failed: %s", site, name, exc)
        return outcome
    if not isinstance(result, Fetched):
        await store.save_not_modified(site, name, result.validators, utcnow())
        return Outcome(site, name, "not-modified", seconds=time.perf_counter() - started)
    batch = await store.save_batch(
        site, name, result.posts, result.events, result.validators, utcnow()
    )
    outcome = Outcome(
        site,
        name,
        "ok",
        new=batch.new,
        changed=batch.changed,
        revision=batch.revision,
        seconds=time.perf_counter() - started,
    )
    log.info(
        "harvest %s/%s ok: %d new, %d changed, %d unchanged, %d skipped in %.2fs",
        site,
        name,
        batch.new,
        batch.changed,
        batch.unchanged,
        len(result.skipped),
        outcome.seconds,
    )
    return outcome


class Harvester:
    """Runs every source at its interval; tells `on_revision` when the store changed."""

    def __init__(
        self,
        store: Store,
        network: Network,
        sources: Mapping[SourceKey, Source],
        *,
        concurrency: int = 8,
        on_revision: Callable[[int], None] = lambda revision: None,
        contact_url: str | None = None,
    ) -> None:
        self.store = store
        self.sources = dict(sources)
        self.intervals = {
            (site.slug, config.name): config.interval
            for site in network.sites
            for config in site.sources
        }
        self.on_revision = on_revision
        self.user_agent = user_agent(contact_url)
        self._slots = asyncio.Semaphore(concurrency)
        self._failures: dict[SourceKey, int] = {}

    async def run_once(self, keys: list[SourceKey] | None = None) -> list[Outcome]:
        async with _client_session(self.user_agent) as session:
            return list(
                await asyncio.gather(*(self._harvest(session, key) for key in keys or self.sources))
            )

    async def run_forever(self) -> None:
        async with _client_session(self.user_agent) as session, asyncio.TaskGroup() as group:
            for key in self.sources:
                group.create_task(self._loop(session, key))

    async def _loop(self, session: aiohttp.ClientSession, key: SourceKey) -> None:
        while True:
            outcome = await self._harvest(session, key)
            await asyncio.sleep(self.delay_after(key, outcome).total_seconds())

    def delay_after(self, key: SourceKey, outcome: Outcome) -> timedelta:
        """The interval after success; exponential backoff with jitter after failures."""
        interval = self.intervals.get(key, timedelta(minutes=15))
        if outcome.status != "failed":
            self._failures.pop(key, None)
            return interval
        failures = self._failures[key] = self._failures.get(key, 0) + 1
        backoff: timedelta = min(interval * 2 ** (failures - 1), MAX_BACKOFF)
        return backoff * random.uniform(0.5, 1.0)  # jitter spreads retries of a shared host

    async def _harvest(self, session: aiohttp.ClientSession, key: SourceKey) -> Outcome:
        async with self._slots:
            try:
                outcome = await harvest_source(self.store, session, key, self.sources[key])
            except StoreError:
                log.exception("harvest %s/%s: the store failed", *key)
                return Outcome(*key, "failed", error="the store failed")
        if outcome.revision is not None and (outcome.new or outcome.changed):
            self.on_revision(outcome.revision)
        return outcome


def user_agent(contact_url: str | None) -> str:
    """Names the service, and where its operator can be found, to the sites it polls."""
    agent = f"engagement-feeds/{__version__}"
    return f"{agent} (+{contact_url})" if contact_url else agent


def _client_session(agent: str) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        headers={"User-Agent": agent},
        timeout=aiohttp.ClientTimeout(total=60, connect=10),
    )
