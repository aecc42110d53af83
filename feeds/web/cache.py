"""What the service keeps of its answers, and the one policy they are kept by.

Three stores, one policy: everything kept is valid for one revision of the store (and,
for views that move with the clock, until a time), and is let go when a newer revision
comes; each is bounded.
- Renders (`RenderCache`), keyed by what a route asked for (`Asked.key`,
  feeds/web/request.py: the view, the scope, the filters, the address links are built
  from, the format, the item): one render per key and revision, whoever asks.
- Replays (`HotResponses`), keyed by what a client sent before any parsing: the request
  target, the scheme and Host (unless FEEDS_BASE_URL is set, links are built from them) and
  Accept-Encoding. A repeated request is answered from them in front of routing
  (feeds/web/front.py): no route handler, no query parsing, no header assembly.
- VEVENTs (`BytesMemo`), keyed by the event's id and revision: after a harvest only the
  events that changed are made again, in the threads that render calendars.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Hashable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from aiohttp import web

from feeds import metrics
from feeds.store import Store
from feeds.web.boundary import CORS
from feeds.web.render_pool import RenderPool
from feeds.web.rendered import Rendered, Stamp, negotiate
from feeds.web.request import shareable
from feeds.web.shared import CLAIMED, SharedRenders


class Revision:
    """What kept answers are valid for. `store` is the store's revision, held in memory:
    bumped by an in-process harvester, followed from the store when another process
    harvests. `value` moves with it, and when the configuration changes (a group added,
    renamed, removed): every answer kept before either is let go."""

    def __init__(self, value: int = 0) -> None:
        self.store = value
        self.value = value

    def bump(self, store: int) -> None:
        if store > self.store:
            self.value += store - self.store
            self.store = store

    def reconfigured(self) -> None:
        self.value += 1

    async def follow(self, store: Store, every: float) -> None:
        """Follow another process's harvests: PostgreSQL tells at once (NOTIFY), SQLite
        is polled every `every` seconds."""
        async for revision in store.revisions(every):
            self.bump(revision)


def current(stamp: Stamp, revision: int) -> bool:
    """Whether a kept answer still holds: the policy every store here keeps to."""
    return stamp.revision == revision and (
        stamp.fresh_until is None or time.time() < stamp.fresh_until
    )


@dataclass(slots=True)
class Slot:
    """A render's place in the cache: what was found there, or what the route made."""

    revision: int  # the store's revision the answer is for
    found: Rendered | None
    made: Rendered | None = None

    def keep(self, rendered: Rendered) -> None:
        self.made = rendered

    @property
    def rendered(self) -> Rendered:
        answer = self.found or self.made
        if answer is None:
            raise LookupError("the route kept no render in its slot")
        return answer


class RenderCache:
    """Rendered responses by key, least recently used out first, bounded in count and size.

    Sizes count every byte an entry holds (the body and its compressed forms, all made
    before it is kept). Bounding bytes matters: distinct queries (?q=…, ?to=…) on a big
    calendar would otherwise fill memory.
    """

    def __init__(
        self,
        max_entries: int = 1024,
        max_bytes: int = 128 * 1024 * 1024,
        pool: RenderPool | None = None,
    ) -> None:
        self.pool = pool or RenderPool()  # where codings are made with each render
        # Renders shared with the other processes and instances (feeds/web/shared.py).
        self.shared: SharedRenders | None = None
        self._entries: OrderedDict[Hashable, Rendered] = OrderedDict()
        self._locks: dict[Hashable, asyncio.Lock] = {}
        self._bytes = 0
        self.max_entries = max_entries
        self.max_bytes = max_bytes

    def get(self, key: Hashable, revision: int) -> Rendered | None:
        hit = self._entries.get(key)
        if hit is None or not current(hit.stamp, revision):
            return None
        self._entries.move_to_end(key)
        return hit

    @asynccontextmanager
    async def slot(
        self, key: Hashable, revision: int, store_revision: int | None = None
    ) -> AsyncIterator[Slot]:
        """The answer kept under `key` for `revision`, as `slot.found`; or, if there is
        none, the place the route keeps its render in (`slot.keep`), kept on leaving.
        One render per key at a time: a burst of pollers after a harvest waits for it.
        With `store_revision` (a view worth sharing), one render per key and store
        revision over every process and instance, where renders are shared."""
        hit = self.get(key, revision)
        if hit is not None:
            metrics.RENDER_CACHE.labels("hit").inc()
            yield Slot(revision, hit)
            return
        metrics.RENDER_CACHE.labels("miss").inc()
        lock = self._locks.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                slot = Slot(revision, self.get(key, revision))
                if slot.found is not None:  # rendered while this request waited
                    yield slot
                    return
                shared = self.shared if store_revision is not None else None
                place = shared.place(key, store_revision or 0) if shared else None
                taken = await shared.take(place, revision) if shared and place else None
                if isinstance(taken, Rendered):  # another process rendered it
                    metrics.RENDER_CACHE.labels("shared").inc()
                    self._put(key, taken)
                    yield Slot(revision, taken)
                    return
                view = key[0] if isinstance(key, tuple) and key else "other"
                try:
                    with metrics.RENDERS.labels(str(view)).time():
                        yield slot
                        await slot.rendered.precompress(self.pool)
                except BaseException:
                    if shared and place and taken is CLAIMED:
                        await shared.give_up(place)
                    raise
                self._put(key, slot.rendered)
                if shared and place and taken is CLAIMED:
                    await shared.keep(place, slot.rendered)
        finally:
            # Only a key being rendered needs a lock; keep none for keys that failed (404s).
            if not lock.locked() and self._locks.get(key) is lock:
                del self._locks[key]

    def _put(self, key: Hashable, rendered: Rendered) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= old.size
        self._entries[key] = rendered
        self._bytes += rendered.size
        while len(self._entries) > 1 and (
            len(self._entries) > self.max_entries or self._bytes > self.max_bytes
        ):
            _, evicted = self._entries.popitem(last=False)
            self._bytes -= evicted.size

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size(self) -> int:
        return self._bytes


class BytesMemo:
    """Bounded, thread-safe bytes by key: per-event VEVENTs for calendar renders in threads."""

    def __init__(self, max_entries: int = 50_000) -> None:
        self._entries: OrderedDict[Hashable, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self.max_entries = max_entries

    def get(self, key: Hashable) -> bytes | None:
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: Hashable, value: bytes) -> None:
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)


# --- replays ----------------------------------------------------------------------------

Key = tuple[str, str, str, str]  # target, scheme, Host, Accept-Encoding


@dataclass(frozen=True, slots=True)
class Hot:
    stamp: Stamp  # of the render it replays (not the render: its other codings go)
    body: bytes  # in the negotiated coding
    headers: dict[str, str]  # for a 200, Content-Type and -Encoding included
    not_modified: dict[str, str]  # for a 304
    route: str  # the route's pattern, for the request count


def route_of(request: web.Request) -> str:
    """The route's pattern, such as /{site}/news.{fmt}: few labels, whatever is asked."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unrouted"


def key_of(request: web.Request) -> Key:
    headers = request.headers
    return (
        request.raw_path,
        request.scheme,
        headers.get("Host", ""),
        headers.get("Accept-Encoding", ""),
    )


class HotResponses:
    """Bounded in entries and in bytes (it may keep renders the render cache has let go);
    an entry of an older revision is dropped when met, and all when a newer one comes."""

    def __init__(self, max_entries: int = 4096, max_bytes: int = 64 * 1024 * 1024) -> None:
        self._entries: dict[Key, Hot] = {}
        self._bytes = 0
        self._revision = -1
        self.replayed: dict[tuple[str, int], int] = {}  # (route, status): since the last flush
        self.max_entries = max_entries
        self.max_bytes = max_bytes

    def answer(self, request: web.Request, revision: int) -> web.Response | None:
        """The response to replay, or None: then the request takes the usual way."""
        if request.method not in ("GET", "HEAD"):
            return None
        key = key_of(request)
        hot = self._entries.get(key)
        if hot is None:
            return None
        if not current(hot.stamp, revision):
            self._drop(key)
            return None
        status = 304 if is_fresh(request, hot.stamp) else 200
        counted = (hot.route, status)
        self.replayed[counted] = self.replayed.get(counted, 0) + 1
        if status == 304:
            return web.Response(status=304, headers=hot.not_modified)
        return web.Response(body=hot.body, headers=hot.headers)

    def flush_counts(self) -> None:
        """Replays counted into the metrics: a plain dictionary in the hot path (the
        metric's lock costs about 2 % of a replay), added up every few seconds."""
        counts, self.replayed = self.replayed, {}
        for (route, status), count in counts.items():
            metrics.requests(route, status).inc(count)
            metrics.REPLAYED.inc(count)

    def keep(self, request: web.Request, hot: Hot) -> None:
        if hot.stamp.revision > self._revision:  # what came before is stale: let it go
            self._entries.clear()
            self._bytes = 0
            self._revision = hot.stamp.revision
        key = key_of(request)
        self._drop(key)
        self._entries[key] = hot
        self._bytes += len(hot.body)
        while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
            self._drop(next(iter(self._entries)))  # the oldest

    def _drop(self, key: Key) -> None:
        gone = self._entries.pop(key, None)
        if gone is not None:
            self._bytes -= len(gone.body)

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size(self) -> int:
        return self._bytes


def is_fresh(request: web.Request, stamp: Stamp) -> bool:
    """RFC 9110 13.1: If-None-Match wins; If-Modified-Since counts only without it."""
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        # Weak comparison (13.1.2); any coding of the same content is the same content.
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or not tags.isdisjoint(stamp.etags)
    if_modified_since = request.headers.get("If-Modified-Since")
    if if_modified_since:
        try:
            since = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError):
            return False
        modified = stamp.last_modified
        return modified is not None and since.tzinfo is not None and modified <= since
    return False


# --- the seam the routes use ------------------------------------------------------------


class Answers:
    """The render cache, the replays and the VEVENT memo of one application, with the
    revision they are valid for; one budget of bytes for the first two."""

    def __init__(self, max_bytes: int, pool: RenderPool | None = None) -> None:
        self.pool = pool or RenderPool()  # renders run there, handed it by name
        self.revision = Revision()
        self.renders = RenderCache(max_bytes=max_bytes * 2 // 3, pool=self.pool)
        self.replays = HotResponses(max_bytes=max_bytes // 3)
        self.vevents = BytesMemo()

    def slot(self, key: tuple[Hashable, ...]) -> AbstractAsyncContextManager[Slot]:
        """The render kept under `key` for the current revision, or the place for one
        (RenderCache.slot); shared with the other processes where it is worth it."""
        store = self.revision.store if shareable(key) else None
        return self.renders.slot(key, self.revision.value, store)

    async def respond(
        self, request: web.Request, rendered: Rendered, *, max_age: int
    ) -> web.Response:
        """The response for rendered bytes, its headers built once and kept for the next
        identical request, which is then answered before any handler runs."""
        coding = "identity"
        if rendered.worth_compressing():
            coding = negotiate(request.headers.get("Accept-Encoding", ""))
        common = {
            "ETag": rendered.etag_for(coding),
            "Cache-Control": f"public, max-age={max_age}",
            "Vary": "Accept-Encoding",
            **CORS,
        }
        if rendered.last_modified_http:
            common["Last-Modified"] = rendered.last_modified_http
        if rendered.disposition:
            common["Content-Disposition"] = rendered.disposition
        headers = {**common, **dict(rendered.headers)}
        headers["Content-Type"] = _content_type(rendered.content_type)
        if coding != "identity":
            headers["Content-Encoding"] = coding
        body = await rendered.body_for(coding, self.pool)
        hot = Hot(rendered.stamp, body, headers, common, route_of(request))
        self.replays.keep(request, hot)
        if is_fresh(request, rendered.stamp):
            return web.Response(status=304, headers=hot.not_modified)
        return web.Response(body=hot.body, headers=hot.headers)


def _content_type(media_type: str) -> str:
    # Text says its charset; an SVG is XML and says it in its own declaration; a PDF is
    # not text.
    binary = media_type.startswith("image/") or media_type == "application/pdf"
    return media_type if binary else f"{media_type}; charset=utf-8"


answers_key = web.AppKey("answers", Answers)
