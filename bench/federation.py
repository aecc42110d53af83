"""Delivering one new post to the followers of a group on N servers: the plan (which
activity to which server, once), a signature per delivery and the POSTs, against a bare
aiohttp client POSTing the same body to the same N inboxes with the same concurrency.

The remote servers are one local aiohttp server with N inboxes that answer 202 at once:
what is measured is the service's own cost per delivery, not a network's latency.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from aiohttp import web

from feeds.federation.delivery import SENDERS
from feeds.federation.service import federation
from feeds.model import Network, Post, Site, SourceConfig, Validators
from feeds.store import Follower, open_store
from sources.outbound import Outbound

SERVERS = (50, 200)


async def _inboxes() -> tuple[web.AppRunner, str]:
    async def inbox(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=202)

    app = web.Application()
    app.router.add_post("/{server}/inbox", inbox)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


async def _bare(base: str, servers: int, body: bytes) -> float:
    """The same POSTs, unsigned, from a plain client: the floor."""
    queue = [f"{base}/s{n}/inbox" for n in range(servers)]
    async with aiohttp.ClientSession() as session:

        async def drain() -> None:
            while queue:
                async with session.post(queue.pop(), data=body) as response:
                    await response.read()

        start = time.perf_counter()
        await asyncio.gather(*(drain() for _ in range(SENDERS)))
        return time.perf_counter() - start


async def _ours(base: str, servers: int, folder: Path) -> tuple[float, int, int]:
    store = await open_store(f"sqlite:///{folder / f'fed{servers}.sqlite3'}")
    feed = SourceConfig(name="news", kind="feed", options=(("url", "https://s.example/f"),))
    network = Network(name="N", sites=(Site(slug="seestadt", name="Seestadt", sources=(feed,)),))
    fed = federation(store, lambda: network, "https://feeds.example",
                     Outbound.allowing(["127.0.0.1"]), "bench", "bench")  # fmt: skip
    try:
        now = datetime.now(UTC)
        await fed.deliverer.round()  # the first plan: the cursor starts here
        await fed.keys.of("seestadt", now)  # made once, before the clock runs
        for n in range(servers):
            inbox = f"{base}/s{n}/inbox"
            await store.follow(Follower("seestadt", f"{base}/s{n}/anna", inbox), now)
        post = Post(site="seestadt", source="news", external_id="1", title="Neue Bänke am See",
                    summary="Dank vieler Helfer stehen am Seeufer neue Bänke." * 3,
                    url="https://seestadt.example/1/", published=now)  # fmt: skip
        await store.save_batch("seestadt", "news", [post], [], Validators(), now)
        start = time.perf_counter()
        sent = await fed.deliverer.round()
        took = time.perf_counter() - start
        body = len(post.title) + 2000  # about what an activity weighs
        return took, sent, body
    finally:
        await fed.remote.close()
        await store.close()


async def _run() -> None:
    runner, base = await _inboxes()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            print("\nDelivering one new post to a group's followers on N servers (SQLite store)")
            print(f"{'servers':>8} {'ours':>9} {'bare':>9} {'ratio':>6} {'per delivery':>13}")
            for servers in SERVERS:
                took, sent, size = await _ours(base, servers, Path(tmp))
                assert sent == servers, (sent, servers)
                bare = min([await _bare(base, servers, b"x" * size) for _ in range(3)])
                print(f"{servers:>8} {took * 1000:>7.0f}ms {bare * 1000:>7.0f}ms"
                      f" {took / bare:>5.1f}x {took / servers * 1000:>10.2f} ms")  # fmt: skip
    finally:
        await runner.cleanup()


def deliveries() -> None:
    asyncio.run(_run())


if __name__ == "__main__":
    deliveries()
