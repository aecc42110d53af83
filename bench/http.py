"""Cached responses measured at the server: wrk on its own core against the service and
against a bare aiohttp handler returning the same bytes, pinned to the same core, in
alternating runs (S B, B S, S B), median of each. An in-process client saturates before
the server does and measures itself; wrk (Debian's package) does not.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

SERVER_CPU = os.environ.get("BENCH_SERVER_CPU", "0")
CLIENT_CPU = os.environ.get("BENCH_CLIENT_CPU", "1")
GOAL = 0.9
MODES = ("identity", "gzip", "304")
HOP_BY_HOP = {"date", "server", "connection", "keep-alive", "transfer-encoding", "content-length"}


@dataclass(frozen=True)
class Result:
    path: str
    mode: str
    service: float
    bare: float

    @property
    def ratio(self) -> float:
        return self.service / self.bare if self.bare else 0.0


def tools_missing() -> str | None:
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            return (
                f"{tool} is missing: make bench installs Debian's wrk as root (apt-get install wrk)"
            )
    return None


def get(url: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:  # 304 arrives as one
        return exc.code, dict(exc.headers), exc.read()


def wait_up(url: str) -> None:
    for _ in range(300):
        try:
            get(url, {})
            return
        except (OSError, urllib.error.URLError):
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def capture(base: str, path: str) -> dict[str, dict[str, object]]:
    """What the service answers on `path` in each mode, to be replayed by the bare handler."""
    spec: dict[str, dict[str, object]] = {}
    _, first, _ = get(base + path, {"Accept-Encoding": "identity"})
    for mode, headers in (
        ("identity", {"Accept-Encoding": "identity"}),
        ("gzip", {"Accept-Encoding": "gzip"}),
        ("304", {"Accept-Encoding": "identity", "If-None-Match": first["ETag"]}),
    ):
        status, answer, body = get(base + path, headers)
        kept = {k: v for k, v in answer.items() if k.lower() not in HOP_BY_HOP}
        spec[mode] = {"status": status, "headers": kept, "body": body.decode("latin-1")}
    return spec


def wrk(url: str, seconds: float, headers: dict[str, str]) -> float:
    command = ["taskset", "-c", CLIENT_CPU, "wrk", "-t1", "-c32", f"-d{seconds:g}s", "--latency"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    match = re.search(r"Requests/sec:\s*([\d.]+)", output)
    if match is None:
        raise RuntimeError(f"wrk said: {output}")
    return float(match[1])


def start(command: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["taskset", "-c", SERVER_CPU, *command],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


def measure(
    config: Path, database_url: str, paths: list[str], seconds: float, rounds: int = 3
) -> list[Result]:
    """Service and bare handler, alternating, for each path and mode."""
    env = {**os.environ, "FEEDS_CONFIG": str(config), "DATABASE_URL": database_url}
    feeds = str(Path(sys.executable).with_name("feeds"))
    service = start([feeds, "serve", "--port", "18741", "--no-harvest"], env)
    results = []
    try:
        base = "http://127.0.0.1:18741"
        wait_up(base + "/healthz")
        for path in paths:
            spec = capture(base, path)
            with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as file:
                json.dump(spec, file)
            bare = start([sys.executable, "-m", "bench.bare", file.name, "18742", path])
            try:
                wait_up("http://127.0.0.1:18742" + path)
                for mode in MODES:
                    headers = {"Accept-Encoding": "gzip" if mode == "gzip" else "identity"}
                    if mode == "304":
                        headers["If-None-Match"] = str(spec["identity"]["headers"]["ETag"])  # type: ignore[index]
                    urls = {"S": base + path, "B": "http://127.0.0.1:18742" + path}
                    runs: dict[str, list[float]] = {"S": [], "B": []}
                    wrk(urls["S"], 1, headers)  # warm both
                    wrk(urls["B"], 1, headers)
                    for order in (("S", "B"), ("B", "S"), ("S", "B"))[:rounds]:
                        for who in order:
                            runs[who].append(wrk(urls[who], seconds, headers))
                    results.append(
                        Result(
                            path, mode, statistics.median(runs["S"]), statistics.median(runs["B"])
                        )
                    )
            finally:
                stop(bare)
                os.unlink(file.name)
    finally:
        stop(service)
    return results


def report(results: list[Result], seconds: float) -> None:
    print(
        f"cached responses at the server (wrk -c32 on cpu {CLIENT_CPU}, servers on cpu"
        f" {SERVER_CPU}, median of 3 alternating {seconds:g} s runs; goal >= {GOAL}x bare)"
    )
    for r in results:
        verdict = "met" if r.ratio >= GOAL else "NOT met"
        print(
            f"  {r.path:24} {r.mode:8} service {r.service:8.0f} req/s  bare {r.bare:8.0f} req/s"
            f"  {r.ratio:5.2f}x  goal {GOAL}x {verdict}"
        )
