"""Record every route's answers, to prove a change of the web layer changes none of them.

    python -m tests.record_responses DATA OUT.jsonl

The first run harvests two stores into DATA (kept, so that later runs, of any commit,
serve the very same rows): the bundled demo, and the pages' scenario (the 112-group test
network plus Kaiserslautern's calendar, tests/pages_scenario.py) played by a local
upstream. Each store is then served in this process (no harvest) and every route is asked
in the ways clients ask: plain, gzip, br, again (the replayed answer), conditionally,
HEAD, with filters, wrongly. Each answer is one line: status, headers (less Date and
Server), and the body's hash; bodies are kept in DATA/bodies by hash, for diffing.

Compare two recordings with `diff`. What moves with the clock is masked: the time /status
says it was made, /metrics' counts (its status and type are kept).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from feeds.config import Config, Settings, load_config
from feeds.harvest import Harvester
from feeds.store import open_store
from feeds.web.app import create_app
from feeds.web.boundary import SERVER_LIMITS
from tests.helpers import LOCAL
from tests.network import BERLIN
from tests.pages_scenario import GROUP, _day, _today, calendar, serve_network, with_calendar
from tests.upstream import Upstream

ROOT = Path(__file__).resolve().parent.parent
UPSTREAM_PORT = 8097  # fixed: the harvested rows name their sources' addresses
SERVICE_PORT = 8098
HOST = "feeds.example"  # links are built from it, whatever port serves
VARIANTS: tuple[tuple[str, str, dict[str, str]], ...] = (
    ("plain", "GET", {}),
    ("gzip", "GET", {"Accept-Encoding": "gzip"}),
    ("br", "GET", {"Accept-Encoding": "gzip, deflate, br"}),
    ("again", "GET", {"Accept-Encoding": "gzip, deflate, br"}),
    ("head", "HEAD", {}),
)
_MASKS = (
    (re.compile(rb'"generated": "[^"]*"'), b'"generated": "..."'),
    (re.compile(rb"Stand: [^<]*"), b"Stand: ..."),
)


async def network_config(upstream: Upstream) -> Config:
    treff = _day(1, 17)
    if treff <= datetime.now(BERLIN):
        treff += timedelta(weeks=1)
    body = calendar(treff, _day(5, 16, 30), _today() + timedelta(days=10))

    async def ics(request: web.Request) -> web.StreamResponse:
        return web.Response(text=body, content_type="text/calendar")

    upstream.add("/kalender.ics", ics)
    return with_calendar(serve_network(upstream), upstream.base + "/kalender.ics")


async def harvested(data: Path) -> dict[str, tuple[Config, str]]:
    """The two stores, harvested on the first run; their configurations."""
    upstream = Upstream(base=f"http://127.0.0.1:{UPSTREAM_PORT}")
    upstream_app = web.Application()
    upstream_app.router.add_route("*", "/{tail:.*}", upstream.dispatch)
    runner = web.AppRunner(upstream_app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", UPSTREAM_PORT).start()
    try:
        stores = {
            "network": (await network_config(upstream), f"sqlite:///{data / 'network.sqlite3'}"),
            "demo": (load_config(ROOT / "sites.toml"), f"sqlite:///{data / 'demo.sqlite3'}"),
        }
        for name, (config, url) in stores.items():
            if (data / f"{name}.sqlite3").exists():
                continue
            store = await open_store(url)
            try:
                harvester = Harvester(store, config.network, config.sources, outbound=LOCAL)
                outcomes = await harvester.run_once()
            finally:
                await store.close()
            failed = [(o.site, o.source, o.error) for o in outcomes if o.status != "ok"]
            assert not failed, failed
    finally:
        await runner.cleanup()
    return stores


async def targets(session: aiohttp.ClientSession, base: str, config: Config) -> list[str]:
    """Every route, with the ids, groups and regions the store holds."""
    first = config.network.sites[0].slug
    group = GROUP if config.network.site(GROUP) else first
    regions = sorted({s.region for s in config.network.sites if s.region})
    region = regions[0] if regions else "Bayern"
    kinds = {s.sources[0].kind: s.slug for s in reversed(config.network.sites) if s.sources}
    ids: list[str] = []
    for scope in sorted({group, *kinds.values()}):
        for what, kind in (("events", "events"), ("news", "posts")):
            async with session.get(f"{base}/{scope}/{what}.json") as response:
                feed = await response.json(content_type=None)
            ids += [f"/{scope}/{kind}/{i['id'].removeprefix('urn:uuid:')}" for i in feed["items"]]
    paths = ["/", "/opml", "/embed", "/embed.js", "/status", "/status.json", "/healthz"]
    paths += ["/metrics", "/static/pages.css", "/static/pages.js", "/static/widget.css"]
    paths += ["/static/icon.svg", "/static/nothing.css", "/nowhere/", "/nowhere/news.atom"]
    paths += [f"/{group}", f"/{group}/", "/network/", "/network", f"/{first}/"]
    for scope in ("network", group, first):
        for what in ("news", "events"):
            for fmt in ("atom", "rss", "json"):
                paths.append(f"/{scope}/{what}.{fmt}")
        paths += [f"/{scope}/events.ics", f"/{scope}/widget", f"/{scope}/qr.svg"]
    queries = [
        f"region={region}", "category=Konzert", "q=Treffen", "limit=3", "from=2025-01-01",
        "from=2025-01-01&to=2025-12-31", "near=49.44,7.77&radius=30", f"site={first}",
        "limit=0", "from=2025-13-01", "site=nowhere", "radius=5", "q=", "limit=1&limit=2",
    ]  # fmt: skip
    for query in queries:
        for path in ("/network/events.ics", "/network/news.atom", "/network/events.json"):
            paths.append(f"{path}?{query}")
        paths.append(f"/network/widget?{query}")
    paths.append(f"/{group}/events.ics?from=2025-01-01")
    for found in ids:
        paths.append(found)
        if "/events/" in found:
            paths.append(f"{found}.ics")
    paths += [f"/{group}/events/00000000-0000-0000-0000-000000000000"]
    paths += [f"/{group}/events/00000000-0000-0000-0000-000000000000.ics"]
    paths += [f"/{group}/posts/00000000-0000-0000-0000-000000000000"]
    return paths


def line(
    data: Path, store: str, path: str, variant: str, response: aiohttp.ClientResponse, body: bytes
) -> dict[str, Any]:
    headers = sorted((k, v) for k, v in response.headers.items() if k not in ("Date", "Server"))
    if path.startswith("/metrics"):
        body = b""
    for pattern, mask in _MASKS:
        body = pattern.sub(mask, body)
    digest = hashlib.sha256(body).hexdigest()[:16]
    bodies = data / "bodies"
    bodies.mkdir(exist_ok=True)
    (bodies / digest).write_bytes(body)
    if path.startswith("/metrics"):
        headers = [(k, v) for k, v in headers if k == "Content-Type"]
    return {
        "store": store,
        "path": path,
        "variant": variant,
        "status": response.status,
        "headers": headers,
        "body": digest,
    }


async def record(data: Path) -> list[dict[str, Any]]:
    stores = await harvested(data)
    lines: list[dict[str, Any]] = []
    for name, (config, url) in stores.items():
        app = create_app(Settings(database_url=url, outbound=LOCAL), config, harvest=False)
        runner = web.AppRunner(app, **SERVER_LIMITS)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", SERVICE_PORT).start()
        base = f"http://127.0.0.1:{SERVICE_PORT}"
        try:
            async with aiohttp.ClientSession(
                auto_decompress=False,
                headers={"Host": HOST},
                skip_auto_headers=("Accept-Encoding",),
            ) as session:
                for path in await targets(session, base, config):
                    etag = None
                    for variant, method, headers in VARIANTS:
                        async with session.request(
                            method, base + path, headers=headers, allow_redirects=False
                        ) as response:
                            body = await response.read()
                            etag = etag or response.headers.get("ETag")
                            lines.append(line(data, name, path, variant, response, body))
                    if etag:
                        conditional = {"If-None-Match": etag}
                        async with session.get(base + path, headers=conditional) as response:
                            lines.append(
                                line(data, name, path, "304", response, await response.read())
                            )
                for method, path, headers in [
                    ("OPTIONS", "/network/events.ics", {"Origin": "https://example.org"}),
                    ("POST", "/admin/harvest", {}),
                    ("GET", "/network/events.ics?" + "q=x&" * 2000, {}),
                    ("GET", "/network/events.ics", {"Host": "bad host"}),
                ]:
                    async with session.request(method, base + path, headers=headers) as response:
                        body = await response.read()
                        lines.append(line(data, name, path[:60], method, response, body))
        finally:
            await runner.cleanup()
    return lines


def main(data: Path, out: Path) -> int:
    data.mkdir(parents=True, exist_ok=True)
    lines = asyncio.run(record(data))
    out.write_text("".join(json.dumps(entry, ensure_ascii=False) + "\n" for entry in lines))
    print(f"{len(lines)} answers recorded in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
