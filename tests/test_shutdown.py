"""SIGTERM stops `feeds harvest --forever` and `feeds serve` within 10 s, whatever they are
working on (issue 18: a `feeds serve` expanding a hostile rule ran on for twenty minutes).

Platforms stop processes with SIGTERM and kill them a few seconds later; a worker that
does not stop in time is killed mid-write, and a deploy waits for it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web

from feeds.model import Event
from feeds.store import open_store
from sources.base import Validators
from tests.helpers import LOCAL_ENV, synthetic_calendar
from tests.upstream import Upstream


def config(path: Path, url: str) -> Path:
    file = path / "sites.toml"
    file.write_text(
        '[network]\nname = "N"\n\n[[sites]]\nslug = "big"\nname = "Gross"\n\n'
        f'[[sites.sources]]\nname = "cal"\nkind = "ical"\nurl = "{url}"\n',
        encoding="utf-8",
    )
    return file


def start(*args: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "feeds.cli", *args],
        env={**os.environ, **LOCAL_ENV, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def stopped_within(process: subprocess.Popen[bytes], seconds: float) -> float:
    began = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail(f"still running {seconds} s after SIGTERM")
    return time.monotonic() - began


@pytest.mark.parametrize(
    ("events", "after"),
    [(3, 0.2), (45_000, 1.0)],
    ids=["while its parse workers start", "mid-parse"],
)
async def test_a_harvest_worker_stops_mid_parse(
    upstream: Upstream, tmp_path: Path, events: int, after: float
) -> None:
    body = synthetic_calendar(events)
    asked = asyncio.Event()

    async def calendar(request: web.Request) -> web.Response:
        asked.set()
        return web.Response(body=body, content_type="text/calendar")

    upstream.add("/termine.ics", calendar)
    env = {
        "FEEDS_CONFIG": str(config(tmp_path, upstream.base + "/termine.ics")),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'feeds.sqlite3'}",
    }
    worker = start("harvest", "--forever", env=env)
    await asyncio.wait_for(asked.wait(), 30)
    # Its parse workers are starting (half a second), or one of them reads 45,000 events.
    await asyncio.sleep(after)
    took = await asyncio.to_thread(stopped_within, worker, 10)
    assert worker.returncode == 0, worker.stderr.read() if worker.stderr else b""
    assert took < 10


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_a_server_stops_mid_render(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'feeds.sqlite3'}"
    store = await open_store(database_url)
    first = datetime(2020, 1, 6, 19, tzinfo=ZoneInfo("Europe/Berlin"))
    events = [
        Event(
            site="big",
            source="cal",
            external_id=f"e{n}",
            title=f"Treffen {n}",
            start=first + timedelta(days=n),
            description="Beschreibung " * 20,
        )
        for n in range(6000)
    ]
    await store.save_batch("big", "cal", [], events, Validators(), datetime.now(UTC))
    await store.close()
    port = free_port()
    env = {
        "FEEDS_CONFIG": str(config(tmp_path, "https://example.org/termine.ics")),
        "DATABASE_URL": database_url,
    }
    server = start("serve", "--port", str(port), "--no-harvest", env=env)
    try:
        writer = None
        for _ in range(200):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                break
            except OSError:
                await asyncio.sleep(0.05)
        assert writer is not None
        # 6,000 events: a render of seconds; SIGTERM comes while it runs.
        writer.write(
            b"GET /network/events.ics?from=2000-01-01 HTTP/1.1\r\n"
            b"Host: x\r\nConnection: close\r\n\r\n"
        )
        await writer.drain()
        await asyncio.sleep(0.3)
        took = await asyncio.to_thread(stopped_within, server, 10)
        writer.close()
    finally:
        if server.poll() is None:
            server.kill()
    assert took < 10
