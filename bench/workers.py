"""`feeds serve --workers 2` against one process on the cached feed: requests/s with wrk
on this machine's cores, runs alternating (1, 2, 1, 2, 1, 2), median of each. Nothing is
pinned: the processes, and wrk, share the cores as they would on a real host; on a
2-core machine wrk takes a good part of one, which bounds the speed-up."""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

from bench import http as bench_http

PORT = 18746
PATH = "/bench/news.atom"


def wrk(url: str, seconds: float) -> float:
    command = ["wrk", "-t2", "-c64", f"-d{seconds:g}s", "-H", "Accept-Encoding: gzip", url]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    match = re.search(r"Requests/sec:\s*([\d.]+)", output)
    if match is None:
        raise RuntimeError(f"wrk said: {output}")
    return float(match[1])


def run(env: dict[str, str], workers: int, seconds: float) -> float:
    feeds = str(Path(sys.executable).with_name("feeds"))
    command = [feeds, "serve", "--port", str(PORT), "--no-harvest", "--workers", str(workers)]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{PORT}"
        bench_http.wait_up(base + "/healthz")
        wrk(base + PATH, 1)  # warm: every process renders once
        return wrk(base + PATH, seconds)
    finally:
        bench_http.stop(process)


def measure(config: Path, database_url: str, seconds: float) -> None:
    if bench_http.tools_missing():
        print("--workers: not measured (wrk is missing)")
        return
    env = {**os.environ, "FEEDS_CONFIG": str(config), "DATABASE_URL": database_url}
    runs: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(3):
        for workers in (1, 2):
            runs[workers].append(run(env, workers, seconds))
    one, two = statistics.median(runs[1]), statistics.median(runs[2])
    print(
        f"feeds serve --workers 2 vs one process, cached {PATH} (gzip), wrk -t2 -c64 unpinned,"
        f" {os.cpu_count()} cores, median of 3 alternating {seconds:g} s runs"
    )
    print(f"  one process {one:8.0f} req/s  --workers 2 {two:8.0f} req/s  {two / one:5.2f}x")
