"""The network office onboards five groups from the command line, as it types it.

Five websites on local servers, each shaped as real ones are: a WordPress site with The
Events Calendar whose title carries a tagline; a site that only has a feed, given by the
feed's own address without https://; an http-only site whose calendar is a webcal:// link
(and the same file again as a download link); a page with schema.org events; an OPML
list of groups on the network's website. The office discovers, adds, imports (from the
address and from a file), checks, harvests, lists and removes, and the file it keeps is
one a person would have written: UTF-8 text, names without taglines, short slugs, every
address one that answered, no group twice.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web

from feeds.config import load_config
from tests.helpers import LOCAL_ENV
from tests.upstream import Upstream

Website = Callable[[], Awaitable[Upstream]]


@pytest.fixture
async def website() -> AsyncIterator[Website]:
    """Start websites, each on its own port (its own address); stopped after the test."""
    runners: list[web.AppRunner] = []

    async def start() -> Upstream:
        site = Upstream()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", site.dispatch)
        runner = web.AppRunner(app, shutdown_timeout=0.1)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        runners.append(runner)
        site.base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        return site

    yield start
    for runner in runners:
        await runner.cleanup()


def page(site: Upstream, path: str, html: str, headers: dict[str, str] | None = None) -> None:
    async def handler(request: web.Request) -> web.Response:
        body = html.replace("{{BASE}}", site.base).replace("{{HOST}}", site.base[7:])
        return web.Response(text=body, content_type="text/html", headers=headers)

    site.add(path, handler)


async def feeds(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`feeds …` as the office types it, in a process of its own."""
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "feeds.cli", *args],
        env={**os.environ, **LOCAL_ENV, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_the_office_onboards_five_groups(website: Website, tmp_path: Path) -> None:
    wordpress = await website()
    page(
        wordpress, "/",
        "<!DOCTYPE html><html lang=de><head><meta charset=utf-8>"
        "<title>Engagierte Stadt Zwickau – Gemeinsam mehr bewegen</title>"
        '<link rel="alternate" type="application/rss+xml" href="{{BASE}}/feed/">'
        '<link rel="https://api.w.org/" href="{{BASE}}/wp-json/"></head><body></body></html>',
        {"Link": f'<{wordpress.base}/wp-json/>; rel="https://api.w.org/"'},
    )  # fmt: skip
    wordpress.file("/wp-json/wp/v2/posts", "wordpress/posts-1.json")
    wordpress.file("/wp-json/wp/v2/posts", "wordpress/posts-2.json", query={"page": "2"})
    wordpress.file("/wp-json/tribe/events/v1/events", "tribe/events-1.json")
    wordpress.file("/wp-json/tribe/events/v1/events/", "tribe/events-2.json", query={"page": "2"})
    wordpress.file("/feed/", "feed/news.rss")

    only_a_feed = await website()
    only_a_feed.file("/news.atom", "feed/news.atom")

    http_only = await website()
    page(
        http_only, "/",
        "<!DOCTYPE html><html lang=de><head><meta charset=utf-8>"
        "<title>Bürgerstiftung Seestadt – Termine</title></head><body>"
        '<a href="webcal://{{HOST}}/kalender/termine.ics">Abonnieren</a>'
        '<a href="/kalender/termine.ics">Herunterladen</a></body></html>',
    )  # fmt: skip
    http_only.file("/kalender/termine.ics", "ical/google.ics")

    schema_org = await website()
    schema_org.file("/veranstaltungen/", "jsonld/events.html")

    office = await website()
    opml = (
        '<?xml version="1.0" encoding="UTF-8"?><opml version="2.0"><head><title>Netz</title>'
        '</head><body><outline text="Sachsen-Anhalt"><outline type="rss"'
        ' text="Freiwilligenagentur Halle-Saalkreis e.V."'
        f' xmlUrl="{office.base}/halle/feed.rss" htmlUrl="{office.base}/halle/"/></outline>'
        # The feed-only group, under another name, and with www. and a trailing slash.
        f' <outline type="rss" text="Musterstadt" xmlUrl="{only_a_feed.base}/news.atom/"/>'
        "</body></opml>"
    )

    async def opml_file(request: web.Request) -> web.Response:
        return web.Response(text=opml, content_type="text/x-opml")

    office.add("/netzwerk.opml", opml_file)
    office.file("/halle/feed.rss", "feed/news.rss")

    config = tmp_path / "sites.toml"
    config.write_text(
        '# Das Netzwerk der Engagierten Städte\n[network]\nname = "Engagierte Städte"\n',
        encoding="utf-8",
    )
    at = ("--config", str(config))  # after the command, as people type it

    # What the WordPress site offers: its APIs, and its feed named as the same posts.
    shown = await feeds("discover", wordpress.base + "/")
    assert shown.returncode == 0, shown.stderr
    assert 'kind = "wordpress"' in shown.stdout
    assert 'kind = "tribe_events"' in shown.stdout
    assert "carries the same posts as the REST API" in shown.stdout

    added = await feeds("add", wordpress.base + "/", *at)
    assert added.returncode == 0, added.stderr
    assert "added zwickau (Engagierte Stadt Zwickau)" in added.stdout

    # A feed's own address, typed without https://: the site speaks only http.
    added = await feeds("add", only_a_feed.base.removeprefix("http://") + "/news.atom", *at)
    assert added.returncode == 0, added.stderr
    assert "added musterstadt-engagiert (Musterstadt engagiert) with feed" in added.stdout

    contact = ("--contact", "team@seestadt.example")
    added = await feeds("add", http_only.base + "/", *contact, *at)
    assert added.returncode == 0, added.stderr
    assert "added seestadt (Bürgerstiftung Seestadt) with ical" in added.stdout

    region = ("--region", "Rheinland-Pfalz")
    added = await feeds("add", schema_org.base + "/veranstaltungen/", *region, *at)
    assert added.returncode == 0, added.stderr
    assert "added kaiserslautern (Engagierte Stadt Kaiserslautern) with jsonld" in added.stdout

    # The same site again, under another address form: refused, naming the group.
    again = await feeds("add", wordpress.base + "/", "--name", "Zwickau engagiert", *at)
    assert again.returncode == 1
    assert "is read already, for zwickau (Engagierte Stadt Zwickau)" in again.stderr

    # An OPML list given to add: pointed to the command that reads it.
    pointed = await feeds("add", office.base + "/netzwerk.opml", *at)
    assert pointed.returncode == 1
    assert f"feeds import-opml {office.base}/netzwerk.opml" in pointed.stderr

    imported = await feeds("import-opml", office.base + "/netzwerk.opml", *at)
    assert imported.returncode == 0, imported.stderr
    assert "added 1 groups: halle-saalkreis" in imported.stdout
    assert "is read already, for musterstadt-engagiert" in imported.stderr
    listed = tmp_path / "netzwerk.opml"
    listed.write_text(opml, encoding="utf-8")
    again = await feeds("import-opml", str(listed), *at)
    assert again.returncode == 1
    assert "no new feeds" in again.stderr

    text = config.read_text(encoding="utf-8")
    assert "\\u" not in text  # written as people write TOML
    assert 'name = "Bürgerstiftung Seestadt"' in text
    assert "Gemeinsam mehr bewegen" not in text  # no taglines
    assert "# Das Netzwerk der Engagierten Städte" in text
    network = load_config(config).network
    assert [s.slug for s in network.sites] == [
        "zwickau", "musterstadt-engagiert", "seestadt", "kaiserslautern", "halle-saalkreis",
    ]  # fmt: skip
    seestadt = network.site("seestadt")
    assert seestadt is not None
    # One calendar, at the address that answered: http, as the page's own scheme.
    assert [(s.kind, s.options_dict["url"]) for s in seestadt.sources] == [
        ("ical", f"{http_only.base}/kalender/termine.ics")
    ]
    halle = network.site("halle-saalkreis")
    assert halle is not None
    assert halle.region == "Sachsen-Anhalt"

    # Who is told when Zwickau's website breaks, given later; a mistyped region refused.
    both = "info@zwickau.example, vorstand@zwickau.example"
    changed = await feeds("set", "zwickau", "contact", both, *at)
    assert changed.returncode == 0, changed.stderr
    wrong = await feeds("set", "zwickau", "region", "Sachsn", *at)
    assert wrong.returncode == 2
    assert "sites.toml:15: sites[0].region: 'Sachsn'" in wrong.stderr  # the file and line
    assert "(did you mean 'Sachsen'?)" in wrong.stderr
    changed = await feeds("set", "zwickau", "region", "Sachsen", *at)
    assert changed.returncode == 0, changed.stderr
    network = load_config(config).network
    zwickau, seestadt = network.site("zwickau"), network.site("seestadt")
    assert zwickau is not None
    assert seestadt is not None
    assert zwickau.contact == ("info@zwickau.example", "vorstand@zwickau.example")
    assert zwickau.region == "Sachsen"
    assert seestadt.contact == ("team@seestadt.example",)

    checked = await feeds("check", *at)
    assert checked.returncode == 0, checked.stderr
    assert "ok, 5 sites" in checked.stdout

    # Harvested, every group's sources answer; the list says how each went.
    database = {"DATABASE_URL": f"sqlite:///{tmp_path / 'feeds.sqlite3'}"}
    harvested = await feeds("harvest", *at, env=database)
    assert harvested.returncode == 0, harvested.stdout + harvested.stderr
    listing = await feeds("list", *at, env=database)
    assert listing.returncode == 0, listing.stderr
    assert "seestadt: Bürgerstiftung Seestadt" in listing.stdout
    assert "FAILING" not in listing.stdout
    assert listing.stdout.count("    ok, ") == 6  # every source of the five groups

    # A post of the WordPress group is reported: hidden by its address there.
    hid = await feeds(
        "hide", "engagierte-stadt-ks.example/2025/02/20/gute-rahmenbedingungen", env=database
    )
    assert hid.returncode == 0, hid.stderr
    assert hid.stdout.startswith("hidden: zwickau post “Kaiserslautern – Gute Rahmen")
    hidden = await feeds("hidden", env=database)
    assert "/2025/02/20/gute-rahmenbedingungen/" in hidden.stdout

    removed = await feeds("remove", "seestadt", *at)
    assert removed.returncode == 0, removed.stderr
    assert "removed seestadt (Bürgerstiftung Seestadt)" in removed.stdout
    text = config.read_text(encoding="utf-8")
    assert "seestadt" not in text
    assert "# Das Netzwerk der Engagierten Städte" in text
    assert [s.slug for s in load_config(config).network.sites] == [
        "zwickau", "musterstadt-engagiert", "kaiserslautern", "halle-saalkreis",
    ]  # fmt: skip
    missing = await feeds("remove", "seestadt", *at)
    assert missing.returncode == 2
    assert "there is no group 'seestadt'" in missing.stderr


async def test_every_command_is_in_the_help() -> None:
    shown = await feeds("--help")
    assert shown.returncode == 0
    for command in (
        "serve",
        "harvest",
        "check",
        "list",
        "discover",
        "add",
        "import-opml",
        "remove",
    ):
        assert command in shown.stdout


async def test_check_names_the_line_of_a_typo(tmp_path: Path) -> None:
    config = tmp_path / "sites.toml"
    config.write_text(
        '[network]\nname = "N"\n\n[[sites]]\nslug = "a"\nname = "A"\nregoin = "Bayern"\n',
        encoding="utf-8",
    )
    checked = await feeds("check", str(config))
    assert checked.returncode == 2
    assert f"{config}:7: sites[0].regoin: unknown key (did you mean 'region'?)" in checked.stderr
    config.write_text(
        '[network]\nname = "N"\n\n[[sites]]\nslug = "a"\nname = "A"\nregion = "Rheinland Pfalz"\n',
        encoding="utf-8",
    )
    checked = await feeds("check", "--config", str(config))
    assert "did you mean 'Rheinland-Pfalz'?" in checked.stderr
    config.write_text('[netwrk]\nname = "N"\n\n[[sites]]\nslug = "a"\nname = "A"\n')
    checked = await feeds("check", str(config))
    assert f"{config}:1: netwrk: unknown key (did you mean 'network'?)" in checked.stderr


async def test_a_connection_that_fails_is_said_in_words(website: Website) -> None:
    http_only = await website()
    page(http_only, "/", "<!DOCTYPE html><title>Verein</title>")
    secure = http_only.base.replace("http://", "https://") + "/"
    shown = await feeds("discover", secure)
    assert shown.returncode == 1
    assert "no secure connection on port" in shown.stderr
    assert "the site may only speak http" in shown.stderr
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    shown = await feeds("discover", f"http://127.0.0.1:{port}/")
    assert f"cannot connect (connection refused on port {port})" in shown.stderr
