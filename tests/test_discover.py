"""`feeds discover` against local servers playing each kind of group website."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import aiohttp
from aiohttp import web

from feeds.config import load_config
from sources import build_source
from sources.base import SourceContext
from sources.discover import Discovery, discover
from tests.helpers import LOCAL, LOCAL_ENV
from tests.upstream import DATA, Upstream


async def run(url: str) -> Discovery:
    async with aiohttp.ClientSession(connector=LOCAL.connector()) as session:
        return await discover(session, url, LOCAL)


def kinds(found: Discovery) -> list[tuple[str, str, str]]:
    return [(s.name, s.kind, s.url) for s in found.sources]


def json_answer(upstream: Upstream, path: str, value: object) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.json_response(value)

    upstream.add(path, handler)


async def test_a_wordpress_site_with_the_events_calendar(upstream: Upstream) -> None:
    upstream.file("/", "discover/wordpress.html")
    json_answer(upstream, "/wp-json/wp/v2/posts", [{"id": 1}])
    json_answer(upstream, "/wp-json/tribe/events/v1/events", {"events": [], "total": 0})
    found = await run(upstream.base + "/")
    base = upstream.base + "/"
    assert kinds(found) == [
        ("posts", "wordpress", base),
        ("events", "tribe_events", base),
    ]
    # Its RSS feed and iCal export hold the same items: named, not listed twice.
    notes = "\n".join(found.notes)
    assert f"{upstream.base}/feed/" in notes
    assert "veranstaltungen/?ical=1" in notes
    assert "comments" not in notes


async def test_a_site_with_a_feed_and_a_calendar_link(upstream: Upstream) -> None:
    host = upstream.base.removeprefix("http://")

    async def page(request: web.Request) -> web.Response:
        body = (DATA / "discover/feeds.html").read_text().replace("{{HOST}}", host)
        return web.Response(text=body, content_type="text/html")

    upstream.add("/", page)
    upstream.file("/news.atom", "feed/news.atom")
    upstream.file("/termine.ics", "ical/nextcloud.ics")  # with ?download=1 too
    found = await run(upstream.base + "/")
    assert kinds(found) == [
        ("feed", "feed", f"{upstream.base}/news.atom"),
        # webcal:// is http by convention: the page's scheme, which this server speaks.
        ("calendar", "ical", f"http://{host}/termine.ics"),
    ]
    # The download link is the same calendar: proposed once.
    assert found.notes == (
        f"{upstream.base}/termine.ics?download=1 is the same calendar as"
        f" {upstream.base}/termine.ics",
    )


async def test_a_page_with_schema_org_events(upstream: Upstream) -> None:
    upstream.file("/veranstaltungen/", "jsonld/events.html")
    found = await run(upstream.base + "/veranstaltungen/")
    [page] = found.sources
    assert (page.kind, page.url) == ("jsonld", upstream.base + "/veranstaltungen/")
    assert "5 events, 1 articles" in page.why


async def test_a_plain_page_offers_nothing_and_says_what_to_do(upstream: Upstream) -> None:
    upstream.file("/", "discover/plain.html")
    found = await run(upstream.base + "/")
    assert found.sources == ()
    assert 'kind = "html"' in found.toml()


async def test_the_blocks_are_a_working_configuration(upstream: Upstream, tmp_path: Path) -> None:
    upstream.file("/", "discover/wordpress.html")
    json_answer(upstream, "/wp-json/wp/v2/posts", [])
    json_answer(upstream, "/wp-json/tribe/events/v1/events", {"events": []})
    found = await run(upstream.base + "/")
    config = tmp_path / "sites.toml"
    config.write_text(
        '[network]\nname = "N"\n\n[[sites]]\nslug = "ks"\nname = "KS"\n\n' + found.toml()
    )
    [site] = load_config(config).network.sites
    assert [(s.name, s.kind) for s in site.sources] == [
        ("posts", "wordpress"),
        ("events", "tribe_events"),
    ]
    context = SourceContext(
        site="ks", source="posts", timezone="Europe/Berlin", homepage=None, config_dir=tmp_path
    )
    for source in site.sources:
        build_source(source.kind, context, source.options_dict)


async def test_the_command_prints_the_blocks(upstream: Upstream) -> None:
    upstream.file("/veranstaltungen/", "jsonld/events.html")
    process = await _run_cli("discover", upstream.base + "/veranstaltungen/")
    assert process.returncode == 0, process.stderr
    assert 'kind = "jsonld"' in process.stdout
    assert f'url = "{upstream.base}/veranstaltungen/"' in process.stdout


async def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    import asyncio

    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "feeds.cli", *args],
        env={**os.environ, **LOCAL_ENV},
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_add_appends_a_group_that_loads(upstream: Upstream, tmp_path: Path) -> None:
    upstream.file("/veranstaltungen/", "jsonld/events.html")
    config = tmp_path / "sites.toml"
    config.write_text('[network]\nname = "Netz"\n\n[[sites]]\nslug = "a"\nname = "A"\n')
    url = upstream.base + "/veranstaltungen/"
    added = await _run_cli("--config", str(config), "add", "kl", url, "--region", "Rheinland-Pfalz")
    assert added.returncode == 0, added.stderr
    assert "added kl (Engagierte Stadt Kaiserslautern) with jsonld" in added.stdout
    site = load_config(config).network.site("kl")
    assert site is not None
    # Named after the page's title, less the page's own name, unless told.
    assert (site.name, site.region, site.homepage) == (
        "Engagierte Stadt Kaiserslautern",
        "Rheinland-Pfalz",
        url,
    )
    assert [(s.name, s.kind) for s in site.sources] == [("page", "jsonld")]
    # The same site again is refused, naming the group that has it; the file unchanged.
    before = config.read_text()
    again = await _run_cli("--config", str(config), "add", url, "--slug", "kl2")
    assert again.returncode == 1
    assert "is there already: kl (Engagierte Stadt Kaiserslautern)" in again.stderr
    assert config.read_text() == before
