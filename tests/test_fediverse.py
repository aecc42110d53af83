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
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from Crypto.PublicKey import RSA

from tests.fediverse import ACTIVITY, Mastodon
from tests.helpers import LOCAL_ENV
from tests.test_alerts import free_port, until

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
