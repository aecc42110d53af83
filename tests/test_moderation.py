"""The network office takes an item out of everything the service serves, as it would:
it copies the address of an event's page from the network's page, or of a post from the
group's website, runs `feeds hide`, and finds it gone from every feed, calendar and page
of a running `feeds serve` (on SQLite and on PostgreSQL), its page a 410, still hidden
after the group's site lists it again, and back after `feeds unhide`."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import feedparser
import icalendar
from aiohttp import web

from feeds.model import Post, Validators
from feeds.store import Hidden, ItemQuery, open_store
from tests.helpers import LOCAL_ENV
from tests.test_alerts import free_port, until
from tests.upstream import Upstream

TOKEN = "moderation-token"
BASE_URL = "https://feeds.netzwerk.example"


def berlin(days: int, hour: int) -> str:
    moment = datetime.now(UTC) + timedelta(days=days)
    return f"{moment:%Y%m%d}T{hour:02d}0000"


def calendar(edition: int) -> bytes:
    """A group's calendar as The Events Calendar exports it: a weekly series with one
    moved date (an override of its own), and a single event."""
    lines = [
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Seestadt//Termine//DE",
        "BEGIN:VEVENT", "UID:kaffee@seestadt.example", f"DTSTAMP:{berlin(0, 8)}Z",
        f"DTSTART;TZID=Europe/Berlin:{berlin(2, 15)}", f"DTEND;TZID=Europe/Berlin:{berlin(2, 17)}",
        "RRULE:FREQ=WEEKLY;COUNT=6", "SUMMARY:Gratis-Kaffee: jetzt Kredit sichern!",
        "URL:https://seestadt.example/termine/kaffee/", "END:VEVENT",
        "BEGIN:VEVENT", "UID:kaffee@seestadt.example", f"DTSTAMP:{berlin(0, 8)}Z",
        f"RECURRENCE-ID;TZID=Europe/Berlin:{berlin(9, 15)}",
        f"DTSTART;TZID=Europe/Berlin:{berlin(10, 15)}",
        f"DTEND;TZID=Europe/Berlin:{berlin(10, 17)}",
        "SUMMARY:Gratis-Kaffee: jetzt Kredit sichern!", "END:VEVENT",
        "BEGIN:VEVENT", "UID:putzaktion@seestadt.example", f"DTSTAMP:{berlin(0, 8)}Z",
        f"DTSTART;TZID=Europe/Berlin:{berlin(3, 10)}", f"DTEND;TZID=Europe/Berlin:{berlin(3, 12)}",
        f"SUMMARY:Putzaktion am Seeufer{' (mit Grillen)' if edition > 1 else ''}",
        "URL:https://seestadt.example/termine/putzaktion/", "END:VEVENT",
        "END:VCALENDAR",
    ]  # fmt: skip
    return ("\r\n".join(lines) + "\r\n").encode()


def news(edition: int) -> bytes:
    """The group's WordPress feed; in its second edition the spam post was edited."""
    spam = "Kredit ohne Schufa" + (" – jetzt neu" if edition > 1 else "")
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">
<channel><title>Bürgerstiftung Seestadt</title><link>https://seestadt.example/</link>
<description>Engagiert am See</description>
<item><title>{spam}</title><link>https://seestadt.example/2026/12/kredit/</link>
<guid isPermaLink="false">https://seestadt.example/?p=901</guid>
<pubDate>{format_datetime(datetime.now(UTC) - timedelta(hours=2))}</pubDate>
<description>Sofort Geld.</description></item>
<item><title>Neue Bänke am Seeufer</title><link>https://seestadt.example/2026/11/baenke/</link>
<guid isPermaLink="false">https://seestadt.example/?p=880</guid>
<pubDate>{format_datetime(datetime.now(UTC) - timedelta(days=3))}</pubDate>
<description>Dank vieler Helfer.</description></item>
</channel></rss>""".encode()


def group_website(upstream: Upstream) -> dict[str, int]:
    edition = {"now": 1}

    async def feed(request: web.Request) -> web.Response:
        return web.Response(body=news(edition["now"]), content_type="application/rss+xml")

    async def ics(request: web.Request) -> web.Response:
        return web.Response(body=calendar(edition["now"]), content_type="text/calendar")

    upstream.add("/feed/", feed)
    upstream.add("/termine.ics", ics)
    return edition


def write_config(tmp_path: Path, upstream: str) -> Path:
    config = tmp_path / "sites.toml"
    config.write_text(
        f"""[network]
name = "Engagierte Stadt"

[[sites]]
slug = "seestadt"
name = "Bürgerstiftung Seestadt"
homepage = "https://seestadt.example/"

[[sites.sources]]
name = "news"
kind = "feed"
url = "{upstream}/feed/"

[[sites.sources]]
name = "termine"
kind = "ical"
url = "{upstream}/termine.ics"
""",
        encoding="utf-8",
    )
    return config


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)


def body(url: str) -> bytes:
    status, content, _ = fetch(url)
    assert status == 200, (url, status)
    return content


def summaries(ics: bytes) -> list[str]:
    parsed = icalendar.Calendar.from_ical(ics)
    return [str(event["SUMMARY"]) for event in parsed.walk("VEVENT")]


def titles(feed: bytes) -> list[str]:
    parsed = feedparser.parse(feed)
    assert not parsed.bozo, parsed.bozo_exception
    return [entry.title for entry in parsed.entries]


def feeds(*args: str, database: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "feeds.cli", *args],
        env={**os.environ, **LOCAL_ENV, "DATABASE_URL": database, "FEEDS_BASE_URL": BASE_URL},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def harvest_now(base: str) -> list[dict[str, object]]:
    request = urllib.request.Request(
        f"{base}/admin/harvest?site=seestadt",
        method="POST",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        outcomes: list[dict[str, object]] = json.loads(response.read())
        return outcomes


SPAM_EVENT = "Gratis-Kaffee: jetzt Kredit sichern!"


async def test_the_office_hides_an_item_from_everything_and_shows_it_again(
    upstream: Upstream, tmp_path: Path, store_url: str
) -> None:
    edition = group_website(upstream)
    config = write_config(tmp_path, upstream.base)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, **LOCAL_ENV, "DATABASE_URL": store_url, "FEEDS_BASE_URL": BASE_URL,
           "FEEDS_ADMIN_TOKEN": TOKEN}  # fmt: skip
    process = await asyncio.to_thread(
        subprocess.Popen,
        [sys.executable, "-m", "feeds.cli", "serve", "--port", str(port), "--config", str(config)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    views = {
        "network calendar": f"{base}/network/events.ics",
        "group calendar": f"{base}/seestadt/events.ics",
        "events feed": f"{base}/network/events.atom",
        "events json": f"{base}/seestadt/events.json",
        "news feed": f"{base}/network/news.atom",
        "news rss": f"{base}/seestadt/news.rss",
        "network page": f"{base}/",
        "group page": f"{base}/seestadt/",
        "widget": f"{base}/seestadt/widget",
    }
    try:
        await until(lambda: _up(base), 30)
        await until(lambda: SPAM_EVENT in summaries(body(views["network calendar"])), 30)
        await until(lambda: "Kredit ohne Schufa" in titles(body(views["news feed"])))
        assert summaries(body(views["group calendar"])).count(SPAM_EVENT) == 2  # and its move
        before = {name: fetch(url) for name, url in views.items()}
        # Last-Modified counts whole seconds, as HTTP dates do: a hide in the second of the
        # harvest would carry its date (ETag tells them apart; a date cannot).
        await asyncio.sleep(1.1)

        # The office clicks the event on the network's page and copies the address.
        home = body(f"{base}/").decode()
        page_of_event = next(
            address
            for address, title in re.findall(
                r'href="([^"]+/events/[0-9a-f-]{36})"[^>]*>([^<]+)', home
            )
            if "Gratis-Kaffee" in title
        )
        assert page_of_event.startswith(BASE_URL)
        local_page = base + page_of_event.removeprefix(BASE_URL)
        assert fetch(local_page)[0] == 200
        hid = await asyncio.to_thread(
            feeds, "hide", page_of_event, "--reason", "Werbung", database=store_url
        )
        assert hid.returncode == 0, hid.stderr
        assert "hidden: seestadt event “Gratis-Kaffee" in hid.stdout
        assert hid.stdout.count("hidden: ") == 2  # the series and its moved date

        # The post, by its address on the group's website, as a member reported it.
        hid = await asyncio.to_thread(
            feeds, "hide", "seestadt.example/2026/12/kredit", database=store_url
        )
        assert hid.returncode == 0, hid.stderr
        assert "hidden: seestadt post “Kredit ohne Schufa”" in hid.stdout

        def gone_everywhere() -> bool:
            texts = {name: body(url) for name, url in views.items()}
            return not any(b"Kredit" in content for content in texts.values())

        await until(gone_everywhere, 15)
        assert summaries(body(views["network calendar"])) == ["Putzaktion am Seeufer"]
        assert titles(body(views["news feed"])) == ["Neue Bänke am Seeufer"]
        assert "Neue Bänke am Seeufer" in body(views["group page"]).decode()
        # A reader that asks whether anything changed since its last copy is told yes,
        # by ETag and by date alike.
        for name, (_, _, headers) in before.items():
            asked = {"If-None-Match": headers["ETag"]}
            assert fetch(views[name], asked)[0] == 200, name
            if "Last-Modified" in headers:
                asked = {"If-Modified-Since": headers["Last-Modified"]}
                status, _, now_headers = fetch(views[name], asked)
                assert status == 200, (name, headers["Last-Modified"], now_headers)
        # Its own addresses say it is gone for good.
        status, page, _ = fetch(local_page)
        assert status == 410
        assert "aus dem Angebot genommen" in page.decode()
        assert "Werbung" not in page.decode()  # the reason is the office's own
        assert fetch(local_page + ".ics")[0] == 410
        assert fetch(f"{base}/seestadt/events/00000000-0000-0000-0000-000000000000")[0] == 404

        # The group's site lists both again, edited: they stay hidden.
        edition["now"] = 2
        harvested = await asyncio.to_thread(harvest_now, base)
        assert {str(o["status"]) for o in harvested} == {"ok"}
        assert any(o["changed"] for o in harvested)
        await until(lambda: "mit Grillen" in body(views["network calendar"]).decode())
        assert not any(b"Kredit" in body(url) for url in views.values())

        listed = await asyncio.to_thread(feeds, "hidden", database=store_url)
        assert listed.returncode == 0, listed.stderr
        assert len(listed.stdout.splitlines()) == 3
        assert "Werbung" in listed.stdout

        # Shown again, by the id `feeds hidden` gives: back everywhere, with its move.
        spam_id = page_of_event.rsplit("/", 1)[1]
        shown = await asyncio.to_thread(feeds, "unhide", spam_id, database=store_url)
        assert shown.returncode == 0, shown.stderr
        assert shown.stdout.count("shown again: ") == 2
        await until(lambda: SPAM_EVENT in summaries(body(views["network calendar"])), 15)
        assert summaries(body(views["group calendar"])).count(SPAM_EVENT) == 2
        assert fetch(local_page)[0] == 200
        assert "Kredit ohne Schufa – jetzt neu" not in titles(body(views["news feed"]))
        again = await asyncio.to_thread(feeds, "unhide", spam_id, database=store_url)
        assert again.returncode == 1
        assert "nothing among the hidden items" in again.stderr
    finally:
        process.terminate()
        process.wait(timeout=10)


def _up(base: str) -> bool:
    try:
        return fetch(f"{base}/healthz")[0] == 200
    except OSError:
        return False


async def test_hiding_is_one_change_and_outlasts_the_items_row(store_url: str) -> None:
    store = await open_store(store_url)
    now = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
    post = Post(site="s", source="f", external_id="901", title="Spam", url="https://s.example/x")
    try:
        await store.save_batch("s", "f", [post], [], Validators(), now)
        start = await store.revision()
        hidden = Hidden(str(post.uuid), "s", "post", "Spam", post.url, reason="Werbung")
        [done] = await store.hide([hidden], now)
        assert done.since == now
        assert done.reason == "Werbung"
        assert await store.revision() == start + 1
        assert await store.hide([hidden], now) == []  # hidden already: nothing moves
        assert await store.revision() == start + 1
        assert await store.posts(ItemQuery()) == []
        assert await store.latest_end(ItemQuery(), None, kind="post") == now
        assert await store.last_change() == now

        # Listed again, edited: still hidden.
        edited = Post(site="s", source="f", external_id="901", title="Spam!", url=post.url)
        result = await store.save_batch("s", "f", [edited], [], Validators(), now)
        assert result.changed == 1
        assert await store.posts(ItemQuery()) == []
        assert [h.uuid for h in await store.hidden([str(post.uuid)])] == [str(post.uuid)]

        later = now + timedelta(hours=1)
        [back] = await store.unhide([str(post.uuid)], later)
        assert back.uuid == str(post.uuid)
        assert [p.item.title for p in await store.posts(ItemQuery())] == ["Spam!"]
        assert await store.latest_end(ItemQuery(), None, kind="post") == later
        assert await store.hidden() == []
        assert await store.unhide([str(post.uuid)], later) == []
    finally:
        await store.close()
