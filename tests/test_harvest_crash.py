"""A harvest killed with SIGKILL in the middle of a batch leaves the store whole."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from feeds.store import ItemQuery, open_store

CHILD = """
import asyncio, sys
from datetime import UTC, datetime
from feeds.model import Post
from feeds.store import open_store
from sources.base import Validators

async def main(url, count, tag):
    store = await open_store(url)
    posts = [
        Post(site="ks", source="big", external_id=f"p{n}", title=f"{tag} {n}",
             content_html="<p>" + "x" * 500 + "</p>")
        for n in range(count)
    ]
    print("begin", flush=True)
    await store.save_batch("ks", "big", posts, [], Validators(etag=tag), datetime.now(UTC))
    print("done", flush=True)
    await store.close()

asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
"""


def run_child(url: str, count: int, tag: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, url, str(count), tag],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)},
    )


def harvest_killed_mid_batch(url: str, path: Path) -> None:
    """A first batch of 1000 completes; a second of 151,000 is killed while being written."""
    first = run_child(url, 1000, "first")
    assert first.wait(timeout=60) == 0
    second = run_child(url, 151_000, "second")
    assert second.stdout is not None
    assert second.stdout.readline().strip() == "begin"
    wal = Path(f"{path}-wal")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not wal.exists() or wal.stat().st_size < 4_000_000):
        time.sleep(0.01)
    assert wal.stat().st_size >= 4_000_000, "the batch never got going"
    os.kill(second.pid, signal.SIGKILL)
    second.wait(timeout=10)
    assert second.returncode == -signal.SIGKILL
    assert "done" not in second.stdout.read()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


async def test_sigkill_mid_batch_leaves_the_last_whole_batch(tmp_path: Path) -> None:
    path = tmp_path / "feeds.sqlite3"
    url = f"sqlite:///{path}"
    await asyncio.to_thread(harvest_killed_mid_batch, url, path)
    store = await open_store(url)
    try:
        posts = await store.posts(ItemQuery())
        assert len(posts) == 1000
        assert {p.item.title.split()[0] for p in posts} == {"first"}
        assert (await store.source_state("ks", "big")).validators.etag == "first"
        assert await store.revision() == 1000
    finally:
        await store.close()
    # And the next harvest completes on the recovered file.
    third = run_child(url, 1200, "third")
    assert await asyncio.to_thread(third.wait, 120) == 0
    store = await open_store(url)
    try:
        assert len(await store.posts(ItemQuery())) == 1200
        assert await store.revision() == 2200
    finally:
        await store.close()
