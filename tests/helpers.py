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


SYNTHETIC_VEVENT = (
    "BEGIN:VEVENT\r\nUID:e{n}@gruppe.example\r\nDTSTAMP:20261201T100000Z\r\n"
    "DTSTART;TZID=Europe/Berlin:2027{month:02d}{day:02d}T190000\r\n"
    "DTEND;TZID=Europe/Berlin:2027{month:02d}{day:02d}T210000\r\n"
    "SUMMARY:Treffen {n}\r\nLOCATION:Gemeindehaus\\, Saal {n}\r\nEND:VEVENT\r\n"
)


def synthetic_calendar(count: int) -> bytes:
    """An ICS of `count` plain events: what parse costs and budgets are measured on."""
    events = "".join(
        SYNTHETIC_VEVENT.format(n=n, month=n % 12 + 1, day=n % 28 + 1) for n in range(count)
    )
    head = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Gruppe//DE\r\n"
    return f"{head}{events}END:VCALENDAR\r\n".encode()
