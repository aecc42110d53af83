"""Responses served before: the next identical request costs a dictionary look-up.

A feed's answer depends only on the request target (path and query), the address links are
built from (Host and scheme, unless FEEDS_BASE_URL is set), the Accept-Encoding header, the
conditional headers and the store's revision (or, for views that move with the clock, the
time). Keyed by the first three and checked against the last two, an answer is replayed
with headers built once: no route handler, no query parsing, no header assembly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from aiohttp import web

from feeds import metrics
from feeds.web.caching import Stamp

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
        stamp = hot.stamp
        if stamp.revision != revision or (
            stamp.valid_until is not None and datetime.now(UTC) >= stamp.valid_until
        ):
            self._drop(key)
            return None
        status = 304 if is_fresh(request, stamp) else 200
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
