"""Upstream sites misbehaving in every way we know; the service keeps its promises.

For each fault: the service keeps answering, the other source is harvested, the failing
source's earlier items are still served, /status names the problem, and the source is
retried later with backoff.
"""

from __future__ import annotations

import asyncio
import gzip
import html
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import feedparser
import pytest
from aiohttp import web

from feeds.config import Config, Settings
from feeds.harvest import GONE_RECHECK, Harvester, Limits
from feeds.model import Network, Site, SourceConfig
from feeds.store import Store, open_store
from feeds.web.app import create_app
from sources.base import SourceContext
from sources.feed import FeedSource
from tests.conftest import Serve
from tests.helpers import LOCAL, get
from tests.upstream import DATA, Upstream

INTERVAL = timedelta(minutes=15)
GOOD_RSS = (DATA / "feed" / "news.rss").read_bytes()
LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>
<rss version="2.0"><channel><title>&d;</title><link>https://x/</link><description>&d;</description>
<item><title>&d;</title><guid>1</guid></item></channel></rss>"""


async def slow_body(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
    await response.prepare(request)
    for byte in GOOD_RSS[:60]:
        await response.write(bytes([byte]))
        await asyncio.sleep(1)
    return response


async def silent(request: web.Request) -> web.StreamResponse:
    await asyncio.sleep(30)
    return web.Response(text="too late")


async def truncated(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={"Content-Type": "application/rss+xml", "Content-Length": "20000"}
    )
    await response.prepare(request)
    await response.write(GOOD_RSS[:500])
    assert request.transport is not None
    request.transport.close()
    return response


def fixed(
    status: int, body: bytes = b"", **headers: str
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, body=body, headers=headers)

    return handler


def redirect_loop(status: int) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        target = "/loop-b" if request.path != "/loop-b" else "/bad"
        return web.Response(status=status, headers={"Location": target})

    return handler


GZIP_BOMB = gzip.compress(b"\0" * (200 * 1024 * 1024), compresslevel=9)


@dataclass(frozen=True)
class Fault:
    name: str
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]] | None  # None: use `url`
    words: str  # what /status must say
    http: int | None = None


FAULTS = [
    Fault("connection refused", None, "cannot connect"),
    Fault("DNS failure", None, "cannot connect"),
    Fault("connect timeout (accept queue full)", None, "could not connect in time"),
    Fault("connected, no answer", silent, "no complete answer in time"),
    Fault("slow body, one byte a second", slow_body, "no complete answer in time"),
    Fault("500", fixed(500, b"Internal Server Error"), "answered 500", 500),
    Fault(
        "503 with Retry-After", fixed(503, b"busy", **{"Retry-After": "7200"}), "answered 503", 503
    ),
    Fault("404", fixed(404, b"Not Found"), "answered 404", 404),
    Fault("200 with an empty body", fixed(200, b""), "answered 200 with an empty body", 200),
    Fault("410", fixed(410, b"Gone"), "answered 410", 410),
    Fault("301 loop", redirect_loop(301), "more than 5 redirects"),
    Fault("308 loop", redirect_loop(308), "more than 5 redirects"),
    Fault(
        "200 with an HTML error page",
        fixed(
            200, b"<html><body><h1>Fehler 500</h1></body></html>", **{"Content-Type": "text/html"}
        ),
        "not a readable feed",
    ),
    Fault("truncated body", truncated, "broke off"),
    Fault(
        "invalid encoding",
        fixed(
            200,
            b'{"version": "https://jsonfeed.org/version/1.1", "items": [{"id": "\xff\xfe"}]}',
            **{"Content-Type": "application/feed+json"},
        ),
        "can't decode byte 0xff",
    ),
    Fault(
        "oversized body",
        fixed(200, b"<rss>" + b" " * (21 * 1024 * 1024), **{"Content-Type": "application/rss+xml"}),
        "over the",
    ),
    Fault(
        "gzip bomb",
        fixed(
            200, GZIP_BOMB, **{"Content-Type": "application/rss+xml", "Content-Encoding": "gzip"}
        ),
        "over the",
    ),
    Fault(
        "billion laughs",
        fixed(200, LAUGHS, **{"Content-Type": "application/rss+xml"}),
        "declares XML entities",
    ),
]


def full_backlog(stack: ExitStack) -> int:
    """A port whose accept queue is full: the kernel drops further SYNs, so connect hangs."""
    server = stack.enter_context(socket.socket())
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port: int = server.getsockname()[1]
    for _ in range(3):
        filler = stack.enter_context(socket.socket())
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
    return port


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
async def test_a_misbehaving_source(
    fault: Fault, upstream: Upstream, tmp_path: Path, serve: Serve, http: aiohttp.ClientSession
) -> None:
    with ExitStack() as stack:
        await _misbehaving(fault, upstream, tmp_path, serve, http, stack)


async def _misbehaving(
    fault: Fault,
    upstream: Upstream,
    tmp_path: Path,
    serve: Serve,
    http: aiohttp.ClientSession,
    stack: ExitStack,
) -> None:
    upstream.file("/good", "feed/news.atom")
    upstream.file("/bad", "feed/news.rss")
    bad_url = f"{upstream.base}/bad"
    site = Site(
        slug="kaiserslautern",
        name="Engagierte Stadt Kaiserslautern",
        sources=(SourceConfig(name="good", kind="feed"), SourceConfig(name="bad", kind="feed")),
    )

    def feed(name: str, url: str) -> FeedSource:
        context = SourceContext(
            site=site.slug,
            source=name,
            timezone="Europe/Berlin",
            homepage=None,
            config_dir=tmp_path,
        )
        return FeedSource.from_config(context, {"url": url})

    network = Network(name="Engagierte Stadt", sites=(site,))
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'feeds.sqlite3'}", outbound=LOCAL)
    store = await open_store(settings.database_url)
    limits = Limits(total_timeout=2.0, connect_timeout=1.0)
    try:
        # First, all is well: both sources deliver.
        sources = {
            (site.slug, "good"): feed("good", f"{upstream.base}/good"),
            (site.slug, "bad"): feed("bad", bad_url),
        }
        first = await Harvester(store, network, sources, limits=limits, outbound=LOCAL).run_once()
        assert [o.status for o in first] == ["ok", "ok"]
        base = await serve(
            create_app(settings, Config(network, sources), harvest=False, revision_poll=0.01)
        )
        _, _, before = await get(http, f"{base}/kaiserslautern/news.atom")
        titles_before = {e.title for e in feedparser.parse(before).entries}
        assert (
            "Kaiserslautern – Gute Rahmenbedingungen für Engagement vor Ort schaffen"
            in titles_before
        )

        # Then the bad source breaks.
        if fault.name == "connection refused":
            bad_url = f"http://127.0.0.1:{free_port()}/bad"
        elif fault.name == "DNS failure":
            bad_url = "http://feeds.nonexistent-host.invalid/bad"
        elif fault.name.startswith("connect timeout"):
            bad_url = f"http://127.0.0.1:{full_backlog(stack)}/bad"
        else:
            assert fault.handler is not None
            upstream.add("/bad", fault.handler)
            upstream.add("/loop-b", fault.handler)
        sources[(site.slug, "bad")] = feed("bad", bad_url)
        harvester = Harvester(store, network, sources, limits=limits, outbound=LOCAL)
        harvest = asyncio.create_task(harvester.run_once())
        # The service keeps answering while a harvest struggles.
        status, _, _during = await get(http, f"{base}/kaiserslautern/news.atom")
        assert status == 200
        outcomes = {o.source: o for o in await harvest}
        assert outcomes["good"].status == "not-modified"
        bad = outcomes["bad"]
        assert bad.status == "failed"
        assert bad.http_status == fault.http
        assert fault.words in (bad.error or ""), bad.error

        # Its earlier items are still served.
        await asyncio.sleep(0.05)
        _, _, after = await get(http, f"{base}/kaiserslautern/news.atom")
        assert {e.title for e in feedparser.parse(after).entries} == titles_before

        # /status names the problem, and when the source will be asked again.
        _, _, body = await get(http, f"{base}/status.json")
        rows = {row["source"]: row for row in json.loads(body)["sources"]}
        assert rows["good"]["health"] == "ok"
        row = rows["bad"]
        assert row["health"] == ("gone" if fault.http == 410 else "failing")
        assert fault.words in row["last_error"]
        assert row["items"] == 2
        next_run = datetime.fromisoformat(row["next_run"])
        wait = next_run - datetime.now(UTC)
        if fault.http == 410:
            assert wait > GONE_RECHECK - timedelta(minutes=1)
        elif fault.http == 503:
            assert wait > timedelta(seconds=7100)  # Retry-After honoured
        else:
            # Never sooner than the interval; jitter adds up to half of it.
            assert INTERVAL - timedelta(minutes=1) < wait <= INTERVAL * 1.5
            # A second failure in a row waits longer: exponential backoff.
            second = await harvester.run_once([(site.slug, "bad")])
            assert second[0].status == "failed"
            _, _, body = await get(http, f"{base}/status.json")
            row = {r["source"]: r for r in json.loads(body)["sources"]}["bad"]
            assert row["failures"] == 2
            assert datetime.fromisoformat(row["next_run"]) - datetime.now(
                UTC
            ) > 2 * INTERVAL - timedelta(minutes=1)
        _, _, page = await get(http, f"{base}/status")
        assert fault.words in html.unescape(page.decode())  # folded under "Technische Angaben"
    finally:
        await store.close()


@asynccontextmanager
async def one_feed(url: str, tmp_path: Path) -> AsyncIterator[tuple[Store, Harvester]]:
    """A store and a harvester for one feed source, ks/rss, at `url`."""
    site = Site(slug="ks", name="KS", sources=(SourceConfig(name="rss", kind="feed"),))
    context = SourceContext(
        site="ks", source="rss", timezone="Europe/Berlin", homepage=None, config_dir=tmp_path
    )
    store = await open_store(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    try:
        source = FeedSource.from_config(context, {"url": url})
        yield (
            store,
            Harvester(
                store, Network(name="N", sites=(site,)), {("ks", "rss"): source}, outbound=LOCAL
            ),
        )
    finally:
        await store.close()


async def test_a_permanent_redirect_is_followed_and_reported(
    upstream: Upstream, tmp_path: Path
) -> None:
    upstream.file("/new-feed", "feed/news.rss")

    async def moved(request: web.Request) -> web.StreamResponse:
        raise web.HTTPPermanentRedirect("/new-feed")

    upstream.add("/feed", moved)
    async with one_feed(f"{upstream.base}/feed", tmp_path) as (store, harvester):
        [outcome] = await harvester.run_once()
        assert (outcome.status, outcome.moved_to) == ("ok", f"{upstream.base}/new-feed")
        state = await store.source_state("ks", "rss")
        assert state.moved_to == f"{upstream.base}/new-feed"


async def test_an_empty_answer_where_there_were_items_is_suspicious(
    upstream: Upstream, tmp_path: Path
) -> None:
    upstream.file("/feed", "feed/news.rss")
    async with one_feed(f"{upstream.base}/feed", tmp_path) as (store, harvester):
        assert (await harvester.run_once())[0].status == "ok"
        empty = (
            b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
            b"<link>https://x/</link><description>d</description></channel></rss>"
        )
        upstream.add("/feed", fixed(200, empty, **{"Content-Type": "application/rss+xml"}))
        [outcome] = await harvester.run_once()
        assert outcome.status == "failed"
        assert "returned no items, where it had 2 before" in (outcome.error or "")
        assert (await store.source_state("ks", "rss")).items == 2
