"""The threads that decode rows and render, yielding to the thread that answers requests.

A service often has one core. A render holding that core makes every cached request wait
behind it: up to a scheduler slice (about 3 ms on Linux's EEVDF) plus the 5 ms the
interpreter lets a thread keep the GIL. So the worker threads run under SCHED_IDLE (they
get the core whenever the event loop does not want it, and give it back at once when it
does), and the GIL is handed over after 0.5 ms. Measured with `make bench`: a cached
request's p99 while another client asks for new filtered views went from 13x to 2-4x its
idle p99. The cost: while cached requests alone keep the core fully busy, renders
wait for a gap; they are the requests that can wait.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import weakref
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

log = logging.getLogger(__name__)

SWITCH_INTERVAL = 0.0005  # seconds a thread may hold the GIL while another waits for it
MAX_WORKERS = 8

_executors: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ThreadPoolExecutor] = (
    weakref.WeakKeyDictionary()
)


def _yield_to_the_loop() -> None:
    try:
        os.sched_setscheduler(threading.get_native_id(), os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError) as exc:  # not Linux, or not allowed: slower, not wrong
        log.debug("worker threads keep the normal scheduling policy: %s", exc)


async def workers_ctx(app: web.Application) -> AsyncIterator[None]:
    loop = asyncio.get_running_loop()
    if loop not in _executors:  # one pool per loop, however many apps it runs
        _executors[loop] = ThreadPoolExecutor(
            MAX_WORKERS, thread_name_prefix="render", initializer=_yield_to_the_loop
        )
        # The loop shuts it down when it closes (asyncio.run, aiohttp's run_app).
        loop.set_default_executor(_executors[loop])
    previous = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL)
    yield
    sys.setswitchinterval(previous)
