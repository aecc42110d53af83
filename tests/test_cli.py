"""The commands as an operator runs them, in real processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import feedparser
import icalendar
import pytest

from tests.helpers import LOCAL_ENV

# What the Kaiserslautern demo lists (demo/kaiserslautern/events).
DEMO_EVENTS = (
    "Demokratie-Café",
    "Repair-Café im Stadtteilbüro",
    "Rock Rising",
    "Stadtrundgang „Engagiert in Kaiserslautern“",
    "Stammtisch der Engagierten",
)


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "feeds.cli", *args],
        env={**os.environ, **LOCAL_ENV, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serving(env: dict[str, str], *args: str) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "feeds.cli", "serve", "--port", str(port), *args],
        env={**os.environ, **LOCAL_ENV, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=1):
                    break
            except OSError:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                time.sleep(0.05)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as response:
        body: bytes = response.read()
        return body


def test_check_accepts_the_demo_and_names_a_mistake(demo_dir: Path) -> None:
    env = {"FEEDS_CONFIG": str(demo_dir / "sites.toml")}
    ok = run("check", env=env)
    assert ok.returncode == 0
    assert "ok, 2 sites, 2 sources" in ok.stdout
    config = demo_dir / "sites.toml"
    config.write_text(config.read_text().replace('kind = "files"', 'kind = "filez"', 1))
    bad = run("check", str(config), env={})
    assert bad.returncode == 2
    assert f"{config}:18: sites[0].sources[0].kind: unknown source kind 'filez'" in bad.stderr


def test_harvest_then_a_restarted_server_keeps_every_item(demo_dir: Path, tmp_path: Path) -> None:
    env = {
        "FEEDS_CONFIG": str(demo_dir / "sites.toml"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'kept.sqlite3'}",
    }
    harvest = run("harvest", env=env)
    assert harvest.returncode == 0, harvest.stderr
    assert "kaiserslautern/demo: ok: 7 new, 0 changed" in harvest.stdout
    # The sources vanish; a server that does not harvest must still serve what was kept.
    (demo_dir / "demo" / "kaiserslautern" / "events" / "rock-rising.md").unlink()
    for _ in range(2):
        with serving(env, "--no-harvest") as base:
            calendar = icalendar.Calendar.from_ical(fetch(f"{base}/kaiserslautern/events.ics"))
            titles = sorted(str(e["SUMMARY"]) for e in calendar.walk("VEVENT"))
            assert titles == sorted(DEMO_EVENTS)
            news = feedparser.parse(fetch(f"{base}/network/news.atom"))
            assert len(news.entries) == 3
    # Harvesting again after the file is gone keeps the event too (nothing is deleted).
    assert run("harvest", env=env).returncode == 0
    with serving(env, "--no-harvest") as base:
        calendar = icalendar.Calendar.from_ical(fetch(f"{base}/kaiserslautern/events.ics"))
        assert "Rock Rising" in [str(e["SUMMARY"]) for e in calendar.walk("VEVENT")]


def test_a_broken_config_stops_serve_with_a_clear_message(tmp_path: Path) -> None:
    config = tmp_path / "sites.toml"
    config.write_text("[[sites]]\nslug = 'x'\n")
    result = run("serve", env={"FEEDS_CONFIG": str(config)})
    assert result.returncode == 2
    assert f"{config}:1: sites[0].name: expected a non-empty string" in result.stderr


def children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def test_serve_with_two_workers_shares_the_port_and_restarts_one_that_dies(
    demo_dir: Path, tmp_path: Path
) -> None:
    if not Path("/proc/self/stat").exists():
        pytest.skip("needs /proc to see the worker processes")
    port = free_port()
    env = {
        **os.environ,
        "FEEDS_CONFIG": str(demo_dir / "sites.toml"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'feeds.sqlite3'}",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "feeds.cli", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while len(children(process.pid) - {process.pid}) < 2 or not _up(base):
            assert time.monotonic() < deadline, "the workers did not come up"
            time.sleep(0.1)
        workers = children(process.pid)
        # The demo is harvested by one of them; the other learns of it from the store
        # (SQLite: polled every 2 s); then both answer with it on the one port.
        streak = 0
        while streak < 20:
            assert time.monotonic() < deadline, "not every process serves the harvest"
            shown = b"Rock Rising" in fetch(f"{base}/kaiserslautern/events.ics")
            streak = streak + 1 if shown else 0
            time.sleep(0.02)
        counted = fetch(f"{base}/metrics").decode()
        assert 'feeds_http_requests_total{route="/{site}/events.ics",status="200"}' in counted
        # One dies: another takes its place.
        victim = sorted(workers)[1]
        os.kill(victim, 9)
        while not (len(children(process.pid)) == 2 and victim not in children(process.pid)):
            assert time.monotonic() < deadline + 30, "the dead worker was not replaced"
            time.sleep(0.1)
        while not _up(base):
            time.sleep(0.1)
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0
    assert children(process.pid) == set()


def _up(base: str) -> bool:
    try:
        fetch(f"{base}/healthz")
    except OSError:
        return False
    return True
