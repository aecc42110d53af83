"""Fetching for the adapters: conditional GET, a size cap, HTTP failures as SourceError."""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import aiohttp
from multidict import CIMultiDictProxy

from sources.base import NotModified, SourceError, Validators
from sources.outbound import MAX_REDIRECTS, RefusedAddressError

MAX_BYTES = 20 * 1024 * 1024  # after decompression: no page or feed of a group is larger
CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class Response:
    url: str  # after redirects
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes
    validators: Validators
    moved_to: str | None = None  # set when a 301 or 308 led here: the config should follow


async def fetch(
    session: aiohttp.ClientSession,
    url: str,
    validators: Validators = Validators(),
    *,
    accept: str,
    max_bytes: int = MAX_BYTES,
) -> Response | NotModified:
    """GET `url`, sending the validators; 304 becomes NotModified, failures SourceError."""
    headers = {"Accept": accept}
    if validators.etag:
        headers["If-None-Match"] = validators.etag
    if validators.last_modified:
        headers["If-Modified-Since"] = validators.last_modified
    try:
        async with session.get(url, headers=headers, max_redirects=MAX_REDIRECTS) as response:
            fresh = Validators(
                etag=response.headers.get("ETag") or validators.etag,
                # After a 304 keep the newer Last-Modified if one came (RFC 9110 15.4.5).
                last_modified=response.headers.get("Last-Modified") or validators.last_modified,
            )
            moved_to = _permanent_target(response)
            if response.status == 304:
                if not (validators.etag or validators.last_modified):
                    # Nothing was asked conditionally: "not modified" since what?
                    raise SourceError(
                        f"{url}: the server answered 304 Not Modified to a request without"
                        " validators (a misconfigured cache or proxy?)",
                        status=304,
                    )
                return NotModified(fresh, moved_to)
            if response.status >= 400:
                reason = f" {response.reason}" if response.reason else ""
                raise SourceError(
                    f"{url}: the server answered {response.status}{reason}",
                    status=response.status,
                    retry_after=retry_after(response.headers.get("Retry-After")),
                )
            body = await _read_capped(response, url, max_bytes)
            if not body.strip():
                # A site mid-update or a broken cache plugin: no document, not "no items".
                raise SourceError(
                    f"{url}: the server answered {response.status} with an empty body",
                    status=response.status,
                )
            return Response(
                str(response.url), response.status, response.headers, body, fresh, moved_to
            )
    except aiohttp.ConnectionTimeoutError as exc:
        raise SourceError(f"{url}: could not connect in time (the server is unreachable)") from exc
    except aiohttp.ServerTimeoutError as exc:
        raise SourceError(f"{url}: no complete answer in time ({exc})") from exc
    except aiohttp.TooManyRedirects as exc:
        raise SourceError(f"{url}: more than {MAX_REDIRECTS} redirects (a redirect loop?)") from exc
    except aiohttp.ClientResponseError as exc:
        raise SourceError(
            f"{url}: invalid HTTP response ({exc.message})", status=exc.status
        ) from exc
    except aiohttp.ClientConnectorError as exc:
        if isinstance(exc.os_error, RefusedAddressError):
            where = "" if exc.host in url else f" (led to {exc.host})"
            raise SourceError(f"{url}{where}: {exc.os_error}") from exc
        raise SourceError(f"{url}: cannot connect ({connect_failure(exc)})") from exc
    except aiohttp.ClientPayloadError as exc:
        raise SourceError(f"{url}: the response broke off or is corrupt ({exc})") from exc
    except aiohttp.ClientError as exc:
        raise SourceError(f"{url}: request failed ({exc.__class__.__name__}: {exc})") from exc
    except TimeoutError as exc:
        raise SourceError(f"{url}: no complete answer in time") from exc


def connect_failure(exc: aiohttp.ClientConnectorError) -> str:
    """Why a connection failed, in words, never empty (an OSError may carry no text)."""
    error = exc.os_error
    if isinstance(error, ConnectionRefusedError):
        # A site that speaks only http refuses https.
        hint = ": the site may only speak http" if exc.port == 443 else ""
        return f"connection refused on port {exc.port}{hint}"
    if isinstance(error, ssl.SSLError) and "WRONG_VERSION_NUMBER" in str(error):
        # … or answers the TLS handshake in plain HTTP.
        return f"no secure connection on port {exc.port}: the site may only speak http"
    return str(error).strip() or error.strerror or type(error).__name__


def _permanent_target(response: aiohttp.ClientResponse) -> str | None:
    if any(step.status in (301, 308) for step in response.history):
        return str(response.url)
    return None


async def _read_capped(response: aiohttp.ClientResponse, url: str, max_bytes: int) -> bytes:
    declared = response.content_length
    if (
        declared is not None
        and declared > max_bytes
        and not response.headers.get("Content-Encoding")
    ):
        raise SourceError(f"{url}: the response is {declared} bytes, over the {max_bytes} limit")
    chunks: list[bytes] = []
    size = 0
    # The stream is already decompressed: the cap also stops a small gzip bomb.
    async for chunk in response.content.iter_chunked(CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise SourceError(f"{url}: the response is over the {max_bytes} byte limit")
        chunks.append(chunk)
        await asyncio.sleep(0)
    return b"".join(chunks)


def retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


async def fetch_fresh(session: aiohttp.ClientSession, url: str, *, accept: str) -> Response:
    """GET without validators (a later page of a paginated source): always a full answer."""
    response = await fetch(session, url, accept=accept)
    if isinstance(response, NotModified):  # fetch() refuses an unasked-for 304 already
        raise SourceError(f"{url}: the server answered 304 Not Modified to a plain request")
    return response
