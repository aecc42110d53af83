"""The office edits sites.toml while `feeds serve` runs: a group it adds is served and
harvested within seconds, one it removes is gone, a broken edit is logged and changes
nothing, and SIGHUP reads the file at once. No request fails meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import feedparser

from feeds.config import Config, load_config
from feeds.harvest import Harvester
from feeds.model import Network
from feeds.store import ItemQuery, open_store
from tests.helpers import LOCAL, LOCAL_ENV

NEW_GROUP = """
[[sites]]
slug = "zweitstadt"
name = "Bürgernetz Zweitstadt"
region = "Sachsen"

[[sites.sources]]
name = "demo"
kind = "files"
path = "demo/musterstadt"
"""


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def text_of(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        body: bytes = response.read()
        return body.decode()


def within(seconds: float, condition: Callable[[], bool]) -> float:
    """How long `condition` took to hold; fails after `seconds`."""
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < seconds, f"not within {seconds} s"
        time.sleep(0.2)
    return time.monotonic() - start


def test_a_changed_configuration_is_in_force_without_a_restart(
    demo_dir: Path, tmp_path: Path
) -> None:
    config = demo_dir / "sites.toml"
    original = config.read_text(encoding="utf-8")
    log = tmp_path / "serve.log"
    port = free_port()
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "feeds.cli", "serve", "--port", str(port), "--config",
             str(config)],
            env={**os.environ, **LOCAL_ENV, "DATABASE_URL": f"sqlite:///{tmp_path / 'f.db'}"},
            stdout=subprocess.DEVNULL,
            stderr=log_file,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        failed: list[str] = []
        stop = threading.Event()
        polling = threading.Thread(target=lambda: reader())

        def reader() -> None:  # a subscriber polling all along
            while not stop.is_set():
                try:
                    if status_of(f"{base}/kaiserslautern/news.atom") != 200:
                        failed.append("status")
                except OSError as exc:
                    failed.append(str(exc))
                time.sleep(0.05)

        try:
            within(30, lambda: _up(base))
            assert status_of(f"{base}/zweitstadt/") == 404
            polling.start()

            config.write_text(original + NEW_GROUP, encoding="utf-8")
            took = within(30, lambda: status_of(f"{base}/zweitstadt/") == 200)
            assert took < 30
            # Harvested too, and listed where the network lists its groups.
            news = f"{base}/zweitstadt/news.atom"
            within(30, lambda: len(feedparser.parse(text_of(news)).entries) > 0)
            assert "Bürgernetz Zweitstadt" in text_of(f"{base}/")
            assert "zweitstadt" in text_of(f"{base}/opml")

            # A broken edit: logged in words, the running configuration kept.
            config.write_text(original + NEW_GROUP.replace("region", "regoin"), encoding="utf-8")
            within(30, lambda: "does not load" in log.read_text(encoding="utf-8"))
            assert "sites[2].regoin: unknown key (did you mean 'region'?)" in log.read_text()
            assert status_of(f"{base}/zweitstadt/") == 200

            # A group removed, read at once on SIGHUP.
            without = original.split("# A made-up second group")[0] + NEW_GROUP
            config.write_text(without, encoding="utf-8")
            process.send_signal(signal.SIGHUP)
            assert within(3, lambda: status_of(f"{base}/musterstadt/") == 404) < 3
            assert "removed musterstadt" in log.read_text(encoding="utf-8")
            assert "Engagierte Stadt Musterstadt" not in text_of(f"{base}/")
            assert status_of(f"{base}/zweitstadt/") == 200
        finally:
            stop.set()
            if polling.is_alive():
                polling.join()
            process.terminate()
            process.wait(timeout=10)
    assert failed == []


def _up(base: str) -> bool:
    try:
        return status_of(f"{base}/healthz") == 200
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_a_mended_source_is_read_at_once_with_its_new_settings(
    demo_dir: Path, database_url: str
) -> None:
    """The office fixes a group's address: the harvester reads it at once, and the new
    interval is the one it keeps to."""
    path = demo_dir / "sites.toml"
    before = load_config(path)
    store = await open_store(database_url)
    harvester = Harvester(store, before.network, before.sources, outbound=LOCAL)
    running = asyncio.create_task(harvester.run_forever())
    try:
        await until(lambda: len(harvester.due) == 2)  # both read once
        ours = {e.item.title for e in await store.events(ItemQuery(sites=["kaiserslautern"]))}
        text = path.read_text(encoding="utf-8")
        mended = text.replace('path = "demo/musterstadt"\ninterval = "15m"',
                              'path = "demo/kaiserslautern"\ninterval = "20m"')  # fmt: skip
        assert mended != text
        path.write_text(mended, encoding="utf-8")
        after = load_config(path)
        harvester.apply(after.network, after.sources)
        theirs: set[str] = set()

        async def read_again() -> bool:
            nonlocal theirs
            found = await store.events(ItemQuery(sites=["musterstadt"]))
            theirs = {e.item.title for e in found}
            return ours <= theirs

        await until(read_again)  # not in 15 minutes: now
        assert harvester.intervals["musterstadt", "demo"] == timedelta(minutes=20)
        assert len(harvester.due) == 2
        # A group taken out: its loop ends, nothing of it is due any more.
        without = Config(
            Network(name="N", sites=after.network.sites[:1]),
            {k: v for k, v in after.sources.items() if k[0] == "kaiserslautern"},
        )
        harvester.apply(without.network, without.sources)
        assert list(harvester.due) == [("kaiserslautern", "demo")]
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await store.close()


async def until(condition: Callable[[], object], seconds: float = 20.0) -> None:
    start = time.monotonic()
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        assert time.monotonic() - start < seconds, f"not within {seconds} s"
        await asyncio.sleep(0.1)
