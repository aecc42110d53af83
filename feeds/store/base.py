"""The store interface both backends implement, and the facts it keeps beside items."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ParamSpec, Protocol, TypeVar

from feeds.model import Coverage, Event, Notes, Post, Stored, Validators
from feeds.store.presence import Keep
from feeds.store.renders import RenderClaim, SharedRender

if TYPE_CHECKING:
    from feeds.store.federation import Decide


class Offload(Protocol):
    """Runs CPU work (decoding what was read) off the event loop. The service hands its
    render threads, so that decoding rows for a render waits like the render does; the
    reads themselves keep normal priority (see feeds/web/render_pool.py)."""

    def __call__(self, fn: Callable[[], R], /) -> Awaitable[R]: ...


async def in_a_thread(fn: Callable[[], R], /) -> R:
    """The default Offload: the loop's default executor."""
    return await asyncio.to_thread(fn)


R = TypeVar("R")
P = ParamSpec("P")


def sort_time(item: Post | Event, first_seen: datetime) -> datetime:
    """What items are ordered and dated by: an event's start, a post's date (else when it
    was first seen here, which a later change does not move)."""
    if isinstance(item, Event):
        return item.start_instant()
    return item.published or item.updated or first_seen


def unique_items(posts: Sequence[Post], events: Sequence[Event]) -> list[Post | Event]:
    """One item per (kind, external id); where a source lists one twice, the last wins."""
    latest: dict[tuple[str, str], Post | Event] = {}
    for post in posts:
        latest["post", post.external_id] = post
    for event in events:
        latest["event", event.external_id] = event
    return list(latest.values())


class StoreError(Exception):
    """The database failed; the driver's error is chained."""


def store_errors(
    *errors: type[BaseException],
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Coroutine[Any, Any, R]]]:
    """Decorates what a store runs its statements through: the driver's `errors` become
    StoreError, the one error type callers handle."""

    def decorate(run: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
        @functools.wraps(run)
        async def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return await run(*args, **kwargs)
            except errors as exc:
                raise StoreError(str(exc) or type(exc).__name__) from exc

        return guarded

    return decorate


@dataclass(frozen=True, slots=True)
class BatchResult:
    new: int
    changed: int  # an event listed again after its removal counts as changed
    unchanged: int
    revision: int  # the store's revision after the batch
    removed: int = 0  # events removed: their upstream stopped listing them


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceState:
    site: str
    source: str
    validators: Validators = field(default_factory=Validators)
    last_attempt: datetime | None = None
    last_success: datetime | None = None
    last_error: str | None = None
    last_status: int | None = None
    failures: int = 0  # consecutive
    items: int = 0  # kept in the store
    upstream_items: int | None = None  # in the last successful fetch
    next_run: datetime | None = None
    gone: bool = False  # the source answered 410 Gone
    moved_to: str | None = None  # where a permanent redirect pointed
    notes: Notes = field(default_factory=Notes)  # of the last successful read
    # When its latest run of failures began; kept after it recovers (an alert's episode).
    failing_since: datetime | None = None


@dataclass(frozen=True, slots=True)
class Claim:
    """A harvester's claim on a source: granted, or why not (another holds it until
    `held_until`; it is not due before `next_run`)."""

    granted: bool
    next_run: datetime | None = None
    held_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class HarvestRecord:
    """One harvest of one source, by one harvester: the store's record of who did what."""

    site: str
    source: str
    worker: str
    started: datetime
    finished: datetime
    status: str
    new: int = 0
    changed: int = 0
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Mail:
    """A mail in the store's outbox: queued once under its `key`, sent by one process."""

    key: str  # what it is about, once: "failing:site/source:episode"
    recipients: tuple[str, ...]
    subject: str
    body: str
    id: int | None = None  # the outbox's, once queued
    attempts: int = 0  # sending failed this often
    channel: str = "mail"  # or "webhook": `body` is JSON POSTed to the one recipient, a URL


@dataclass(frozen=True, slots=True)
class Activity:
    """What a source's items say of how often it publishes (feeds/stillness.py)."""

    dates: tuple[datetime, ...]  # its newest items' dates (published, or an event's start)
    ongoing: bool  # an event of it is still to come or going on


@dataclass(frozen=True, slots=True)
class Hidden:
    """An item the network office took out of every output (`feeds hide`)."""

    uuid: str  # the item's public id: it stays hidden whenever its source lists it
    site: str
    kind: str  # "post" or "event"
    title: str
    url: str | None  # on the group's website
    series: str | None = None  # an event's iCalendar UID: its series goes and comes as one
    reason: str | None = None
    since: datetime | None = None  # set by the store


@dataclass(frozen=True, slots=True)
class ActorKey:
    """An ActivityPub actor's key pair (feeds/federation/): PEM, made once."""

    name: str  # a group's slug, or the network's actor
    public_key: str
    private_key: str = field(repr=False)  # never in a log line


@dataclass(frozen=True, slots=True)
class Follower:
    actor: str  # whom it follows: a group's slug, or the network's actor
    follower: str  # the remote actor's id
    inbox: str
    shared_inbox: str | None = None  # where its server takes what many of its people get
    follow: str | None = None  # the Follow activity's id
    since: datetime | None = None

    @property
    def delivery_inbox(self) -> str:
        return self.shared_inbox or self.inbox


@dataclass(frozen=True, slots=True)
class Delivery:
    """An activity to POST, signed by `actor`, to one inbox: queued once under `key`."""

    key: str  # what goes where, once: "create:<object id>:<inbox>"
    actor: str
    inbox: str
    activity: str  # JSON
    id: int | None = None  # the queue's, once queued
    attempts: int = 0
    first_failure: datetime | None = None


@dataclass(frozen=True, slots=True)
class ImageCopy:
    """The service's copies of an upstream image (feeds/images.py)."""

    digest: str  # of the original's bytes: the copies are named by it
    widths: tuple[int, ...]  # of the copies, smallest first
    width: int  # of the largest copy
    height: int

    def name(self, width: int) -> str:
        return f"{self.digest}-{width}.webp"


ACTIVITY_DATES = 11  # ten gaps between them: enough for a usual one

HARVESTS_KEPT = timedelta(days=7)  # records older than this are pruned as new ones come

MAX_NOTES = 50  # lines kept per kind of note; the rest are counted


def dump_notes(lines: Sequence[str]) -> str | None:
    """Note lines as stored: a JSON array, cut to MAX_NOTES lines with a count of the rest."""
    if not lines:
        return None
    kept = [line[:500] for line in lines[:MAX_NOTES]]
    if len(lines) > MAX_NOTES:
        kept.append(f"… and {len(lines) - MAX_NOTES} more")
    return json.dumps(kept, ensure_ascii=False)


def load_notes(skipped: str | None, warnings: str | None) -> Notes:
    return Notes(
        tuple(json.loads(skipped)) if skipped else (),
        tuple(json.loads(warnings)) if warnings else (),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ItemQuery:
    """Which items to read; None and () mean no restriction. Run by `feeds.store.query`.

    Posts come newest first and are exactly what is asked. Events come by start and are
    the candidates for `feeds.filters.select_events`, which places recurring series by
    their occurrences: every series that may have one in the window, and the first
    `limit` single events (with any that start at the same time as the last of them).
    """

    sites: Sequence[str] | None = None
    categories: tuple[str, ...] = ()  # any of them, compared case-folded
    text: str | None = None  # a substring of the item's searchable text, case-folded
    after: datetime | None = None  # posts dated from then; events not over by then
    before: datetime | None = None  # posts dated and events starting before then
    ids: tuple[str, ...] = ()  # public item ids (UUIDs)
    series: tuple[str, ...] = ()  # events' iCalendar UIDs
    limit: int | None = None
    # Groups left out (with `sites` None: every other one). The store asks this way when
    # `sites` names nearly every group it knows (a network's views; `Writes.narrowed`).
    except_sites: tuple[str, ...] = ()


class Store(Protocol):
    async def revision(self) -> int: ...

    async def save_batch(
        self,
        site: str,
        source: str,
        posts: Sequence[Post],
        events: Sequence[Event],
        validators: Validators,
        now: datetime,
        *,
        notes: Notes = Notes(),
        coverage: Coverage | None = None,
        keep: Keep = Keep(),
    ) -> BatchResult:
        """Upsert one source's items, its success and its notes, all in one transaction.

        With `coverage` (the read was complete), events it should hold and does not are
        counted missing, and removed from what is served after two such reads
        (feeds/store/presence.py); listed again, they come back. What the store no longer
        keeps of the source (`keep`) goes."""
        ...

    async def save_not_modified(
        self, site: str, source: str, validators: Validators, now: datetime
    ) -> None: ...

    async def save_failure(
        self, site: str, source: str, error: str, status: int | None, now: datetime
    ) -> None: ...

    async def save_schedule(
        self,
        site: str,
        source: str,
        next_run: datetime,
        *,
        gone: bool = False,
        moved_to: str | None = None,
        worker: str | None = None,
        record: HarvestRecord | None = None,
    ) -> None:
        """When the source runs next, and what its last answer said of its address;
        `worker`'s claim on it ends, and the harvest's `record` is kept (one transaction)."""
        ...

    async def claim(
        self, site: str, source: str, worker: str, now: datetime, lease: timedelta, *, due: bool
    ) -> Claim:
        """Claim a source for `worker` until `now + lease`, unless another harvester holds
        it; with `due`, only if its next run has come. Atomic across processes."""
        ...

    async def record_harvest(self, record: HarvestRecord) -> None:
        """Keep the record of a harvest (and let those older than HARVESTS_KEPT go)."""
        ...

    async def harvests(self, since: datetime | None = None) -> list[HarvestRecord]:
        """Harvests that finished since then (all kept by default), oldest first."""
        ...

    async def queue_mails(self, mails: Sequence[Mail], now: datetime) -> int:
        """Queue each mail unless one with its key ever was (by any process); how many
        were queued now."""
        ...

    async def queued(self, keys: Sequence[str]) -> set[str]:
        """Which of these keys have a mail in the outbox (queued or sent)."""
        ...

    async def claim_mail(self, worker: str, now: datetime, lease: timedelta) -> Mail | None:
        """The next mail due, claimed for `worker` until `now + lease`; None: none is due.
        Of processes claiming at once, one gets each mail."""
        ...

    async def mail_sent(self, mail: Mail, now: datetime) -> None: ...

    async def mail_failed(self, mail: Mail, error: str, retry_at: datetime) -> None:
        """Sending failed: tried again from `retry_at` (by whichever process claims it)."""
        ...

    async def hide(self, items: Sequence[Hidden], now: datetime) -> list[Hidden]:
        """Take these items out of every read (also when their source lists them again);
        the revision moves. Returns those not hidden before."""
        ...

    async def unhide(self, ids: Sequence[str], now: datetime) -> list[Hidden]:
        """Show these items again; the revision moves. Returns those that were hidden."""
        ...

    async def hidden(self, ids: Sequence[str] | None = None) -> list[Hidden]:
        """The items hidden now (of these ids, if given), the latest first."""
        ...

    async def activity(self, now: datetime) -> dict[tuple[str, str], Activity]:
        """Each (site, source) with items: the dates of its newest ACTIVITY_DATES items,
        newest first, and whether one of its events is still to come at `now`."""
        ...

    async def watching_since(self) -> datetime | None:
        """When the store first saw an item: since when the service has been watching."""
        ...

    async def actor_keys(self, names: Sequence[str]) -> dict[str, ActorKey]:
        """The key pairs these actors have (those without one are left out)."""
        ...

    async def add_actor_key(self, key: ActorKey, now: datetime, *, replace: bool = False) -> None:
        """Keep an actor's key pair, unless it has one (another process made it first);
        with `replace`, a new pair takes the old one's place (a rotated key)."""
        ...

    async def follow(self, follower: Follower, now: datetime) -> None: ...

    async def unfollow(self, actor: str | None, follower: str) -> int:
        """`follower` no longer follows `actor` (None: anyone here); how many ended."""
        ...

    async def followers(self, actors: Sequence[str]) -> list[Follower]: ...

    async def follower_counts(self) -> dict[str, int]: ...

    async def queue_deliveries(self, deliveries: Sequence[Delivery], now: datetime) -> int:
        """Queue each unless one with its key ever was; how many were queued now."""
        ...

    async def claim_delivery(
        self, worker: str, now: datetime, lease: timedelta
    ) -> Delivery | None: ...

    async def delivered(self, delivery: Delivery, now: datetime) -> None: ...

    async def delivery_failed(
        self, delivery: Delivery, error: str, now: datetime, retry_at: datetime | None
    ) -> None:
        """It was not taken: tried again from `retry_at`, or (None) given up."""
        ...

    async def plan_federation(self, decide: Decide, now: datetime) -> int:
        """Queue what followers are to be told of the items changed since the last plan
        (feeds/store/federation.py `plan`); how many deliveries were queued."""
        ...

    async def forget_inbox(self, inbox: str) -> int:
        """An inbox gone for good (410): its followers go, and what waits for it."""
        ...

    async def images(self, urls: Sequence[str]) -> dict[str, ImageCopy | None]:
        """What is known of these upstream images: copies, or None (refused); unknown
        addresses are left out."""
        ...

    async def keep_image(
        self,
        url: str,
        copy: ImageCopy | None,
        error: str | None,
        files: Mapping[str, bytes],
        now: datetime,
    ) -> None: ...

    async def image_file(self, name: str) -> bytes | None: ...

    async def shared_render(self, key: str, revision: int, clock: float) -> SharedRender | None:
        """A view's render of this revision, made by any process or instance, if it is
        still fresh at `clock` (POSIX seconds)."""
        ...

    async def claim_render(
        self, key: str, revision: int, owner: str, now: datetime, until: datetime
    ) -> RenderClaim:
        """Claim making a view's render of this revision (feeds/store/renders.py)."""
        ...

    async def keep_render(
        self, key: str, revision: int, owner: str, shared: SharedRender
    ) -> bool: ...

    async def release_render(self, key: str, revision: int, owner: str) -> None: ...

    async def renders_made(self) -> dict[str, int]:
        """How often each shared view was rendered, over every process and instance."""
        ...

    async def last_harvest(self) -> datetime | None:
        """When any harvester last finished a harvest."""
        ...

    async def last_change(self) -> datetime | None:
        """When an item last changed in the store."""
        ...

    def revisions(self, poll: float) -> AsyncIterator[int]:
        """The store's revision as it moves: by PostgreSQL's NOTIFY as soon as a harvest
        commits (polling every `poll` seconds besides, in case a notification is lost),
        by polling SQLite."""
        ...

    async def source_state(self, site: str, source: str) -> SourceState: ...

    async def source_states(self) -> list[SourceState]: ...

    async def posts(self, query: ItemQuery) -> list[Stored[Post]]:
        """Newest first (by published date, else first seen)."""
        ...

    async def events(self, query: ItemQuery) -> list[Stored[Event]]:
        """By start, earliest first."""
        ...

    async def latest_end(
        self, query: ItemQuery, until: datetime | None, kind: str = "event"
    ) -> datetime | None:
        """When one of these items last left the view, or came back, with no shown item
        changing: an event's end, if over by `until` (if given), or its removal after its
        upstream stopped listing it; an item's hiding, or its showing again."""
        ...

    async def item_counts(self) -> dict[tuple[str, str], int]:
        """How many items each (site, kind) has; kind is "post" or "event"."""
        ...

    async def close(self) -> None: ...
