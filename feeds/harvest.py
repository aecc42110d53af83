"""Drive the sources into the store: once, or each at its interval, forever.

Polite to volunteer-run sites (a per-host connection limit, conditional GET, Retry-After,
backoff with jitter) and hard to break: a failing, slow or huge source is recorded and
retried later, never stops another, and what it delivered before stays in the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import aiohttp

from feeds import __version__, metrics
from feeds.images import keep_new, loader
from feeds.model import Network, SourceConfig, Taxonomy
from feeds.render.pictures import addresses
from feeds.store import HarvestRecord, Store, StoreError
from feeds.store.presence import Keep
from feeds.taxonomy import extend
from sources.base import Fetched, Source, SourceError, host_of, source_kind
from sources.outbound import Outbound
from sources.parsing import PARSE_SECONDS, parse_pool

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(hours=6)
GONE_RECHECK = timedelta(days=1)  # a 410 source is asked again daily, in case it returns
MAX_RETRY_AFTER = timedelta(days=1)
TICK = timedelta(seconds=5)  # how often the harvester says it is alive
OVERDUE_GRACE = timedelta(minutes=2)  # a source this late (and not running) is overdue
# Another harvester holds a source: look again this soon (its harvest is likely over by
# then), or when the store says the source is due, whichever comes first.
RECHECK_HELD = timedelta(seconds=15)
ELSEWHERE = "elsewhere"  # the status of a harvest left to another harvester
# A claim on a source lasts this long unless renewed; a running harvest renews it every
# third of it. A harvester killed mid-harvest holds its sources no longer than this.
LEASE = timedelta(seconds=60)


class LostClaimError(Exception):
    """Another harvester holds the source now (this one stalled past its lease)."""


SourceKey = tuple[str, str]  # (site, source)


@dataclass(frozen=True, slots=True)
class Limits:
    """How hard the harvester may pull, in total and on any one host."""

    # Connections at once over all hosts: politeness is per host; this only bounds what
    # this machine holds open. 128 sockets and their buffers are nothing for it, and the
    # network's 112 groups are all asked at once (at 64, the second half waited for the
    # first: 1.14 s against 0.88 s for the harvest benchmark).
    concurrency: int = 128
    per_host: int = 2
    connect_timeout: float = 10.0
    total_timeout: float = 60.0  # a body trickling in at one byte a second ends here
    # Parsing runs in worker processes (sources/parsing.py), a parse within this budget.
    parse_workers: int | None = None  # None: one per processor
    parse_seconds: float = PARSE_SECONDS


@dataclass(frozen=True, slots=True)
class Outcome:
    site: str
    source: str
    status: str  # "ok", "not-modified", "failed", or ELSEWHERE (another harvester had it)
    new: int = 0
    changed: int = 0
    revision: int | None = None
    error: str | None = None
    http_status: int | None = None
    retry_after: float | None = None
    moved_to: str | None = None
    seconds: float = 0.0
    skipped: int = 0
    warnings: int = 0
    removed: int = 0  # events its upstream stopped listing, now taken out of the feeds
    # The images of what it read that pages show: the harvester keeps copies of those it
    # has none of yet (feeds/images.py), once the items are stored and announced.
    pictures: tuple[str, ...] = ()

    @property
    def gone(self) -> bool:
        return self.http_status == 410


def utcnow() -> datetime:
    return datetime.now(UTC)


def worker_name() -> str:
    """Who harvests, in the store's record: host and process."""
    return f"{socket.gethostname()}:{os.getpid()}"


async def harvest_source(
    store: Store,
    session: aiohttp.ClientSession,
    key: SourceKey,
    source: Source,
    *,
    slot: contextlib.AbstractAsyncContextManager[None] | None = None,
    keep: Keep = Keep(),
    taxonomy: Taxonomy = (),
) -> Outcome:
    """Fetch one source and write what it gave in one transaction; failures are recorded.

    Whatever the adapter raises stays here: a SourceError is the source's fault, anything
    else a bug (logged with its traceback); both become the source's recorded failure, and
    its earlier items stay. Only a failing store and cancellation get out.
    """
    site, name = key
    started = time.perf_counter()
    state = await store.source_state(site, name)

    async def failed(
        error: str, status: int | None = None, retry_after: float | None = None
    ) -> Outcome:
        await store.save_failure(site, name, error, status, utcnow())
        seconds = time.perf_counter() - started
        return Outcome(
            site,
            name,
            "failed",
            error=error,
            http_status=status,
            seconds=seconds,
            retry_after=retry_after,
        )

    try:
        # The slot (on the source's host) is held while the host is asked, not while the
        # store writes: a host's queue must not wait behind other sources' writes.
        async with slot or contextlib.nullcontext():
            result = await source.fetch(session, state.validators)
    except SourceError as exc:
        return await failed(str(exc), exc.status, retry_after=exc.retry_after)
    except Exception as exc:  # a bug, in our adapter or a library it uses
        log.exception("harvest site=%s source=%s: the adapter failed", site, name)
        return await failed(bug_report(source, exc))
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
        return await failed(
            f"the source returned no items, where it had {state.items} before;"
            " kept them and will ask again"
        )
    posts, events = result.posts, result.events
    if taxonomy:  # the network's categories beside the group's own (feeds/taxonomy.py)
        posts = tuple(replace(p, categories=extend(taxonomy, p.categories)) for p in posts)
        events = tuple(replace(e, categories=extend(taxonomy, e.categories)) for e in events)
    try:
        batch = await store.save_batch(
            site,
            name,
            posts,
            events,
            result.validators,
            utcnow(),
            notes=result.notes,
            coverage=result.coverage,
            keep=keep,
        )
    except StoreError:
        raise
    except Exception as exc:  # an item the store cannot write: a bug in the adapter's output
        log.exception("harvest site=%s source=%s: its items could not be stored", site, name)
        return await failed(bug_report(source, exc, stage="storing its items"))
    return Outcome(
        site,
        name,
        "ok",
        new=batch.new,
        changed=batch.changed,
        revision=batch.revision,
        moved_to=result.moved_to,
        seconds=time.perf_counter() - started,
        skipped=len(result.skipped),
        warnings=len(result.warnings),
        removed=batch.removed,
        pictures=tuple(addresses([*posts, *events])),
    )


def bug_report(source: Source, exc: Exception, *, stage: str = "reading it") -> str:
    """A bug in words for /status; the traceback is in the log."""
    detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
    what = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    return (
        f"the {source_kind(source)} reader failed while {stage} ({what}); this is a bug"
        " in the service, not the source's fault: its earlier items are kept, the log has"
        " the details"
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
        on_change: Callable[[str], None] = lambda site: None,
        on_harvested: Callable[[], None] = lambda: None,
        contact_url: str | None = None,
        worker: str | None = None,
        outbound: Outbound = Outbound(),
        lease: timedelta = LEASE,
        keep: Keep = Keep(),
    ) -> None:
        self.store = store
        self.outbound = outbound
        # However many harvesters run on one store, each source is claimed by one at a
        # time (Store.claim). The claim is renewed while the harvest runs, however long it
        # reads; a dead harvester renews nothing, and its claim lapses after `lease`.
        self.worker = worker or worker_name()
        self.lease = lease
        self.keep = keep  # what the store keeps of each source
        self.sources = dict(sources)
        self._configured = _as_configured(network)
        self.taxonomy = network.taxonomy  # the network's categories, added to the groups'
        self.intervals = {key: config.interval for key, (_, config) in self._configured.items()}
        # While run_forever runs: its session, and each source's loop.
        self._session: aiohttp.ClientSession | None = None
        self._loops: dict[SourceKey, asyncio.Task[None]] = {}
        self.limits = limits
        self.on_revision = on_revision
        self.on_change = on_change  # a site's items changed (WebSub pings)
        self.on_harvested = on_harvested  # a source was harvested, well or not (alerts)
        self.user_agent = user_agent(contact_url)
        self._failures: dict[SourceKey, int] = {}
        self._host_slots: dict[str, asyncio.Semaphore] = {}
        self._slots = asyncio.Semaphore(limits.concurrency)
        # Liveness, for /healthz: the last tick of run_forever, when each source is due,
        # and which are being harvested right now.
        self.last_tick: datetime | None = None
        self.due: dict[SourceKey, datetime] = {}
        self.running: set[SourceKey] = set()

    async def run_once(self, keys: list[SourceKey] | None = None) -> list[Outcome]:
        """Harvest the given sources (all by default) now, side by side, due or not;
        a source another harvester is working on is left to it (ELSEWHERE)."""
        wanted = keys or list(self.sources)
        limits = self.limits
        async with (
            parse_pool(limits.parse_workers, limits.parse_seconds, warm=self._reads(wanted)),
            self._client_session() as session,
        ):
            done = await asyncio.gather(
                *(
                    self._harvest(session, key, due_only=False)
                    for key in self.busiest_hosts_first(wanted)
                )
            )
        by_key = {(o.site, o.source): o for o, _ in done}
        return [by_key[key] for key in wanted]

    def busiest_hosts_first(self, keys: list[SourceKey]) -> list[SourceKey]:
        """Sources of hosts with many sources start first: their queue under the per-host
        limit is the longest, and it then runs alongside everything else."""
        load = Counter(host_of(self.sources[key]) for key in keys)
        return sorted(keys, key=lambda key: -load[host_of(self.sources[key])])

    async def run_forever(self) -> None:
        """Each source in a loop of its own; a bug in one never ends another's."""
        limits = self.limits
        warm = self._reads(list(self.sources))
        async with parse_pool(limits.parse_workers, limits.parse_seconds, warm=warm):
            await self._run_forever()

    def _reads(self, keys: Sequence[SourceKey]) -> bool:
        """Whether these sources have documents to parse: the workers then start at once,
        while the first are fetched (half a second of the fork server loading readers;
        before, it came after the first answer). A folder of files parses in a thread."""
        return any(source_kind(self.sources[key]) != "files" for key in keys)

    async def _run_forever(self) -> None:
        async with self._client_session() as session:
            self._session = session
            for key in self.sources:
                self._start(key)
            try:
                while True:
                    self.last_tick = utcnow()
                    await asyncio.sleep(TICK.total_seconds())
            finally:
                self._session = None
                loops, self._loops = list(self._loops.values()), {}
                for task in loops:
                    task.cancel()
                await asyncio.gather(*loops, return_exceptions=True)

    def apply(self, network: Network, sources: Mapping[SourceKey, Source]) -> None:
        """Harvest from now on what a changed configuration lists: new sources start, the
        loops of removed ones end, and a source whose settings changed (its options, its
        interval, its group's time zone or homepage) starts again with them, read at
        once (the office that mended an address wants to see it read)."""
        before, after = self._configured, _as_configured(network)
        self.taxonomy = network.taxonomy
        self.sources = dict(sources)
        self._configured = after
        self.intervals = {key: config.interval for key, (_, config) in after.items()}
        for key in before.keys() - after.keys():
            self._stop(key)
            self.due.pop(key, None)
            self._failures.pop(key, None)
        if self._session is None:
            return  # not running: run_once and run_forever take the sources as they are
        for key, settings in after.items():
            if before.get(key) != settings:
                self._stop(key)
                self._start(key, at_once=True)

    def _start(self, key: SourceKey, *, at_once: bool = False) -> None:
        assert self._session is not None
        self._loops[key] = asyncio.create_task(
            self._loop(self._session, key, at_once=at_once), name=f"harvest {key[0]}/{key[1]}"
        )

    def _stop(self, key: SourceKey) -> None:
        task = self._loops.pop(key, None)
        if task is not None:
            task.cancel()

    async def _loop(
        self, session: aiohttp.ClientSession, key: SourceKey, *, at_once: bool = False
    ) -> None:
        while True:
            due_only, at_once = not at_once, False
            try:
                _, delay = await self._harvest(session, key, due_only=due_only)
            except Exception:  # the store failed in a way it did not name, or a bug here
                log.exception("harvest site=%s source=%s: the harvest loop failed", *key)
                delay = self.intervals.get(key, timedelta(minutes=15))
            self.due[key] = utcnow() + delay
            await asyncio.sleep(delay.total_seconds())

    def liveness(self, now: datetime) -> tuple[bool, dict[str, object]]:
        """Whether harvesting goes on, judged by run_forever's tick and the sources' lateness."""
        overdue = self.overdue(now)
        stale = self.last_tick is None or now - self.last_tick > 3 * TICK
        stuck = bool(self.due) and len(overdue) == len(self.sources)
        report: dict[str, object] = {
            "last_tick": self.last_tick.isoformat() if self.last_tick else None,
            "running": sorted(f"{site}/{source}" for site, source in self.running),
            "overdue": sorted(f"{site}/{source}" for site, source in overdue),
        }
        return not (stale or stuck), report

    def overdue(self, now: datetime) -> list[SourceKey]:
        """Sources that should have run by now and are not running: a stuck harvester."""
        return [
            key
            for key, due in self.due.items()
            if key not in self.running and now > due + OVERDUE_GRACE
        ]

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
        # Jitter spreads the retries of sources on one host; it only ever adds, so a first
        # retry never comes sooner than the interval a site's operator was promised.
        delay = min(backoff * random.uniform(1.0, 1.5), MAX_BACKOFF * 1.5)
        if outcome.retry_after is not None:
            asked = min(timedelta(seconds=outcome.retry_after), MAX_RETRY_AFTER)
            delay = max(delay, asked)
        return delay

    async def _harvest(
        self, session: aiohttp.ClientSession, key: SourceKey, *, due_only: bool = True
    ) -> tuple[Outcome, timedelta]:
        """One harvest of one source, and how long until its next; with `due_only`, only
        if the store says it is due (another harvester may have done it meanwhile)."""
        now = utcnow()
        try:
            claim = await self.store.claim(*key, self.worker, now, self.lease, due=due_only)
        except StoreError as exc:
            log.exception("harvest site=%s source=%s: cannot claim it", *key)
            outcome = Outcome(*key, "failed", error=f"the store failed: {exc}")
            return outcome, self.delay_after(key, outcome)
        if not claim.granted:
            if claim.held_until:  # another harvester is at it: look again soon
                wake = min(claim.held_until, now + RECHECK_HELD)
            else:  # another did it meanwhile: when the store says it is due
                wake = claim.next_run or now + RECHECK_HELD
            log.debug("harvest site=%s source=%s: left to another harvester", *key)
            return Outcome(*key, ELSEWHERE), max(wake - now, timedelta(seconds=1))
        source = self.sources[key]
        self.running.add(key)
        try:
            # A source waits for a free slot on its host before any timeout starts:
            # waiting behind two slow sources on one host is not the host being unreachable.
            slot = self._slots_for(host_of(source))
            outcome = await self._renewing(
                key,
                harvest_source(
                    self.store,
                    session,
                    key,
                    source,
                    slot=slot,
                    keep=self.keep,
                    taxonomy=self.taxonomy,
                ),
            )
        except LostClaimError:
            log.error("harvest site=%s source=%s: another harvester took it over", *key)
            return Outcome(*key, ELSEWHERE), self.lease
        except StoreError as exc:
            log.exception("harvest site=%s source=%s: the store failed", *key)
            outcome = Outcome(*key, "failed", error=f"the store failed: {exc}")
            return outcome, self.delay_after(key, outcome)
        finally:
            self.running.discard(key)
        delay = self.delay_after(key, outcome)
        finished = utcnow()
        try:
            await self.store.save_schedule(
                *key,
                finished + delay,
                gone=outcome.gone,
                moved_to=outcome.moved_to,
                worker=self.worker,
                record=HarvestRecord(
                    *key, self.worker, now, finished, outcome.status,
                    outcome.new, outcome.changed, outcome.error,
                ),
            )  # fmt: skip
        except StoreError:
            log.exception("harvest site=%s source=%s: cannot save the schedule", *key)
        _log(outcome, delay)
        metrics.HARVESTS.labels(*key, outcome.status).inc()
        metrics.HARVEST_TIME.labels(outcome.status).observe(outcome.seconds)
        if outcome.revision is not None and (outcome.new or outcome.changed or outcome.removed):
            self.on_revision(outcome.revision)
            self.on_change(key[0])
        if outcome.pictures:
            # Still this source's harvest (/healthz shows it running): its pages change
            # once more when the copies come.
            self.running.add(key)
            try:
                await self._keep_pictures(key, source, session, outcome.pictures)
            finally:
                self.running.discard(key)
        self.on_harvested()
        return outcome, delay

    async def _keep_pictures(
        self,
        key: SourceKey,
        source: Source,
        session: aiohttp.ClientSession,
        pictures: Sequence[str],
    ) -> None:
        """The groups' images, fetched once each and kept as copies (feeds/images.py): the
        pages load them from the service, not from the group's server. After the items
        are stored and announced: a slow image server delays no feed."""
        try:
            if await keep_new(self.store, loader(session, source), pictures, key[0]):
                self.on_revision(await self.store.revision())  # pages show the copies
        except Exception:  # an image never costs its items, nor the harvest
            log.exception("harvest site=%s source=%s: its images could not be kept", *key)

    async def _renewing(self, key: SourceKey, harvest: Awaitable[Outcome]) -> Outcome:
        """The harvest, with its claim renewed every third of the lease while it runs; if
        the claim is lost (this process stalled past it), the harvest stops unwritten."""
        task = asyncio.ensure_future(harvest)
        lost = False

        async def renew() -> None:
            nonlocal lost
            while True:
                await asyncio.sleep(self.lease.total_seconds() / 3)
                try:
                    claim = await self.store.claim(
                        *key, self.worker, utcnow(), self.lease, due=False
                    )
                except StoreError:
                    log.warning("harvest site=%s source=%s: cannot renew its claim", *key)
                    continue
                if not claim.granted:
                    lost = True
                    task.cancel()
                    return

        renewing = asyncio.create_task(renew(), name=f"renew {key[0]}/{key[1]}")
        try:
            return await task
        except asyncio.CancelledError:
            if lost:
                raise LostClaimError from None
            raise
        finally:
            renewing.cancel()

    @contextlib.asynccontextmanager
    async def _slots_for(self, host: str | None) -> AsyncIterator[None]:
        """A slot on the source's host, then one of all: the host first, so a source
        queued behind its busy host keeps no other host's source waiting."""
        if host is None:  # a local folder: nobody to be polite to
            yield
            return
        slot = self._host_slots.get(host)
        if slot is None:
            slot = self._host_slots[host] = asyncio.Semaphore(self.limits.per_host)
        async with slot, self._slots:
            yield

    def _client_session(self) -> aiohttp.ClientSession:
        limits = self.limits
        return aiohttp.ClientSession(
            headers={"User-Agent": self.user_agent},
            # The connector holds the same limits on connections, whichever host an adapter
            # is led to (a redirect, a next page elsewhere).
            connector=self.outbound.connector(
                limit=limits.concurrency, limit_per_host=limits.per_host
            ),
            # sock_connect, not connect: aiohttp's `connect` also counts the wait for a
            # free connection in the pool, which is no sign of an unreachable server.
            timeout=aiohttp.ClientTimeout(
                total=limits.total_timeout, sock_connect=limits.connect_timeout
            ),
        )


def _as_configured(network: Network) -> dict[SourceKey, tuple[tuple[object, ...], SourceConfig]]:
    """Each source with what its adapter was built from: its group's settings that reach
    it (time zone, homepage) and its own configuration."""
    return {
        (site.slug, config.name): ((site.timezone, site.homepage), config)
        for site in network.sites
        for config in site.sources
    }


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
        "skipped": outcome.skipped or None,
        "warnings": outcome.warnings or None,
        "removed": outcome.removed or None,
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
