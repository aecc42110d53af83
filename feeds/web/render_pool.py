"""The threads renders run in, yielding to the thread that answers requests.

A service often has one core. A render holding that core makes every cached request wait
behind it: up to a scheduler slice (about 3 ms on Linux's EEVDF) plus the 5 ms the
interpreter lets a thread keep the GIL. So render threads run under SCHED_IDLE (they get
the core whenever the event loop does not want it, and give it back at once when it
does), and while a render runs the GIL is handed over after 0.5 ms (the interval is the
process's; it is put back when no render runs). The cost: while cached requests alone
keep the core fully busy, renders wait for a gap; they are the requests that can wait.

Only renders (and the compression made with them) run here, handed this pool by name.
The loop's default executor, where the store reads and writes, keeps normal priority:
SQLite's one connection is shared under a lock, and a write or the health check must
never wait for an idle-priority thread holding it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TypeVar

from aiohttp import web

log = logging.getLogger(__name__)

SWITCH_INTERVAL = 0.0005  # seconds a thread may hold the GIL while another waits for it
MAX_WORKERS = 8
T = TypeVar("T")


def _yield_to_the_loop() -> None:
    try:
        os.sched_setscheduler(threading.get_native_id(), os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError) as exc:  # not Linux, or not allowed: slower, not wrong
        log.debug("render threads keep the normal scheduling policy: %s", exc)


class _Rendering:
    """How many renders run in this process (of any pool): the short switch interval
    holds while there is one. Counted under a lock: tests run several applications, and
    loops, in one process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = 0
        self._normal = sys.getswitchinterval()

    def enter(self) -> None:
        with self._lock:
            if self._running == 0:
                self._normal = sys.getswitchinterval()
                sys.setswitchinterval(SWITCH_INTERVAL)
            self._running += 1

    def leave(self) -> None:
        with self._lock:
            self._running -= 1
            if self._running == 0:
                sys.setswitchinterval(self._normal)


_RENDERING = _Rendering()  # the switch interval is the process's: so is this count


class RenderPool:
    """Idle-priority threads for renders, started on first use."""

    def __init__(self, workers: int = MAX_WORKERS) -> None:
        self._workers = workers
        self._executor: ThreadPoolExecutor | None = None

    async def run(self, fn: Callable[..., T], /, *args: object) -> T:
        """`fn(*args)` in a render thread; the loop answers requests meanwhile."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                self._workers, thread_name_prefix="render", initializer=_yield_to_the_loop
            )
        _RENDERING.enter()
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self._executor, partial(fn, *args)
            )
        finally:
            _RENDERING.leave()

    def shutdown(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None


def pool_ctx(pool: RenderPool) -> Callable[[web.Application], AsyncIterator[None]]:
    """The pool's threads end with the application."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        yield
        pool.shutdown()

    return ctx
