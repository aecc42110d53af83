"""The network at 112, 1,120 and 11,200 groups on PostgreSQL: `make bench-scale`.

Each group publishes one source of one of five kinds (an RSS feed of 20 posts, an ICS
calendar of 30 events with 3 weekly series, a page with schema.org JSON-LD of 10 events
and 5 articles, WordPress's REST API with 10 posts, The Events Calendar's with 20 events),
at realistic sizes, each on a loopback address of its own (127.x.y.z), served by a web
server in a process of its own. Per step:

- the harvest: wall time, and the CPU of the harvester and of its parse workers, per source;
- the store: PostgreSQL's bytes (tables, indexes, TOAST) per group;
- `feeds serve`: the first (cold) and a cached answer of a group's and the network's views
  (with `region` and `near`), per item in the answer; the memory of its processes with
  `--workers 2`, once every view was asked of both;
- two instances on one store: the time from a group's new post being stored to both
  serving it.

The goal is a flat line from 112 to 11,200 groups (within ±20 % per source, per item and
per group); the README's table says where it bends and why.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from aiohttp import web

from bench import http as bench_http
from feeds.harvest import Harvester
from feeds.model import Network, Post, Site, SourceConfig
from feeds.store import open_store
from sources import build_source
from sources.base import Source, SourceContext, Validators
from sources.parsing import parse_pool, warmed
from tests.helpers import LOCAL, LOCAL_ENV

STEPS = (112, 1_120, 11_200)
KINDS = ("feed", "ical", "jsonld", "wordpress", "tribe_events")
STATES = (
    "Baden-Württemberg", "Bayern", "Berlin", "Brandenburg", "Bremen", "Hamburg", "Hessen",
    "Mecklenburg-Vorpommern", "Niedersachsen", "Nordrhein-Westfalen", "Rheinland-Pfalz",
    "Saarland", "Sachsen", "Sachsen-Anhalt", "Schleswig-Holstein", "Thüringen",
)  # fmt: skip
BERLIN = ZoneInfo("Europe/Berlin")
UPSTREAM_PORT = 18760
SERVE_PORTS = (18761, 18762)
LOG = Path(tempfile.gettempdir()) / "bench-scale-serve.log"  # what `feeds serve` said
TEXT = (
    "<p>Vereine, Initiativen und Nachbarn aus {town} laden ein: Wer mitmachen möchte, ist"
    " willkommen. Es gibt Kaffee, Kuchen und Zeit für Gespräche über das, was vor Ort"
    " gebraucht wird – vom Vorlesen in der Kita bis zur Tafel.</p>"
) * 3


def address(n: int) -> str:
    """Group n's own loopback address: one host per group, as in the real network."""
    return f"127.{1 + n // 60_000}.{n // 240 % 250 + 1}.{n % 240 + 10}"


def region(n: int) -> str:
    return STATES[n % len(STATES)]


def geo(n: int) -> tuple[float, float]:
    rng = random.Random(n)
    return round(rng.uniform(47.5, 54.8), 4), round(rng.uniform(6.0, 14.9), 4)


# --- the groups' websites, in a process of their own ------------------------------------


def document(kind: str, n: int, today: datetime) -> tuple[str, str]:
    town = f"Ort {n}"
    text = TEXT.format(town=town)

    def when(k: int) -> datetime:
        return (today + timedelta(days=1 + (n + 7 * k) % 120)).replace(hour=18, minute=0)

    if kind == "feed":
        items = "".join(
            f"<item><title>Neues aus {town} ({k})</title><link>https://g{n}.example/{k}</link>"
            f"<guid>g{n}-{k}</guid><pubDate>{(today - timedelta(days=k)):%a, %d %b %Y} 10:00:00"
            f" +0100</pubDate><description><![CDATA[{text}]]></description>"
            f"<category>Netzwerk</category></item>"
            for k in range(20)
        )
        rss = (
            f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>{town}'
            f"</title><link>https://g{n}.example/</link><description>d</description>{items}"
            "</channel></rss>"
        )
        return rss, "application/rss+xml"
    if kind == "ical":
        lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//bench//scale//DE"]
        for k in range(30):
            start = when(k)
            lines += [
                "BEGIN:VEVENT", f"UID:g{n}-{k}@bench", "DTSTAMP:20260101T000000Z",
                f"DTSTART;TZID=Europe/Berlin:{start:%Y%m%dT%H%M%S}",
                f"DTEND;TZID=Europe/Berlin:{start + timedelta(hours=2):%Y%m%dT%H%M%S}",
                f"SUMMARY:Treffen {k} in {town}", f"LOCATION:Bürgerhaus\\, {town}",
                "DESCRIPTION:" + re.sub(r"<[^>]+>", "", text)[:300].replace(",", "\\,"),
                "CATEGORIES:Treffen",
            ]  # fmt: skip
            if k < 3:
                lines.append("RRULE:FREQ=WEEKLY;COUNT=10")
            lines.append("END:VEVENT")
        lines.append("END:VCALENDAR")
        return "\r\n".join(lines) + "\r\n", "text/calendar"
    if kind == "jsonld":
        graph: list[dict[str, Any]] = [
            {
                "@type": "Event", "@id": f"https://g{n}.example/e{k}",
                "name": f"Treffen {k} in {town}", "startDate": when(k).isoformat(),
                "endDate": (when(k) + timedelta(hours=2)).isoformat(), "description": text,
                "location": {"@type": "Place", "name": "Bürgerhaus", "address": town},
            }
            for k in range(10)
        ] + [
            {
                "@type": "NewsArticle", "@id": f"https://g{n}.example/a{k}",
                "headline": f"Neues aus {town} ({k})", "articleBody": text,
                "datePublished": (today - timedelta(days=k)).isoformat(),
            }
            for k in range(5)
        ]  # fmt: skip
        data = json.dumps({"@context": "https://schema.org", "@graph": graph}, ensure_ascii=False)
        page = (
            f'<!DOCTYPE html><html lang="de"><head><meta charset="utf-8"><title>{town}</title>'
            f'<script type="application/ld+json">{data}</script></head><body><main>{text}'
            "</main></body></html>"
        )
        return page, "text/html"
    if kind == "wordpress":
        posts = [
            {
                "id": k, "date_gmt": f"{today - timedelta(days=k):%Y-%m-%dT10:00:00}",
                "link": f"https://g{n}.example/{k}/",
                "title": {"rendered": f"Neues aus {town} ({k})"},
                "content": {"rendered": text}, "excerpt": {"rendered": text[:200]},
            }
            for k in range(10)
        ]  # fmt: skip
        return json.dumps(posts, ensure_ascii=False), "application/json"
    found = [
        {
            "id": k, "title": f"Treffen {k} in {town}", "description": text,
            "start_date": f"{when(k):%Y-%m-%d %H:%M:%S}",
            "end_date": f"{when(k) + timedelta(hours=2):%Y-%m-%d %H:%M:%S}",
            "timezone": "Europe/Berlin", "url": f"https://g{n}.example/e{k}/",
            "venue": {"venue": "Bürgerhaus", "city": town},
        }
        for k in range(20)
    ]  # fmt: skip
    return json.dumps({"events": found, "total": 20, "total_pages": 1}), "application/json"


def websites(conn: Connection) -> None:
    """Every group's site: one server on all loopback addresses (0.0.0.0 takes 127/8)."""

    async def serve() -> None:
        today = datetime.now(BERLIN).replace(microsecond=0)

        async def handle(request: web.Request) -> web.Response:
            kind, number = request.match_info["kind"], int(request.match_info["n"])
            body, content_type = document(kind, number, today)
            return web.Response(text=body, content_type=content_type)

        app = web.Application()
        app.router.add_get("/{kind}/{n}/{tail:.*}", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "0.0.0.0", UPSTREAM_PORT, backlog=4096).start()
        conn.send("ready")
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)
        await runner.cleanup()

    asyncio.run(serve())


def network(groups: int) -> tuple[Network, dict[tuple[str, str], Source]]:
    sites, sources = [], {}
    for n in range(groups):
        kind = KINDS[n % len(KINDS)]
        url = f"http://{address(n)}:{UPSTREAM_PORT}/{kind}/{n}/"
        config = SourceConfig(name="web", kind=kind, options=(("url", url),))
        slug = f"g{n}"
        sites.append(
            Site(slug=slug, name=f"Gruppe {n}", region=region(n), geo=geo(n), sources=(config,))
        )
        context = SourceContext(
            site=slug, source="web", timezone="Europe/Berlin", homepage=None, config_dir=Path()
        )
        sources[slug, "web"] = build_source(kind, context, config.options_dict)
    return Network(name="Netz", sites=tuple(sites)), sources


def configuration(groups: int) -> str:
    lines = ['[network]\nname = "Netz"\n']
    for n in range(groups):
        latitude, longitude = geo(n)
        lines.append(
            f'[[sites]]\nslug = "g{n}"\nname = "Gruppe {n}"\nregion = "{region(n)}"\n'
            f"geo = [{latitude}, {longitude}]\n"
        )
    return "\n".join(lines)


# --- measuring ----------------------------------------------------------------------------


def tree_cpu(root: int, leave_out: int) -> float:
    """Seconds of CPU of `root`'s descendants (not `leave_out`'s), as /proc says."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        times[int(entry)] = (int(fields[11]) + int(fields[12])) / tick

    def below(pid: int) -> bool:
        while pid in parents and pid not in (0, 1):
            pid = parents[pid]
            if pid == leave_out:
                return False
            if pid == root:
                return True
        return False

    return sum(t for pid, t in times.items() if pid != leave_out and below(pid))


def rss_mb(pid: int) -> float:
    match = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(match[1]) / 1024 if match else 0.0


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid:
                found.append(int(entry))
    return found


async def harvest(url: str, groups: int, upstream_pid: int) -> dict[str, float]:
    net, sources = network(groups)
    store = await open_store(url)
    harvester = Harvester(store, net, sources, outbound=LOCAL)
    async with parse_pool(warm=True):  # the service's harvester: its workers running
        await warmed()
        own, workers = resource.getrusage(resource.RUSAGE_SELF), tree_cpu(os.getpid(), upstream_pid)
        began = time.perf_counter()
        outcomes = await harvester.run_once()
        wall = time.perf_counter() - began
        mine = resource.getrusage(resource.RUSAGE_SELF)
        parsing = tree_cpu(os.getpid(), upstream_pid) - workers
    failed = [o for o in outcomes if o.status != "ok"]
    assert not failed, [(o.site, o.error) for o in failed[:5]]
    await store.close()
    main_cpu = (mine.ru_utime + mine.ru_stime) - (own.ru_utime + own.ru_stime)
    return {"wall": wall, "main_cpu": main_cpu, "parse_cpu": parsing}


async def store_bytes(server: str, schema: str) -> int:
    db = await asyncpg.connect(server)
    try:
        # What autovacuum does within a minute of a harvest this size: the planner's
        # statistics, which the views' plans (and a fair measure of them) depend on.
        await db.execute(f"ANALYZE {schema}.items")
        size: int = await db.fetchval(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c"
            " JOIN pg_namespace s ON s.oid = c.relnamespace"
            " WHERE s.nspname = $1 AND c.relkind IN ('r', 'm')",
            schema,
        )
        return size
    finally:
        await db.close()


def views(groups: int) -> list[str]:
    near = "{:.2f},{:.2f}".format(*geo(7))
    return [
        "/g7/news.atom",
        "/g7/events.ics",
        "/g7/",
        "/network/news.atom",
        "/network/events.atom?region=Bayern",
        "/network/events.ics?region=Bayern",
        f"/network/events.ics?near={near}&radius=50",
        "/network/events.ics",
        "/",
        "/?region=Bayern",
    ]


def count_items(view: str, body: bytes) -> int:
    if ".ics" in view:
        return max(1, body.count(b"BEGIN:VEVENT"))
    if ".atom" in view:
        return max(1, body.count(b"<entry>"))
    return max(1, body.count(b'class="card'))


def serve(env: dict[str, str], port: int, workers: int) -> subprocess.Popen[bytes]:
    feeds = str(Path(sys.executable).with_name("feeds"))
    command = [feeds, "serve", "--port", str(port), "--no-harvest", "--workers", str(workers)]
    log = open(LOG, "ab")  # noqa: SIM115 - the child holds it; shown if a view fails
    return subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True
    )


View = tuple[str, int, float, float]  # the view, its items, cold and cached seconds


def renders(env: dict[str, str], groups: int) -> tuple[list[View], dict[str, float]]:
    """(view, items, cold s, cached s) for each view; memory of serve --workers 2 (MB)."""
    found = []
    process = serve(env, SERVE_PORTS[0], 1)
    base = f"http://127.0.0.1:{SERVE_PORTS[0]}"
    try:
        bench_http.wait_up(base + "/healthz")
        for view in views(groups):
            began = time.perf_counter()
            status, _, body = bench_http.get(base + view, {"Accept-Encoding": "identity"})
            cold = time.perf_counter() - began
            if status != 200:
                raise RuntimeError(f"{view} answered {status}: {LOG.read_text()[-3000:]}")
            cached = []
            for _ in range(20):
                began = time.perf_counter()
                bench_http.get(base + view, {"Accept-Encoding": "gzip"})
                cached.append(time.perf_counter() - began)
            found.append((view, count_items(view, body), cold, statistics.median(cached)))
    finally:
        bench_http.stop(process)
    process = serve(env, SERVE_PORTS[0], 2)
    memory: dict[str, float] = {}
    try:
        bench_http.wait_up(base + "/healthz")
        for _ in range(4):  # each worker is asked each view, most likely
            for view in views(groups):
                bench_http.get(base + view, {"Accept-Encoding": "gzip"})
        time.sleep(0.5)
        workers = children(process.pid)
        memory["serve"] = rss_mb(process.pid)
        memory["worker"] = max((rss_mb(pid) for pid in workers), default=0.0)
    finally:
        bench_http.stop(process)
    return found, memory


async def reach(env: dict[str, str], url: str) -> float:
    """Seconds from a group's new post being stored to two instances serving it."""
    processes = [serve(env, port, 1) for port in SERVE_PORTS]
    try:
        bases = [f"http://127.0.0.1:{port}" for port in SERVE_PORTS]
        for base in bases:
            bench_http.wait_up(base + "/healthz")
            bench_http.get(base + "/g7/news.atom", {})  # cached before the change
        title = f"Neu {uuid.uuid4().hex[:8]}"
        post = Post(
            site="g7", source="bench", external_id=title, title=title,
            published=datetime.now(UTC), content_html="<p>Neu</p>",
        )  # fmt: skip
        store = await open_store(url)
        await store.save_batch("g7", "bench", [post], [], Validators(), datetime.now(UTC))
        stored = time.perf_counter()
        await store.close()
        waiting = set(bases)
        while waiting:
            for base in list(waiting):
                if title.encode() in bench_http.get(base + "/g7/news.atom", {})[2]:
                    waiting.discard(base)
            if time.perf_counter() - stored > 30:
                raise RuntimeError("the change did not reach every instance in 30 s")
            await asyncio.sleep(0.01)
        return time.perf_counter() - stored
    finally:
        for process in processes:
            bench_http.stop(process)


async def schema_for(server: str) -> tuple[str, str]:
    schema = f"feeds_scale_{uuid.uuid4().hex[:10]}"
    db = await asyncpg.connect(server)
    try:
        await db.execute(f"CREATE SCHEMA {schema}")
    finally:
        await db.close()
    joiner = "&" if "?" in server else "?"
    return schema, f"{server}{joiner}search_path={schema}"


async def drop(server: str, schema: str) -> None:
    db = await asyncpg.connect(server)
    try:
        await db.execute(f"DROP SCHEMA {schema} CASCADE")
    finally:
        await db.close()


@dataclass(frozen=True, slots=True)
class Step:
    groups: int
    wall: float
    main_cpu: float
    parse_cpu: float
    store: int
    views: list[View]
    memory: dict[str, float]
    reach: float


def step(groups: int, server: str, upstream_pid: int, tmp: Path) -> Step:
    schema, url = asyncio.run(schema_for(server))
    try:
        harvested = asyncio.run(harvest(url, groups, upstream_pid))
        size = asyncio.run(store_bytes(server, schema))
        config = tmp / f"scale{groups}.toml"
        config.write_text(configuration(groups), encoding="utf-8")
        env = {**os.environ, **LOCAL_ENV, "FEEDS_CONFIG": str(config), "DATABASE_URL": url}
        answered, memory = renders(env, groups)
        reached = asyncio.run(reach(env, url))
    finally:
        asyncio.run(drop(server, schema))
    return Step(groups, **harvested, store=size, views=answered, memory=memory, reach=reached)


def report(results: Sequence[Step]) -> None:
    def row(label: str, values: Iterator[float], unit: str, fmt: str = "{:8.2f}") -> None:
        numbers = list(values)
        cells = "".join(fmt.format(v) + f" {unit:3}" for v in numbers)
        drift = f"{numbers[-1] / numbers[0]:6.2f}x" if numbers[0] else ""
        print(f"  {label:44}{cells} {drift}")

    steps = ", ".join(f"{r.groups:,}" for r in results)
    print(f"\nthe network at {steps} groups, on PostgreSQL (last column: last / first)")
    row("harvest: wall time per source", (r.wall / r.groups * 1e3 for r in results), "ms")
    row("harvest: harvester's CPU per source", (r.main_cpu / r.groups * 1e3 for r in results), "ms")
    row(
        "harvest: parse workers' CPU per source",
        (r.parse_cpu / r.groups * 1e3 for r in results),
        "ms",
    )
    row("store: size per group", (r.store / r.groups / 1024 for r in results), "kB")
    views = [{v[0]: v[1:] for v in r.views} for r in results]
    for view, *_ in results[0].views:
        row(f"{view[:36]} items", (v[view][0] for v in views), "", "{:8.0f}")
        row("  cold, per item", (v[view][1] / v[view][0] * 1e3 for v in views), "ms", "{:8.3f}")
        row("  cached", (v[view][2] * 1e3 for v in views), "ms")
    row(
        "serve --workers 2: the parent's memory",
        (r.memory["serve"] for r in results),
        "MB",
        "{:8.0f}",
    )
    row(
        "serve --workers 2: a worker's memory",
        (r.memory["worker"] for r in results),
        "MB",
        "{:8.0f}",
    )
    row("a new post, to two instances", (r.reach * 1e3 for r in results), "ms", "{:8.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scale")
    parser.add_argument("--groups", type=int, nargs="*", default=list(STEPS))
    args = parser.parse_args()
    server = (
        os.environ.get("FEEDS_BENCH_DATABASE_URL")
        or os.environ.get("FEEDS_TEST_DATABASE_URL")
        or "postgresql://postgres@127.0.0.1:5432/test"
    )
    ours, theirs = multiprocessing.get_context("spawn").Pipe()
    upstream = multiprocessing.get_context("spawn").Process(
        target=websites, args=(theirs,), daemon=True
    )
    upstream.start()
    if ours.recv() != "ready":
        raise RuntimeError("the groups' websites did not start")
    results: list[Step] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for groups in args.groups:
                began = time.perf_counter()
                assert upstream.pid is not None
                results.append(step(groups, server, upstream.pid, Path(tmp)))
                print(
                    f"{groups} groups measured in {time.perf_counter() - began:.0f} s", flush=True
                )
    finally:
        ours.send("stop")
        upstream.join(timeout=10)
    report(results)


if __name__ == "__main__":
    main()
