"""HTTP helpers for the tests: requests as a real client makes them, bodies decoded."""

from __future__ import annotations

import gzip
from datetime import timedelta
from pathlib import Path

import aiohttp
import brotli
from multidict import CIMultiDict, CIMultiDictProxy

from feeds.render.entries import FeedInfo
from feeds.render.ics import CalendarInfo
from sources.base import SourceContext
from sources.outbound import Outbound

# The upstreams of the tests run on this machine, where the service refuses to connect by
# default (sources/outbound.py): the tests allow loopback, as an operator allows a network.
LOCAL = Outbound.allowing(["127.0.0.0/8", "::1"])
LOCAL_ENV = {"FEEDS_ALLOW_NETWORKS": "127.0.0.0/8,::1"}

# What tests hand adapters and renderers when the values themselves do not matter.
CONTEXT = SourceContext(
    site="kaiserslautern", source="x", timezone="Europe/Berlin", homepage=None, config_dir=Path()
)
FEED_INFO = FeedInfo(
    id="urn:uuid:0b7a3a51-5a8e-5a4b-9c6e-0a0b0c0d0e0f",
    title="Neuigkeiten",
    subtitle=None,
    self_url="https://feeds.example/kaiserslautern/news.atom",
    alternate_url="https://feeds.example/kaiserslautern/",
)
CALENDAR_INFO = CalendarInfo(
    name="Termine", description=None, timezone="Europe/Berlin", refresh=timedelta(hours=1)
)


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
