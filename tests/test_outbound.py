"""Nothing reaches behind the service: every fetch passes one outbound policy.

A hostile group website, played by a server on 127.0.0.2 (allowed, as an operator allows
a network that really hosts a group), leads the service by redirects, a next page and
links in its page to 127.0.0.1, ::1, 169.254.169.254 and a private address. Each is
refused in words before a connection is made; nothing behind the service is read,
published, or quoted on /status. (Refused addresses are never connected to, so no packet
leaves this machine.)
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from feeds.config import Config, Settings
from feeds.harvest import Harvester
from feeds.model import Network, Site, SourceConfig
from feeds.store import ItemQuery, open_store
from feeds.web.app import create_app
from sources.base import SourceContext, SourceError
from sources.discover import discover
from sources.feed import FeedSource
from sources.outbound import Outbound
from sources.tribe_events import TribeEventsSource
from tests.conftest import Serve
from tests.helpers import get
from tests.upstream import DATA

SECRET = "INTERNAL-SECRET-token-4711"
HOSTILE = Outbound.allowing(["127.0.0.2/32"])  # the group's server, and nothing else


@pytest.mark.parametrize(
    ("address", "words"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.178.1", "private"),
        ("fd00::1", "private"),
        ("100.64.0.1", "reserved"),  # carrier-grade NAT: not the public internet
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("::ffff:169.254.169.254", "link-local"),
        ("2002:7f00:1::1", "loopback"),  # 6to4 around 127.0.0.1
        ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 around 169.254.169.254
        ("fe80::1%eth0", "link-local"),
    ],
)
def test_internal_addresses_are_refused_in_words(address: str, words: str) -> None:
    reason = Outbound().refusal(address)
    assert reason is not None
    assert words in reason


@pytest.mark.parametrize("address", ["93.184.215.14", "2a00:1450:4001:80b::2003", "1.1.1.1"])
def test_public_addresses_pass(address: str) -> None:
    assert Outbound().refusal(address) is None


def test_an_allowed_network_passes_and_only_it() -> None:
    policy = Outbound.allowing(["10.1.0.0/16", " 127.0.0.2 "])
    assert policy.refusal("10.1.2.3") is None
    assert policy.refusal("127.0.0.2") is None
    assert policy.refusal("::ffff:10.1.2.3") is None
    assert policy.refusal("10.2.0.1") is not None
    assert policy.refusal("127.0.0.1") is not None
    with pytest.raises(ValueError, match="expected networks such as"):
        Outbound.allowing(["intranet"])


def test_the_setting_is_read_and_a_bad_one_named() -> None:
    settings = Settings.from_env({"FEEDS_ALLOW_NETWORKS": "10.1.0.0/16,fd12::/16"})
    assert settings.outbound.refusal("10.1.0.9") is None
    assert Settings.from_env({}).outbound.refusal("10.1.0.9") is not None
    with pytest.raises(ValueError, match="FEEDS_ALLOW_NETWORKS"):
        Settings.from_env({"FEEDS_ALLOW_NETWORKS": "10.1.0.0/99"})


class Internal:
    """What sits behind the service: an admin answer, shaped like a feed to be tempting."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.base = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(request.path_qs)
        rss = (DATA / "feed/news.rss").read_text().replace("<title>", f"<title>{SECRET} ", 3)
        return web.Response(text=rss, content_type="application/rss+xml")


@pytest.fixture
async def internal() -> AsyncIterator[Internal]:
    inside = Internal()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", inside.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    inside.base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield inside
    await runner.cleanup()


@pytest.fixture
async def hostile(internal: Internal) -> AsyncIterator[str]:
    """The group's website on 127.0.0.2, pointing at everything behind the service."""
    port = internal.base.rsplit(":", 1)[1]
    targets = {
        "loopback": f"{internal.base}/admin/feed.rss",
        "name": f"http://localhost:{port}/admin/feed.rss",
        "ipv6": f"http://[::1]:{port}/admin/feed.rss",
        "metadata": "http://169.254.169.254/latest/meta-data/",
        "private": "http://10.0.0.1/feed.rss",
        "mapped": f"http://[::ffff:127.0.0.1]:{port}/admin/feed.rss",
    }

    async def redirect(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(targets[request.match_info["to"]])

    async def events(request: web.Request) -> web.Response:
        # The Events Calendar's first page, whose next page lies behind the service.
        data = json.loads((DATA / "tribe/events-1.json").read_text().replace("{{BASE}}", ""))
        data["next_rest_url"] = f"{internal.base}/wp-json/tribe/events/v1/events?page=2"
        return web.json_response(data)

    async def page(request: web.Request) -> web.Response:
        links = "".join(
            f'<link rel="alternate" type="application/rss+xml" title="{name}" href="{url}">'
            for name, url in targets.items()
        )
        calendars = (
            f'<a href="webcal://localhost:{port}/termine.ics">Termine</a>'
            '<a href="http://169.254.169.254/kalender.ics">Kalender</a>'
        )
        return web.Response(
            text=f"<html><head><title>Hostile</title>{links}</head><body>{calendars}</body>",
            content_type="text/html",
        )

    app = web.Application()
    app.router.add_get("/to/{to}", redirect)
    app.router.add_get("/wp-json/tribe/events/v1/events", events)
    app.router.add_get("/", page)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.2", 0)
    await site.start()
    yield f"http://127.0.0.2:{runner.addresses[0][1]}"
    await runner.cleanup()


def context(name: str, tmp_path: Path) -> SourceContext:
    return SourceContext(
        site="ks", source=name, timezone="Europe/Berlin", homepage=None, config_dir=tmp_path
    )


REDIRECTS = ("loopback", "name", "ipv6", "metadata", "private", "mapped")


async def test_redirects_and_next_pages_never_reach_behind_the_service(
    hostile: str,
    internal: Internal,
    tmp_path: Path,
    serve: Serve,
    http: aiohttp.ClientSession,
) -> None:
    sources = {
        ("ks", name): FeedSource.from_config(
            context(name, tmp_path), {"url": f"{hostile}/to/{name}"}
        )
        for name in REDIRECTS
    }
    sources["ks", "events"] = TribeEventsSource.from_config(
        context("events", tmp_path), {"api": f"{hostile}/wp-json/", "per_page": 2}
    )
    site = Site(
        slug="ks",
        name="KS",
        sources=tuple(SourceConfig(name=name, kind="feed") for _, name in sources),
    )
    network = Network(name="N", sites=(site,))
    database_url = f"sqlite:///{tmp_path / 'feeds.sqlite3'}"
    store = await open_store(database_url)
    try:
        outcomes = await Harvester(store, network, sources, outbound=HOSTILE).run_once()
        by_name = {o.source: o for o in outcomes}
        for name in REDIRECTS:
            error = by_name[name].error or ""
            assert by_name[name].status == "failed", name
            assert "refused to connect" in error, error
            assert "never a group's website" in error
        assert "169.254.169.254 is a link-local address" in by_name["metadata"].error  # type: ignore[operator]
        assert "localhost" in by_name["name"].error  # type: ignore[operator]
        # The first page of events is the group's; its next page is refused and said so.
        events = by_name["events"]
        assert events.status == "ok", events.error
        state = await store.source_state("ks", "events")
        assert any("refused to connect" in w for w in state.notes.warnings)
        titles = [p.item.title for p in await store.posts(ItemQuery(sites=["ks"]))]
        titles += [e.item.title for e in await store.events(ItemQuery(sites=["ks"]))]
        assert titles
        assert not any(SECRET in t for t in titles)
    finally:
        await store.close()
    assert internal.requests == []  # nothing behind the service was even asked

    base = await serve(
        create_app(
            Settings(database_url=database_url, outbound=HOSTILE),
            Config(network, sources),
            harvest=False,
        )
    )
    for path in ("/status", "/status.json", "/ks/news.atom", "/ks/events.ics", "/ks/"):
        _, _, body = await get(http, base + path)
        assert SECRET.encode() not in body, path
    _, _, body = await get(http, base + "/status.json")
    rows = {row["source"]: row for row in json.loads(body)["sources"]}
    assert "refused to connect" in rows["metadata"]["last_error"]


async def test_discover_proposes_no_address_behind_the_service(
    hostile: str, internal: Internal
) -> None:
    async with aiohttp.ClientSession(connector=HOSTILE.connector()) as session:
        found = await discover(session, hostile + "/", HOSTILE)
    assert found.sources == ()
    notes = "\n".join(found.notes)
    for url in ("169.254.169.254", "[::1]", "10.0.0.1", "localhost"):
        assert f"left out http://{url}" in notes or f"left out https://{url}" in notes, url
    assert internal.requests == []


async def test_discover_is_refused_an_internal_page_in_words(internal: Internal) -> None:
    async with aiohttp.ClientSession(connector=Outbound().connector()) as session:
        with pytest.raises(SourceError, match=r"127\.0\.0\.1 is a loopback address"):
            await discover(session, internal.base + "/", Outbound())
    assert internal.requests == []
