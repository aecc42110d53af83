"""Following a group from Mastodon: a fediverse server on a local port (tests/fediverse.py)
finds the group by WebFinger, reads its actor, follows it with a signed Follow and gets a
signed Accept; forged, tampered, stale and unsigned requests are refused and change
nothing. `feeds serve` runs as it would, with FEEDS_FEDERATION on."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from Crypto.PublicKey import RSA

from tests.fediverse import ACTIVITY, Mastodon
from tests.helpers import LOCAL_ENV
from tests.test_alerts import free_port, text_of, until
from tests.upstream import Upstream

CONFIG = """[network]
name = "Engagierte Stadt"
homepage = "https://www.engagiertestadt.de/"

[[sites]]
slug = "seestadt"
name = "Bürgerstiftung Seestadt"
region = "Sachsen"
homepage = "https://seestadt.example/"

[[sites.sources]]
name = "demo"
kind = "files"
path = "{demo}"
"""


@pytest.fixture
async def mastodon() -> AsyncIterator[Mastodon]:
    server = Mastodon()
    runner = web.AppRunner(server.app(), shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield server
    await runner.cleanup()


def get(url: str, accept: str = ACTIVITY) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers={"Accept": accept})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, None


async def serve(tmp_path: Path, database: str, port: int) -> subprocess.Popen[bytes]:
    demo = Path(__file__).parent.parent / "demo" / "kaiserslautern"
    config = tmp_path / "sites.toml"
    config.write_text(CONFIG.format(demo=demo.as_posix()), encoding="utf-8")
    env = {**os.environ, **LOCAL_ENV, "DATABASE_URL": database, "FEEDS_FEDERATION": "on",
           "FEEDS_BASE_URL": f"http://127.0.0.1:{port}"}  # fmt: skip
    return await asyncio.to_thread(
        subprocess.Popen,
        [sys.executable, "-m", "feeds.cli", "serve", "--port", str(port), "--config", str(config)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def up(base: str) -> bool:
    try:
        return get(f"{base}/healthz", "application/json")[0] == 200
    except OSError:
        return False


async def test_a_mastodon_account_follows_a_group(mastodon: Mastodon, tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    host = f"127.0.0.1:{port}"
    process = await serve(tmp_path, f"sqlite:///{tmp_path / 'f.sqlite3'}", port)
    try:
        await until(lambda: up(base), 30)

        # The search box: @seestadt@host, found by WebFinger.
        status, found = await asyncio.to_thread(
            get,
            f"{base}/.well-known/webfinger?resource=acct:seestadt@{host}",
            "application/jrd+json",
        )
        assert status == 200
        assert found["subject"] == f"acct:seestadt@{host}"
        [self_link] = [link for link in found["links"] if link["rel"] == "self"]
        assert self_link["type"] == ACTIVITY
        actor_id = self_link["href"]
        assert (
            await asyncio.to_thread(
                get, f"{base}/.well-known/webfinger?resource=acct:nobody@{host}"
            )
        )[0] == 404
        assert (await asyncio.to_thread(get, f"{base}/.well-known/webfinger"))[0] == 400

        status, actor = await asyncio.to_thread(get, actor_id)
        assert status == 200
        assert actor["id"] == actor_id
        assert actor["type"] == "Service"
        assert actor["preferredUsername"] == "seestadt"
        assert actor["name"] == "Bürgerstiftung Seestadt"
        assert "Bürgerstiftung Seestadt (Sachsen)" in actor["summary"]
        assert "https://seestadt.example/" in actor["summary"]
        assert actor["url"] == f"{base}/seestadt/"
        assert actor["manuallyApprovesFollowers"] is False
        assert actor["discoverable"] is True
        assert actor["endpoints"]["sharedInbox"] == f"{base}/inbox"
        assert {actor["inbox"], actor["outbox"], actor["followers"]} == {
            f"{base}/seestadt/inbox", f"{base}/seestadt/outbox", f"{base}/seestadt/followers",
        }  # fmt: skip
        assert actor["publicKey"]["owner"] == actor_id
        assert RSA.import_key(actor["publicKey"]["publicKeyPem"]).size_in_bits() == 2048
        assert actor["icon"]["mediaType"] == "image/png"
        icon = await asyncio.to_thread(urllib.request.urlopen, actor["icon"]["url"], timeout=10)
        assert icon.read(8) == b"\x89PNG\r\n\x1a\n"
        # The same key on every read: made once, kept.
        assert (await asyncio.to_thread(get, actor_id))[1]["publicKey"] == actor["publicKey"]
        # The network's own account, under a name no group can take.
        status, network = await asyncio.to_thread(get, f"{base}/network/actor")
        assert status == 200
        assert network["preferredUsername"] == "network"
        assert network["publicKey"]["publicKeyPem"] != actor["publicKey"]["publicKeyPem"]

        inbox = actor["inbox"]
        follow = mastodon.follow(actor_id)
        # Refused, and nothing follows: unsigned; signed with another key in anna's name;
        # changed after signing; signed ten minutes ago.
        unsigned = json.dumps(follow).encode()
        assert mastodon.post(inbox, unsigned, {"Content-Type": ACTIVITY}) == 401
        body, headers = mastodon.signed(inbox, follow, key=RSA.generate(2048))
        assert mastodon.post(inbox, body, headers) == 401
        body, headers = mastodon.signed(inbox, follow)
        tampered = body.replace(b"Follow", b"Follow", 1).replace(b"}", b', "x": 1}', 1)
        assert mastodon.post(inbox, tampered, headers) == 401
        old = datetime.now(UTC) - timedelta(minutes=10)
        body, headers = mastodon.signed(inbox, follow, date=old)
        assert mastodon.post(inbox, body, headers) == 401
        await asyncio.sleep(1.5)
        assert mastodon.received == []
        assert (await asyncio.to_thread(get, actor["followers"]))[1]["totalItems"] == 0

        # Signed as Mastodon signs: followed, and a signed Accept of that Follow comes.
        body, headers = mastodon.signed(inbox, follow)
        assert await asyncio.to_thread(mastodon.post, inbox, body, headers) == 202
        await until(lambda: len(mastodon.received) == 1, 20)
        [accepted] = mastodon.received
        assert accepted.verified
        assert {"(request-target)", "host", "date", "digest"} <= set(accepted.signed_fields)
        assert accepted.path == "/users/anna/inbox"
        assert accepted.activity["type"] == "Accept"
        assert accepted.activity["actor"] == actor_id
        assert accepted.activity["object"]["id"] == follow["id"]
        assert (await asyncio.to_thread(get, actor["followers"]))[1]["totalItems"] == 1

        # A new key, as the office rotates it: the actor shows it at once.
        rotated = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "feeds.cli", "rotate-key", "seestadt", "--config",
             str(tmp_path / "sites.toml")],
            env={**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'f.sqlite3'}"},
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert rotated.returncode == 0, rotated.stderr
        assert "PRIVATE" not in rotated.stdout + rotated.stderr
        new_key = (await asyncio.to_thread(get, actor_id))[1]["publicKey"]["publicKeyPem"]
        assert new_key != actor["publicKey"]["publicKeyPem"]

        # Undone: no longer a follower.
        body, headers = mastodon.signed(f"{base}/inbox", mastodon.undo(follow))
        assert await asyncio.to_thread(mastodon.post, f"{base}/inbox", body, headers) == 202
        assert (await asyncio.to_thread(get, actor["followers"]))[1]["totalItems"] == 0

        # What the servers of the fediverse ask of each other.
        status, links = await asyncio.to_thread(
            get, f"{base}/.well-known/nodeinfo", "application/json"
        )
        assert status == 200
        status, info = await asyncio.to_thread(get, links["links"][0]["href"], "application/json")
        assert info["protocols"] == ["activitypub"]
        assert info["usage"]["users"]["total"] == 2
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_federation_without_a_public_address_is_refused_at_start(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "FEEDS_BASE_URL"}
    ran = subprocess.run(
        [sys.executable, "-m", "feeds.cli", "serve", "--port", "1"],
        env={**env, "FEEDS_FEDERATION": "on", "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert ran.returncode == 2
    assert "FEEDS_FEDERATION=on needs FEEDS_BASE_URL" in ran.stderr


TOKEN = "fediverse-admin-token"
MONTHS = ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September",
          "Oktober", "November", "Dezember"]  # fmt: skip


def german_day(day: str) -> str:
    """ "20261214" as a German reader writes it: "14. Dezember 2026"."""
    return f"{int(day[6:])}. {MONTHS[int(day[4:6]) - 1]} {day[:4]}"


class Website:
    """A group's site: its feed and its calendar, as the test changes them."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, str]] = []  # (id, title)
        self.published = format_datetime(datetime.now(UTC) - timedelta(hours=1))
        self.event_title = "Rock Rising"
        self.event_hour = 20
        self.cancelled = False
        self.listed = False  # the event is in the calendar
        self.day = (datetime.now(UTC) + timedelta(days=9)).strftime("%Y%m%d")

    def feed(self) -> bytes:
        items = "".join(
            f"<item><title>{title}</title><link>https://seestadt.example/{n}/</link>"
            f"<guid>https://seestadt.example/?p={n}</guid>"
            f"<pubDate>{self.published}</pubDate>"
            f"<description>Mehr dazu auf unserer Website.</description></item>"
            for n, title in self.posts
        )
        return (
            '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
            "<title>Bürgerstiftung Seestadt</title><link>https://seestadt.example/</link>"
            f"<description>x</description>{items}</channel></rss>"
        ).encode()

    def calendar(self) -> bytes:
        if not self.listed:
            return b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Seestadt//DE\r\nEND:VCALENDAR\r\n"
        lines = [
            "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Seestadt//DE",
            "BEGIN:VEVENT", "UID:rock-rising@seestadt.example", "DTSTAMP:20260101T000000Z",
            f"DTSTART;TZID=Europe/Berlin:{self.day}T{self.event_hour:02d}0000",
            f"DTEND;TZID=Europe/Berlin:{self.day}T2359000",
            f"SUMMARY:{self.event_title}",
            "LOCATION:Kammgarn\\, Schoenstraße 10\\, Kaiserslautern",
            *(["STATUS:CANCELLED"] if self.cancelled else []),
            "END:VEVENT", "END:VCALENDAR",
        ]  # fmt: skip
        return ("\r\n".join(lines) + "\r\n").encode()

    def serve(self, upstream: Upstream) -> None:
        async def feed(request: web.Request) -> web.Response:
            return web.Response(body=self.feed(), content_type="application/rss+xml")

        async def calendar(request: web.Request) -> web.Response:
            return web.Response(body=self.calendar(), content_type="text/calendar")

        upstream.add("/feed/", feed)
        upstream.add("/termine.ics", calendar)


GROUP = """[network]
name = "Engagierte Stadt"

[[sites]]
slug = "seestadt"
name = "Bürgerstiftung Seestadt"

[[sites.sources]]
name = "news"
kind = "feed"
url = "{upstream}/feed/"

[[sites.sources]]
name = "termine"
kind = "ical"
url = "{upstream}/termine.ics"
"""


def harvest_now(base: str) -> None:
    request = urllib.request.Request(
        f"{base}/admin/harvest?site=seestadt", method="POST",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=60) as response:
        assert all(o["status"] == "ok" for o in json.loads(response.read()))


async def start(*args: str, config: Path, database: str, port: int | None = None,
                base_port: int) -> subprocess.Popen[bytes]:  # fmt: skip
    env = {**os.environ, **LOCAL_ENV, "DATABASE_URL": database, "FEEDS_FEDERATION": "on",
           "FEEDS_BASE_URL": f"http://127.0.0.1:{base_port}",
           "FEEDS_ADMIN_TOKEN": TOKEN}  # fmt: skip
    listen = ["--port", str(port)] if port else []
    return await asyncio.to_thread(
        subprocess.Popen,
        [sys.executable, "-m", "feeds.cli", *args, *listen, "--config", str(config)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


async def follow(mastodon: Mastodon, base: str, name: str) -> dict[str, Any]:
    status, actor = await asyncio.to_thread(get, f"{base}/{name}/actor")
    assert status == 200
    activity = mastodon.follow(actor["id"])
    body, headers = mastodon.signed(actor["inbox"], activity)
    assert await asyncio.to_thread(mastodon.post, actor["inbox"], body, headers) == 202
    await until(lambda: any(r.activity["object"] == activity for r in mastodon.of_type("Accept")))
    return activity


async def test_followers_get_what_the_group_publishes(
    mastodon: Mastodon, upstream: Upstream, tmp_path: Path
) -> None:
    website = Website()
    website.serve(upstream)
    config = tmp_path / "sites.toml"
    config.write_text(GROUP.format(upstream=upstream.base), encoding="utf-8")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    database = f"sqlite:///{tmp_path / 'f.sqlite3'}"
    process = await start("serve", config=config, database=database, port=port, base_port=port)
    try:
        await until(lambda: up(base), 30)
        followed = await follow(mastodon, base, "seestadt")
        mastodon.received.clear()

        # A new post and a new event: one Create each, signed, at the server's shared inbox.
        website.posts.append(("1", "Neue Bänke am Seeufer"))
        website.listed = True
        await asyncio.to_thread(harvest_now, base)
        await until(lambda: len(mastodon.of_type("Create")) == 2, 20)
        creates = {r.activity["object"]["type"]: r for r in mastodon.of_type("Create")}
        assert all(r.verified and r.path == "/inbox" for r in creates.values())
        note = creates["Note"].activity["object"]
        assert "summary" not in note  # Mastodon would hide the post behind it
        assert "Neue Bänke am Seeufer" in note["content"]
        assert "https://seestadt.example/1/" in note["content"]
        assert note["to"] == ["https://www.w3.org/ns/activitystreams#Public"]
        assert note["cc"] == [f"{base}/seestadt/followers"]
        event = creates["Event"].activity["object"]
        assert event["name"] == "Rock Rising"
        assert (
            "Dezember 2026, 20:00–23:59 Uhr" in event["summary"]
            or "2026, 20:00–23:59 Uhr" in event["summary"]
        )
        assert "Kammgarn, Schoenstraße 10, Kaiserslautern" in event["summary"]
        assert event["startTime"].endswith("+01:00")
        assert event["location"]["type"] == "Place"
        # Every object is at its id, the same; the outbox lists them; the pages name them,
        # so that an address pasted into Mastodon's search finds the account or the post.
        for sent in (note, event):
            assert (await asyncio.to_thread(get, sent["id"]))[1] == sent
        box = (await asyncio.to_thread(get, f"{base}/seestadt/outbox"))[1]
        assert box["type"] == "OrderedCollection"
        assert box["totalItems"] == 2
        page = (await asyncio.to_thread(get, box["first"]))[1]
        assert {a["object"]["id"] for a in page["orderedItems"]} == {note["id"], event["id"]}
        alternate = '<link rel="alternate" type="application/activity+json" href="{}">'
        group_page = await asyncio.to_thread(text_of, f"{base}/seestadt/")
        assert alternate.format(f"{base}/seestadt/actor") in group_page
        event_page = await asyncio.to_thread(text_of, event["url"])
        assert alternate.format(event["id"]) in event_page
        # A browser sent to an object's or the actor's address gets the page instead.
        as_browser = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
        shown = await asyncio.to_thread(
            urllib.request.urlopen, urllib.request.Request(event["id"], headers=as_browser)
        )
        assert shown.url == event["url"]
        assert shown.read().startswith(b"<!DOCTYPE html>")

        # Nothing changed upstream: nothing is sent.
        await asyncio.to_thread(harvest_now, base)
        await asyncio.sleep(2)
        assert len(mastodon.received) == 2

        # The event moved: an Update.
        website.event_hour = 19
        await asyncio.to_thread(harvest_now, base)
        await until(lambda: len(mastodon.of_type("Update")) == 1, 20)
        [update] = mastodon.of_type("Update")
        assert update.verified
        assert "19:00–23:59 Uhr" in update.activity["object"]["summary"]

        # Cancelled: an Update, and a Note saying so (Mastodon ignores Updates of events).
        website.cancelled = True
        await asyncio.to_thread(harvest_now, base)
        await until(lambda: len(mastodon.of_type("Update")) == 2, 20)
        await until(lambda: len(mastodon.of_type("Create")) == 3, 20)
        cancelled = mastodon.of_type("Create")[-1].activity["object"]
        assert cancelled["type"] == "Note"
        assert cancelled["content"].startswith("<p>ABGESAGT: Rock Rising am ")

        # The office hides the post: a Delete.
        hid = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "feeds.cli", "hide", note["id"]],
            env={**os.environ, "DATABASE_URL": database}, capture_output=True, text=True,
            check=False,
        )  # fmt: skip
        assert hid.returncode == 0, hid.stderr
        await until(lambda: len(mastodon.of_type("Delete")) == 1, 20)
        [delete] = mastodon.of_type("Delete")
        assert delete.verified
        assert delete.activity["object"]["id"] == note["id"]
        assert (await asyncio.to_thread(get, note["id"]))[0] == 410
        assert all(r.verified for r in mastodon.received)
        # Each once.
        ids = [r.activity["id"] for r in mastodon.received]
        assert len(ids) == len(set(ids))

        # Anna unfollows: what the group publishes next reaches her no more.
        body, headers = mastodon.signed(f"{base}/inbox", mastodon.undo(followed))
        assert await asyncio.to_thread(mastodon.post, f"{base}/inbox", body, headers) == 202
        told = len(mastodon.received)
        website.posts.append(("2", "Sommerfest am See"))
        await asyncio.to_thread(harvest_now, base)
        await asyncio.sleep(3)
        assert len(mastodon.received) == told
        assert "Sommerfest am See" in await asyncio.to_thread(text_of, f"{base}/seestadt/")
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_two_instances_and_two_workers_deliver_each_activity_once(
    mastodon: Mastodon, upstream: Upstream, tmp_path: Path, postgres_url: str
) -> None:
    """On PostgreSQL, as a network scales out: two web instances behind one address and
    two harvest workers, all planning and delivering at once."""
    website = Website()
    website.serve(upstream)
    config = tmp_path / "sites.toml"
    config.write_text(GROUP.format(upstream=upstream.base), encoding="utf-8")
    port_a, port_b = free_port(), free_port()
    a, b = f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"
    common = {"config": config, "database": postgres_url, "base_port": port_a}
    processes = [
        await start("serve", "--no-harvest", port=port_a, **common),  # type: ignore[arg-type]
        await start("serve", "--no-harvest", port=port_b, **common),  # type: ignore[arg-type]
        await start("harvest", "--forever", **common),  # type: ignore[arg-type]
        await start("harvest", "--forever", **common),  # type: ignore[arg-type]
    ]
    try:
        await until(lambda: up(a) and up(b), 30)
        # Anna follows the group through one instance, the network through the other.
        await follow(mastodon, a, "seestadt")
        network = (await asyncio.to_thread(get, f"{a}/network/actor"))[1]
        activity = mastodon.follow(network["id"])
        inbox_b = network["inbox"].replace(a, b)
        body, headers = mastodon.signed(inbox_b, activity)
        assert await asyncio.to_thread(mastodon.post, inbox_b, body, headers) == 202
        await until(lambda: len(mastodon.of_type("Accept")) == 2, 30)
        mastodon.received.clear()

        website.posts.append(("7", "Lesepaten gesucht"))
        await asyncio.to_thread(harvest_now, a)  # harvested in instance A; planned elsewhere
        await until(lambda: len(mastodon.of_type("Announce")) == 1, 30)
        await until(lambda: len(mastodon.of_type("Create")) >= 1, 30)
        await asyncio.sleep(6)  # every process has had its round
        kinds = sorted(r.activity["type"] for r in mastodon.received)
        assert kinds == ["Announce", "Create"]
        [announce] = mastodon.of_type("Announce")
        [create] = mastodon.of_type("Create")
        assert announce.verified
        assert create.verified
        assert announce.activity["actor"] == network["id"]
        assert announce.activity["object"] == create.activity["object"]["id"]
        # The boosted post is at its id, for the server that shows the boost.
        assert (await asyncio.to_thread(get, announce.activity["object"]))[0] == 200
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=10)


async def test_an_inbox_that_was_down_gets_its_deliveries_later_signed_afresh(
    mastodon: Mastodon, store_url: str
) -> None:
    from feeds.federation.service import federation
    from feeds.model import Network, Post, Site, SourceConfig, Validators
    from feeds.store import Follower, open_store
    from sources.outbound import Outbound

    store = await open_store(store_url)
    feed = SourceConfig(name="news", kind="feed", options=(("url", "https://s.example/f"),))
    network = Network(name="N", sites=(Site(slug="seestadt", name="Seestadt", sources=(feed,)),))
    fed = federation(store, lambda: network, "http://127.0.0.1:9", Outbound.allowing(["127.0.0.1"]),
                     "test", "w")  # fmt: skip
    fed.deliverer.retry_first = timedelta(seconds=1)
    try:
        now = datetime.now(UTC)
        await fed.deliverer.round()  # the first plan: from here on
        # No service runs to fetch the key from: the server knows it.
        key = await fed.keys.of("seestadt", now)
        mastodon.known[fed.urls.key_id("seestadt")] = key.public_key
        await store.follow(Follower("seestadt", mastodon.actor, f"{mastodon.actor}/inbox",
                                    f"{mastodon.base}/inbox"), now)  # fmt: skip
        post = Post(site="seestadt", source="news", external_id="1", title="Hallo",
                    published=now)  # fmt: skip
        await store.save_batch("seestadt", "news", [post], [], Validators(), now)
        mastodon.down = True
        assert await fed.deliverer.round() == 0
        assert len(mastodon.refused) == 1
        await asyncio.sleep(1.2)
        assert await fed.deliverer.round() == 0  # down still: tried again, later
        assert len(mastodon.refused) == 2
        mastodon.down = False
        await asyncio.sleep(3)  # the second wait is twice the first
        assert await fed.deliverer.round() == 1
        [received] = mastodon.received
        assert received.activity["type"] == "Create"
        assert received.verified  # signed at the try that got through
        assert received.date not in mastodon.refused
        assert await fed.deliverer.round() == 0  # and once only
    finally:
        await fed.remote.close()
        await store.close()
