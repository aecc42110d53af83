"""A harvest costs one render of a popular view, however many processes serve it:
`feeds serve --workers 2` on one store renders the network's calendar once per store
revision, and the other process takes the bytes from the store (feeds/web/shared.py).
Counted from outside: /metrics of both processes (prometheus-client's multiprocess mode),
read with prometheus-client's own parser."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import icalendar
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.test_cli import children, free_port

FEEDS = str(Path(sys.executable).with_name("feeds"))
VIEW = "/network/events.ics"


def fetch(url: str) -> bytes:
    """On a connection of its own: the kernel hands each to either process."""
    with urllib.request.urlopen(url, timeout=30) as response:
        body: bytes = response.read()
        return body


def counted(base: str) -> tuple[int, int]:
    """Renders of the calendar view, and look-ups answered from another's render."""
    renders = shared = 0
    for family in text_string_to_metric_families(fetch(f"{base}/metrics").decode()):
        for sample in family.samples:
            if sample.name == "feeds_render_seconds_count" and sample.labels["view"] == "calendar":
                renders += int(sample.value)
            if sample.name == "feeds_render_cache_lookups_total" and (
                sample.labels["result"] == "shared"
            ):
                shared += int(sample.value)
    return renders, shared


def titles(body: bytes) -> set[str]:
    return {str(e["SUMMARY"]) for e in icalendar.Calendar.from_ical(body).walk("VEVENT")}


def test_a_harvest_costs_one_render_across_two_workers(demo_dir: Path, tmp_path: Path) -> None:
    if not Path("/proc/self/stat").exists():
        pytest.skip("needs /proc to see the worker processes")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "FEEDS_CONFIG": str(demo_dir / "sites.toml"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'feeds.sqlite3'}",
        "FEEDS_BASE_URL": base,  # renders are shared only under a fixed public address
    }
    subprocess.run([FEEDS, "harvest"], env=env, check=True, capture_output=True)
    server = subprocess.Popen(
        [FEEDS, "serve", "--port", str(port), "--workers", "2", "--no-harvest"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while len(children(server.pid)) < 2:
            assert time.monotonic() < deadline, "the workers did not come up"
            time.sleep(0.1)
        while True:
            try:
                fetch(f"{base}/healthz")
                break
            except OSError:
                assert time.monotonic() < deadline, "the service did not come up"
                time.sleep(0.1)
        before = titles(fetch(base + VIEW))
        shared = 0
        while shared == 0:  # until the other process (the later to listen) was asked too
            assert time.monotonic() < deadline, "the second process never answered"
            for _ in range(10):
                assert titles(fetch(base + VIEW)) == before
            renders, shared = counted(base)
            assert renders == 1  # one process rendered it; the other took its bytes
        # A group's new event, harvested by `feeds harvest` as cron would run it.
        (demo_dir / "demo" / "musterstadt" / "events" / "neu.md").write_text(
            "---\nid: neu\ntitle: Neues Treffen\nstart: +3d 18:00\n---\nText\n", encoding="utf-8"
        )
        subprocess.run([FEEDS, "harvest"], env=env, check=True, capture_output=True)
        streak = 0
        while streak < 30:  # both processes serve it (each polls the store's revision)
            assert time.monotonic() < deadline + 30, "not every process serves the change"
            streak = streak + 1 if "Neues Treffen" in titles(fetch(base + VIEW)) else 0
        renders, _ = counted(base)
        assert renders == 2  # one render for the harvest, not one per process
    finally:
        server.terminate()
        assert server.wait(timeout=30) == 0
