"""A rendered answer: its bytes, its validators and its codings, made once and kept
(feeds/web/cache.py). Views make one with `make_rendered`."""

from __future__ import annotations

import gzip
import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import quote

import brotli

from feeds.web.render_pool import RenderPool

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

    def etag_for(self, coding: str) -> str:
        return self.etag if coding == "identity" else f'{self.etag[:-1]}-{coding}"'

    async def body_for(self, coding: str, pool: RenderPool) -> bytes:
        """The body in a content coding; compressed off the event loop, then kept."""
        if coding == "identity":
            return self.body
        packed = self.compressed.get(coding)
        if packed is None:
            packed = self.compressed[coding] = await pool.run(_compress, self.body, coding)
        return packed

    def worth_compressing(self) -> bool:
        return len(self.body) >= COMPRESS_MIN_BYTES

    async def precompress(self, pool: RenderPool) -> None:
        """Every coding made now, in one trip off the event loop: then `size` is what is
        held, and no later request makes the service compress."""
        if self.worth_compressing() and len(self.compressed) < len(CODINGS):
            self.compressed.update(await pool.run(_compress_all, self.body))

    @property
    def size(self) -> int:
        """Bytes held: the body and every compressed form made so far."""
        return len(self.body) + sum(len(packed) for packed in self.compressed.values())

    @property
    def stamp(self) -> Stamp:
        until = self.valid_until.timestamp() if self.valid_until is not None else None
        return Stamp(self.revision, until, self.etags, self.last_modified)


@dataclass(frozen=True, slots=True)
class Stamp:
    """What answers a conditional request and says whether an answer is current: all a
    replayed response keeps of its render (not the render's other codings)."""

    revision: int
    # valid_until as POSIX seconds: a replay compares it with time.time() (0.1 us), not
    # datetime.now(UTC) with a zone-aware datetime in Europe/Berlin (1.3 us, 2 % of it).
    fresh_until: float | None
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


def negotiate(accept_encoding: str) -> str:
    """The best coding we have that the client accepts (RFC 9110 12.5.3); ties go to br."""
    weights: dict[str, float] = {}
    for part in accept_encoding.split(","):
        name, _, params = part.strip().partition(";")
        name = name.strip().lower()
        if not name:
            continue
        weight = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        weights[name] = weight
    star = weights.get("*", 0.0)
    best, best_weight = "identity", 0.0
    for coding in CODINGS:
        weight = weights.get(coding, star)
        if weight > best_weight:
            best, best_weight = coding, weight
    return best
