"""Other servers' documents (actors, keys) and our POSTs to their inboxes, with the bounds
every outbound request keeps: the outbound policy (no address behind the service, at any
redirect), a time limit, and a size limit. A remote actor's document is hostile input.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urldefrag, urlsplit

import aiohttp

from feeds.federation.signatures import signed_get
from feeds.render.activitypub import MEDIA_TYPE
from feeds.store import ActorKey
from sources.outbound import Outbound, bounded

MAX_DOCUMENT_BYTES = 512 * 1024  # the largest actors (many fields, long keys) are ~20 KB
TIMEOUT_SECONDS = 10.0
ACCEPT = f'{MEDIA_TYPE}, application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
CACHED_SECONDS = 3600.0  # remote actors and keys are asked again after this
CACHED_ENTRIES = 10_000


class RemoteError(Exception):
    """A remote document could not be had; `status` is the HTTP status, if one came."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Remote:
    """Fetches and caches remote documents; signs its GETs with `signing` (the network
    actor's key) for servers that answer only signed requests."""

    def __init__(
        self,
        outbound: Outbound,
        user_agent: str,
        signing: Callable[[], ActorKey | None] = lambda: None,
        key_id: str | None = None,
    ) -> None:
        self.outbound = outbound
        self.user_agent = user_agent
        self.signing = signing
        self.key_id = key_id
        self._session: aiohttp.ClientSession | None = None
        self._cache: dict[str, tuple[float, dict[str, Any]]] = {}

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=TIMEOUT_SECONDS),
                connector=self.outbound.connector(limit_per_host=4),
                headers={"User-Agent": self.user_agent},
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def kept(self, url: str) -> bool:
        """Whether `url`'s document was read before (and is kept)."""
        return urldefrag(url).url in self._cache

    def forget(self, url: str) -> None:
        self._cache.pop(urldefrag(url).url, None)

    async def document(self, url: str) -> dict[str, Any]:
        """The JSON document at `url` (its fragment dropped), from the cache if fresh."""
        address = urldefrag(url).url
        if urlsplit(address).scheme not in ("https", "http"):
            raise RemoteError(f"{url}: not an http(s) address")
        cached = self._cache.get(address)
        if cached is not None and time.monotonic() - cached[0] < CACHED_SECONDS:
            return cached[1]
        headers = {"Accept": ACCEPT}
        key = self.signing()
        if key is not None and self.key_id is not None:
            headers.update(signed_get(self.key_id, key.private_key, address, datetime.now(UTC)))
        try:
            async with self.session().get(address, headers=headers) as response:
                if response.status != 200:
                    raise RemoteError(f"{address} answered {response.status}", response.status)
                body = await bounded(response.content, MAX_DOCUMENT_BYTES, RemoteError)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise RemoteError(f"{address}: {type(exc).__name__}: {exc}") from exc
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise RemoteError(f"{address}: not JSON ({exc})") from exc
        if not isinstance(document, dict):
            raise RemoteError(f"{address}: not a JSON object")
        if len(self._cache) >= CACHED_ENTRIES:
            self._cache.pop(next(iter(self._cache)))
        self._cache[address] = (time.monotonic(), document)
        return document

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """POST to an inbox; its status. Redirects are not followed: an inbox that moved
        is asked for again at its actor's new address."""
        try:
            async with self.session().post(
                url,
                data=body,
                headers=headers,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=30),
            ) as response:
                return response.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise RemoteError(f"{url}: {type(exc).__name__}: {exc}") from exc


def same_host(a: str, b: str) -> bool:
    return urlsplit(a).netloc.lower() == urlsplit(b).netloc.lower()
