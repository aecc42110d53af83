"""A group is told when its website breaks, once, in German, and once more when it is
read again: `feeds serve` with `[alerts]`, a group's website that starts failing, and a
real SMTP server (aiosmtpd) receiving what the group's contact would read."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from feeds.alerts import EVERY_SECONDS, Episode, candidates, due, explain
from feeds.config import Alerts
from feeds.model import Network, Site, SourceConfig
from feeds.store import SourceState
from tests.helpers import LOCAL_ENV
from tests.smtp import Inbox
from tests.upstream import Upstream

TOKEN = "s3cret-admin-token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def text_of(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        body: bytes = response.read()
        return body.decode()


def admin_harvest(base: str) -> Any:
    request = urllib.request.Request(
        f"{base}/admin/harvest?site=seestadt",
        method="POST",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def failures(base: str) -> int:
    """How often in a row the group's calendar failed, as /status.json says."""
    [row] = [r for r in get_json(f"{base}/status.json")["sources"] if r["site"] == "seestadt"]
    return int(row["failures"])


async def until(condition: Any, seconds: float = 20.0) -> None:
    start = time.monotonic()
    while not await asyncio.to_thread(condition):
        assert time.monotonic() - start < seconds, "not within the time"
        await asyncio.sleep(0.2)


def write_config(tmp_path: Path, smtp_port: int, upstream: str) -> Path:
    config = tmp_path / "sites.toml"
    config.write_text(
        f"""[network]
name = "Engagierte Stadt"

[alerts]
smtp = "smtp://127.0.0.1:{smtp_port}"
from = "feeds@netzwerk.example"
office = "buero@netzwerk.example"

[[sites]]
slug = "seestadt"
name = "Bürgerstiftung Seestadt"
contact = ["team@seestadt.example", "vorstand@seestadt.example"]

[[sites.sources]]
name = "termine"
kind = "ical"
url = "{upstream}/kalender.ics"
""",
        encoding="utf-8",
    )
    return config


async def start(*args: str, config: Path, database: str) -> subprocess.Popen[bytes]:
    """`feeds …` in a process of its own, as the service runs."""
    env = {
        **os.environ, **LOCAL_ENV, "FEEDS_ADMIN_TOKEN": TOKEN,
        "FEEDS_BASE_URL": "https://feeds.netzwerk.example", "DATABASE_URL": database,
    }  # fmt: skip
    return await asyncio.to_thread(
        subprocess.Popen,
        [sys.executable, "-m", "feeds.cli", *args, "--config", str(config)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def failing_calendar(upstream: Upstream) -> dict[str, bool]:
    """A group's calendar that answers 503 until `["up"]` is set."""
    state = {"up": False}

    async def calendar(request: web.Request) -> web.Response:
        if not state["up"]:
            return web.Response(status=503, text="Wartungsarbeiten")
        body, headers = upstream.recorded("ical/google.ics")
        return web.Response(body=body, headers=headers)

    upstream.add("/kalender.ics", calendar)
    return state


async def test_a_broken_source_is_told_once_and_its_recovery_once(
    upstream: Upstream, inbox: tuple[Inbox, int], tmp_path: Path
) -> None:
    received, smtp_port = inbox
    state = failing_calendar(upstream)
    config = write_config(tmp_path, smtp_port, upstream.base)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    database = f"sqlite:///{tmp_path / 'feeds.sqlite3'}"
    process = await start("serve", "--port", str(port), config=config, database=database)
    try:
        # Its first harvest, at start, fails; then the office's two more.
        await until(lambda: _up(base) and failures(base) == 1)
        await asyncio.to_thread(admin_harvest, base)
        await asyncio.sleep(1.5)  # the alerter looks after every harvest
        assert received.mails == []  # two failures: nobody is bothered yet
        await asyncio.to_thread(admin_harvest, base)
        await until(lambda: len(received.mails) == 1)
        recipients, mail = received.mails[0]
        assert recipients == ["team@seestadt.example", "vorstand@seestadt.example"]
        assert (
            mail["Subject"]
            == "Bürgerstiftung Seestadt: der Kalender kann nicht mehr gelesen werden"
        )
        assert mail["From"] == "feeds@netzwerk.example"
        text = mail.get_content()
        assert f"{upstream.base}/kalender.ics" in text
        assert "(3 Versuche nacheinander)" in text
        assert "Der Server Ihrer Website meldet einen Fehler (503)." in text
        assert "bleibt sichtbar" in text
        assert "Ihre Quellen: https://feeds.netzwerk.example/status?group=seestadt" in text
        assert "answered 503" in text  # the technical line, below

        # /status says the same to whoever looks, in words, the technical line folded.
        page = await asyncio.to_thread(text_of, f"{base}/status")
        assert "kann nicht gelesen werden" in page
        assert "Der Server Ihrer Website meldet einen Fehler (503)." in page
        assert "fehlgeschlagen (3-mal nacheinander)" in page
        assert "Die Gruppe wurde per Mail benachrichtigt." in page
        assert page.index("answered 503") > page.index("<summary>Technische Angaben")
        # The link in the mail: the group's own sources.
        own = await asyncio.to_thread(text_of, f"{base}/status?group=seestadt")
        assert "Zustand der Quellen von Bürgerstiftung Seestadt" in own
        assert "1 Quelle von 1 Gruppe," in own
        with pytest.raises(urllib.error.HTTPError) as refused:
            await asyncio.to_thread(text_of, f"{base}/status?group=nirgendwo")
        assert refused.value.code == 400

        # Failing on: nothing more.
        await asyncio.to_thread(admin_harvest, base)
        await asyncio.sleep(1.5)
        assert len(received.mails) == 1

        state["up"] = True
        [outcome] = await asyncio.to_thread(admin_harvest, base)
        assert outcome["status"] == "ok"
        await until(lambda: len(received.mails) == 2)
        recipients, mail = received.mails[1]
        assert mail["Subject"] == "Bürgerstiftung Seestadt: der Kalender wird wieder gelesen"
        assert "Sie müssen nichts weiter tun" in mail.get_content()
        await asyncio.sleep(1.5)
        assert len(received.mails) == 2
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_two_instances_and_a_worker_send_each_mail_once(
    upstream: Upstream, inbox: tuple[Inbox, int], tmp_path: Path, postgres_url: str
) -> None:
    """On PostgreSQL, two instances and a worker all harvest and all look for alerts
    (each after its harvests and every 30 s): each mail still goes out once."""
    received, smtp_port = inbox
    state = failing_calendar(upstream)
    config = write_config(tmp_path, smtp_port, upstream.base)
    ports = free_port(), free_port()
    one, two = (f"http://127.0.0.1:{port}" for port in ports)
    processes = [
        await start("serve", "--port", str(port), config=config, database=postgres_url)
        for port in ports
    ]
    processes.append(await start("harvest", "--forever", config=config, database=postgres_url))
    try:
        await until(lambda: _up(one) and _up(two) and failures(one) >= 1)
        while await asyncio.to_thread(failures, one) < 3:
            await asyncio.to_thread(admin_harvest, one)
        await until(lambda: len(received.mails) == 1)
        await asyncio.to_thread(admin_harvest, two)  # the other instance looks at once
        await asyncio.sleep(EVERY_SECONDS + 3)  # and the worker on its round
        assert [mail["Subject"] for _, mail in received.mails] == [
            "Bürgerstiftung Seestadt: der Kalender kann nicht mehr gelesen werden"
        ]
        state["up"] = True
        await asyncio.to_thread(admin_harvest, two)
        await until(lambda: len(received.mails) == 2)
        await asyncio.to_thread(admin_harvest, one)
        await asyncio.sleep(EVERY_SECONDS + 3)
        assert len(received.mails) == 2
        assert received.mails[1][1]["Subject"].endswith("wird wieder gelesen")
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=15)


def _up(base: str) -> bool:
    try:
        get_json(f"{base}/healthz")
        return True
    except OSError:
        return False


SEESTADT = Site(
    slug="seestadt",
    name="Bürgerstiftung Seestadt",
    sources=(SourceConfig(name="termine", kind="ical", options=(("url", "https://x/k.ics"),)),),
)
NOW = datetime(2026, 12, 5, 9, tzinfo=UTC)


def state(failures: int, since: datetime | None = NOW) -> SourceState:
    return SourceState(
        site="seestadt", source="termine", failures=failures, failing_since=since,
        last_error="https://x/k.ics: the server answered 404 Not Found", last_status=404,
    )  # fmt: skip


def test_who_is_told_and_when() -> None:
    alerts = Alerts("smtp://localhost", "feeds@n.example", ("buero@n.example",), after=3)
    network = Network(name="N", sites=(SEESTADT,))
    [episode] = [Episode(SEESTADT, SEESTADT.sources[0], state(3))]
    failing = episode.key("failing")
    assert candidates(alerts, [episode]) == [failing]
    [mail] = due(alerts, network, [episode], set(), None)
    # No contact of its own: the office is told.
    assert (mail.key, mail.recipients) == (failing, ("buero@n.example",))
    assert due(alerts, network, [episode], {failing}, None) == []  # told already
    two = Episode(SEESTADT, SEESTADT.sources[0], state(2))
    assert due(alerts, network, [two], set(), None) == []  # not yet
    recovered = Episode(SEESTADT, SEESTADT.sources[0], state(0))
    assert due(alerts, network, [recovered], set(), None) == []  # never told: nothing to end
    [mail] = due(alerts, network, [recovered], {failing}, None)
    assert mail.key == recovered.key("recovered")
    # A new run of failures is a new episode, told again.
    later = Episode(SEESTADT, SEESTADT.sources[0], state(3, NOW + timedelta(days=2)))
    assert later.key("failing") != failing


@pytest.mark.parametrize(
    ("error", "status", "words"),
    [
        ("x: cannot connect (connection refused on port 443: the site may only speak http)",
         None, "sichere Verbindung"),
        ("x: cannot connect (connection refused on port 80)", None, "nimmt keine Verbindung an"),
        ("x: the server answered 404 Not Found", 404, "gibt es nichts mehr"),
        ("x: the server answered 500", 500, "meldet einen Fehler (500)"),
        ("x: could not connect in time (the server is unreachable)", None, "nicht rechtzeitig"),
        ("x: not a readable calendar (an HTML page came)", 200, "kein Feed oder Kalender"),
        ("x: 'utf-16-be' codec can't decode byte 0xbe", None, "beschädigt"),
    ],
)  # fmt: skip
def test_errors_are_said_in_words_a_volunteer_understands(
    error: str, status: int | None, words: str
) -> None:
    problem, check = explain(error, status)
    assert words in problem
    assert "codec" not in problem + check
    assert check
