"""Drive the sources into the store: once, or each at its interval, forever.

Polite to volunteer-run sites (a per-host connection limit, conditional GET, Retry-After,
backoff with jitter) and hard to break: a failing, slow or huge source is recorded and
retried later, never stops another, and what it delivered before stays in the store.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import aiohttp

from feeds import __version__
from feeds.model import Network
from feeds.store import Store, StoreError
from sources.base import Fetched, Source, SourceError, host_of

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(hours=6)
GONE_RECHECK = timedelta(days=1)  # a 410 source is asked again daily, in case it returns
MAX_RETRY_AFTER = timedelta(days=1)

SourceKey = tuple[str, str]  # (site, source)


@dataclass(frozen=True, slots=True)
class Limits:
    """How hard the harvester may pull, in total and on any one host."""

    concurrency: int = 16  # connections at once, over all hosts
    per_host: int = 2
    connect_timeout: float = 10.0
    total_timeout: float = 60.0  # a body trickling in at one byte a second ends here


@dataclass(frozen=True, slots=True)
class Outcome:
    site: str
    source: str
    status: str  # "ok", "not-modified" or "failed"
    new: int = 0
    changed: int = 0
    revision: int | None = None
    error: str | None = None
    http_status: int | None = None
    retry_after: float | None = None
    moved_to: str | None = None
    seconds: float = 0.0

    @property
    def gone(self) -> bool:
        return self.http_status == 410


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
        return Outcome(
            site,
            name,
            "failed",
            error=str(exc),
            http_status=exc.status,
            retry_after=exc.retry_after,
            seconds=time.perf_counter() - started,
        )
    if not isinstance(result, Fetched):
        await store.save_not_modified(site, name, result.validators, utcnow())
        return Outcome(
            site,
            name,
            "not-modified",
            moved_to=result.moved_to,
            seconds=time.perf_counter() - started,
        )
    if not result.posts and not result.events and state.items:
        # An upstream that suddenly lists nothing is more likely broken than empty.
        error = (
            f"the source returned no items, where it had {state.items} before;"
            " kept them and will ask again"
        )
        await store.save_failure(site, name, error, None, utcnow())
        return Outcome(site, name, "failed", error=error, seconds=time.perf_counter() - started)
    batch = await store.save_batch(
        site, name, result.posts, result.events, result.validators, utcnow()
    )
    return Outcome(
        site,
        name,
        "ok",
        new=batch.new,
        changed=batch.changed,
        revision=batch.revision,
        moved_to=result.moved_to,
        seconds=time.perf_counter() - started,
    )


class Harvester:
    """Runs every source at its interval; tells `on_revision` when the store changed."""

    def __init__(
        self,
        store: Store,
        network: Network,
        sources: Mapping[SourceKey, Source],
        *,
        limits: Limits = Limits(),
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
        self.limits = limits
        self.on_revision = on_revision
        self.user_agent = user_agent(contact_url)
        self._failures: dict[SourceKey, int] = {}

    async def run_once(self, keys: list[SourceKey] | None = None) -> list[Outcome]:
        """Harvest the given sources (all by default) now, side by side."""
        wanted = keys or list(self.sources)
        async with self._client_session() as session:
            done = await asyncio.gather(
                *(self._harvest(session, key) for key in self.busiest_hosts_first(wanted))
            )
        by_key = {(o.site, o.source): o for o, _ in done}
        return [by_key[key] for key in wanted]

    def busiest_hosts_first(self, keys: list[SourceKey]) -> list[SourceKey]:
        """Sources of hosts with many sources start first: their queue under the per-host
        limit is the longest, and it then runs alongside everything else."""
        load = Counter(host_of(self.sources[key]) for key in keys)
        return sorted(keys, key=lambda key: -load[host_of(self.sources[key])])

    async def run_forever(self) -> None:
        async with self._client_session() as session, asyncio.TaskGroup() as group:
            for key in self.sources:
                group.create_task(self._loop(session, key))

    async def _loop(self, session: aiohttp.ClientSession, key: SourceKey) -> None:
        while True:
            _, delay = await self._harvest(session, key)
            await asyncio.sleep(delay.total_seconds())

    def delay_after(self, key: SourceKey, outcome: Outcome) -> timedelta:
        """The interval after success; after failures, backoff with jitter or Retry-After."""
        interval = self.intervals.get(key, timedelta(minutes=15))
        if outcome.status != "failed":
            self._failures.pop(key, None)
            return interval
        if outcome.gone:
            return GONE_RECHECK
        failures = self._failures[key] = self._failures.get(key, 0) + 1
        backoff: timedelta = min(interval * 2 ** (failures - 1), MAX_BACKOFF)
        delay = backoff * random.uniform(0.5, 1.0)  # jitter spreads retries of a shared host
        if outcome.retry_after is not None:
            asked = min(timedelta(seconds=outcome.retry_after), MAX_RETRY_AFTER)
            delay = max(delay, asked)
        return delay

    async def _harvest(
        self, session: aiohttp.ClientSession, key: SourceKey
    ) -> tuple[Outcome, timedelta]:
        """One harvest of one source, and how long until its next."""
        # No semaphore here: the connector's limits hold connections, so a source waiting
        # for its busy host does not keep sources on other hosts waiting too.
        try:
            outcome = await harvest_source(self.store, session, key, self.sources[key])
        except StoreError as exc:
            log.exception("harvest site=%s source=%s: the store failed", *key)
            outcome = Outcome(*key, "failed", error=f"the store failed: {exc}")
            return outcome, self.delay_after(key, outcome)
        delay = self.delay_after(key, outcome)
        try:
            await self.store.save_schedule(
                *key, utcnow() + delay, gone=outcome.gone, moved_to=outcome.moved_to
            )
        except StoreError:
            log.exception("harvest site=%s source=%s: cannot save the schedule", *key)
        _log(outcome, delay)
        if outcome.revision is not None and (outcome.new or outcome.changed):
            self.on_revision(outcome.revision)
        return outcome, delay

    def _client_session(self) -> aiohttp.ClientSession:
        limits = self.limits
        return aiohttp.ClientSession(
            headers={"User-Agent": self.user_agent},
            # The connector enforces the per-host limit on connections, whichever adapter asks.
            connector=aiohttp.TCPConnector(
                limit=limits.concurrency, limit_per_host=limits.per_host
            ),
            timeout=aiohttp.ClientTimeout(
                total=limits.total_timeout, connect=limits.connect_timeout
            ),
        )


def _log(outcome: Outcome, delay: timedelta) -> None:
    fields = {
        "site": outcome.site,
        "source": outcome.source,
        "status": outcome.status,
        "new": outcome.new,
        "changed": outcome.changed,
        "http": outcome.http_status,
        "seconds": round(outcome.seconds, 3),
        "next_in": int(delay.total_seconds()),
        "moved_to": outcome.moved_to,
        "error": outcome.error,
    }
    text = " ".join(
        f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}"
        for k, v in fields.items()
        if v is not None
    )
    level = logging.WARNING if outcome.status == "failed" else logging.INFO
    log.log(level, "harvest %s", text, extra={"harvest": fields})


def user_agent(contact_url: str | None) -> str:
    """Names the service, and where its operator can be found, to the sites it polls."""
    agent = f"engagement-feeds/{__version__}"
    return f"{agent} (+{contact_url})" if contact_url else agent
