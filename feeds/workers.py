"""`feeds serve --workers N`: N processes answering on one port, one core each.

Every process binds the port with SO_REUSEPORT and the kernel spreads connections over
them; the first also harvests (when harvesting is on), the others follow the store's
revision as a separate web instance does (PostgreSQL NOTIFY, SQLite polling). Each follows
the configuration's changes by itself; SIGHUP is passed on to all of them. Each keeps
its own render cache. Metrics are counted into shared files (prometheus-client's
multiprocess mode) so /metrics adds up all of them, whichever process answers. A process
that dies is started again; SIGTERM or SIGINT stops them all.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import time
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType

log = logging.getLogger(__name__)
RESTART_PAUSE = 1.0  # seconds: a process that dies at once is not restarted in a tight loop


def serve_workers(
    count: int,
    config_path: str,
    host: str | None,
    port: int | None,
    *,
    harvest: bool,
    access_log: bool,
) -> int:
    directory = tempfile.mkdtemp(prefix="feeds-metrics-")
    # Set before the processes start: they create their metrics on import, into files here.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    context = multiprocessing.get_context("spawn")  # fresh interpreters: no loop, no sockets

    def start(index: int) -> BaseProcess:
        process = context.Process(
            target=_serve_one,
            args=(config_path, host, port, harvest and index == 0, access_log),
            name=f"feeds-web-{index}",
        )
        process.start()
        return process

    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    def reload(signum: int, frame: FrameType | None) -> None:
        for process in processes:  # each reads the configuration again at once
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGHUP)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    processes: list[BaseProcess] = []
    signal.signal(signal.SIGHUP, reload)
    processes += [start(index) for index in range(count)]
    log.info("serving with %d processes: %s", count, [p.pid for p in processes])
    try:
        while not stopping:
            time.sleep(0.2)
            for index, process in enumerate(processes):
                if not process.is_alive() and not stopping:
                    log.error("web process %s ended (exit %s); starting it again",
                              process.pid, process.exitcode)  # fmt: skip
                    _forget(process.pid)
                    time.sleep(RESTART_PAUSE)
                    processes[index] = start(index)
    finally:
        for process in processes:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)  # aiohttp shuts down gracefully on it
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
        shutil.rmtree(directory, ignore_errors=True)
    return 0


def _forget(pid: int | None) -> None:
    from prometheus_client import multiprocess

    if pid is not None:
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def _serve_one(
    config_path: str, host: str | None, port: int | None, harvest: bool, access_log: bool
) -> None:
    """One process: the configuration read again here (adapters hold no state to send)."""
    from feeds.config import Settings, load_config
    from feeds.web.run import run_service

    logging.basicConfig(
        level=os.environ.get("FEEDS_LOG_LEVEL", "INFO"),
        format=f"%(asctime)s %(levelname)s [{os.getpid()}] %(name)s: %(message)s",
    )
    settings = Settings.from_env(os.environ)
    config = load_config(Path(config_path))
    sys.exit(
        run_service(
            settings,
            config,
            host,
            port,
            harvest=harvest,
            access_log=access_log,
            reuse_port=True,
            config_path=Path(config_path),
        )
    )
