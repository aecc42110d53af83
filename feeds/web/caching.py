"""Rendered bytes kept per (route, query, store revision): a repeated request is a look-up."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import logging
import re
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import quote

import brotli

from feeds import metrics
from feeds.store import Store

log = logging.getLogger(__name__)


COMPRESS_MIN_BYTES = 860  # below about one packet, compression saves nothing
CODINGS = ("br", "gzip")


@dataclass(frozen=True, slots=True)
class Rendered:
    """One rendered response; its compressed forms are made once, on first demand."""

    body: bytes
    content_type: str
    etag: str  # strong, quoted; each compressed form gets its own (RFC 9110 8.8.3)
    last_modified: datetime | None  # None: no date to give (validated by ETag alone)
    revision: int
    valid_until: datetime | None = None  # for views that move with the clock
    last_modified_http: str = ""  # the header value, formatted once
    compressed: dict[str, bytes] = field(default_factory=dict)
    disposition: str | None = None  # Content-Disposition, for a file to save
    etags: frozenset[str] = frozenset()  # of every coding: If-None-Match matches any
    headers: tuple[tuple[str, str], ...] = ()  # more for a 200, e.g. a page's CSP

    def fresh(self, revision: int, now: datetime) -> bool:
        return self.revision == revision and (self.valid_until is None or now < self.valid_until)

    def etag_for(self, coding: str) -> str:
        return self.etag if coding == "identity" else f'{self.etag[:-1]}-{coding}"'

    async def body_for(self, coding: str) -> bytes:
        """The body in a content coding; compressed off the event loop, then kept."""
        if coding == "identity":
            return self.body
        packed = self.compressed.get(coding)
        if packed is None:
            packed = self.compressed[coding] = await asyncio.to_thread(_compress, self.body, coding)
        return packed

    def worth_compressing(self) -> bool:
        return len(self.body) >= COMPRESS_MIN_BYTES

    async def precompress(self) -> None:
        """Every coding made now, in one trip off the event loop: then `size` is what is
        held, and no later request makes the service compress."""
        if self.worth_compressing() and len(self.compressed) < len(CODINGS):
            self.compressed.update(await asyncio.to_thread(_compress_all, self.body))

    @property
    def size(self) -> int:
        """Bytes held: the body and every compressed form made so far."""
        return len(self.body) + sum(len(packed) for packed in self.compressed.values())

    @property
    def stamp(self) -> Stamp:
        return Stamp(self.revision, self.valid_until, self.etags, self.last_modified)


@dataclass(frozen=True, slots=True)
class Stamp:
    """What answers a conditional request and says whether an answer is current: all a
    replayed response keeps of its render (not the render's other codings)."""

    revision: int
    valid_until: datetime | None
    etags: frozenset[str]
    last_modified: datetime | None


def make_rendered(
    body: bytes,
    content_type: str,
    last_modified: datetime | None,
    revision: int,
    *,
    valid_until: datetime | None = None,
    filename: str | None = None,
    headers: tuple[tuple[str, str], ...] = (),
) -> Rendered:
    etag = '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'
    modified = last_modified.astimezone(UTC).replace(microsecond=0) if last_modified else None
    return Rendered(
        body,
        content_type,
        etag,
        modified,
        revision,
        valid_until,
        last_modified_http=format_datetime(modified, usegmt=True) if modified else "",
        disposition=attachment(filename) if filename else None,
        etags=frozenset([etag, *(f'{etag[:-1]}-{coding}"' for coding in CODINGS)]),
        headers=headers,
    )


def attachment(filename: str) -> str:
    """Content-Disposition for a download (RFC 6266): an ASCII name every client takes,
    and the real one in UTF-8 for those that read filename*."""
    stem, dot, extension = filename.rpartition(".")
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    ascii_stem = re.sub(r"[^A-Za-z0-9]+", "-", ascii_stem).strip("-")[:60] or "download"
    return (
        f'attachment; filename="{ascii_stem}{dot}{extension}";'
        f" filename*=UTF-8''{quote(filename[:120], safe='')}"
    )


# Made once per revision and served many times: spend on ratio more than speed, up to a
# size. Past it (a network calendar of megabytes) the highest levels cost seconds of a core
# (brotli 9: 4.9 s for 3.9 MB) for a few per cent; brotli 5 and gzip 6 take milliseconds.
BIG_BODY = 512 * 1024


def _compress(body: bytes, coding: str) -> bytes:
    big = len(body) > BIG_BODY
    if coding == "gzip":
        return gzip.compress(body, compresslevel=6 if big else 9, mtime=0)
    packed: bytes = brotli.compress(body, quality=5 if big else 9)
    return packed


def _compress_all(body: bytes) -> dict[str, bytes]:
    return {coding: _compress(body, coding) for coding in CODINGS}


class Revision:
    """The store's current revision, held in memory: bumped by an in-process harvester,
    followed from the store when another process harvests."""

    def __init__(self, value: int = 0) -> None:
        self.value = value

    def bump(self, value: int) -> None:
        self.value = max(self.value, value)

    async def follow(self, store: Store, every: float) -> None:
        """Follow another process's harvests: PostgreSQL tells at once (NOTIFY), SQLite
        is polled every `every` seconds."""
        async for revision in store.revisions(every):
            self.bump(revision)


class RenderCache:
    """Rendered responses by key, least recently used out first, bounded in count and size.

    Sizes count every byte an entry holds (the body and its compressed forms, all made
    before it is kept). Bounding bytes matters: distinct queries (?q=…, ?to=…) on a big
    calendar would otherwise fill memory.
    """

    def __init__(self, max_entries: int = 1024, max_bytes: int = 128 * 1024 * 1024) -> None:
        self._entries: OrderedDict[Hashable, Rendered] = OrderedDict()
        self._locks: dict[Hashable, asyncio.Lock] = {}
        self._bytes = 0
        self.max_entries = max_entries
        self.max_bytes = max_bytes

    def get(self, key: Hashable, revision: int) -> Rendered | None:
        hit = self._entries.get(key)
        if hit is None or not hit.fresh(revision, datetime.now(UTC)):
            return None
        self._entries.move_to_end(key)
        return hit

    async def get_or_render(
        self, key: Hashable, revision: int, render: Callable[[], Awaitable[Rendered]]
    ) -> Rendered:
        hit = self.get(key, revision)
        if hit is not None:
            metrics.RENDER_CACHE.labels("hit").inc()
            return hit
        metrics.RENDER_CACHE.labels("miss").inc()
        # One render per key at a time: a burst of pollers after a harvest waits for it.
        lock = self._locks.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                hit = self.get(key, revision)
                if hit is None:
                    view = key[0] if isinstance(key, tuple) and key else "other"
                    with metrics.RENDERS.labels(str(view)).time():
                        hit = await render()
                        await hit.precompress()
                    self._put(key, hit)
        finally:
            # Only a key being rendered needs a lock; keep none for keys that failed (404s).
            if not lock.locked() and self._locks.get(key) is lock:
                del self._locks[key]
        return hit

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
