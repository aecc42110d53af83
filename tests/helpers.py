"""HTTP helpers for the tests: requests as a real client makes them, bodies decoded."""

from __future__ import annotations

import gzip

import aiohttp
import brotli
from multidict import CIMultiDict, CIMultiDictProxy


async def get(
    http: aiohttp.ClientSession, url: str, *, method: str = "GET", **headers: str
) -> tuple[int, CIMultiDict[str], bytes]:
    """A request as a client that accepts gzip and brotli; the body comes back decoded."""
    headers.setdefault("Accept-Encoding", "gzip, br")
    async with http.request(method, url, headers=headers) as response:
        raw = await response.read()
        return response.status, response.headers.copy(), decode(raw, response.headers)


def decode(raw: bytes, headers: CIMultiDictProxy[str]) -> bytes:
    coding = headers.get("Content-Encoding")
    if coding == "gzip":
        return gzip.decompress(raw)
    if coding == "br":
        decoded: bytes = brotli.decompress(raw)
        return decoded
    assert coding is None, coding
    return raw
