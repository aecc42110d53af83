"""Where documents are parsed: in worker processes, each parse with a budget of time.

A parse is pure CPU on bytes a stranger sent. In a thread it holds the interpreter's lock
against the requests the service answers, and it cannot be stopped. In a worker process
(pebble's ProcessPool) it runs on its own core, and a parse over its budget is stopped by
ending its process: the source fails in words, its earlier items are kept, and the next
parse gets a fresh worker.

The harvester opens the pool (`parse_pool`) for as long as it runs; adapters call
`parse(...)`, which uses the pool of the harvest that runs them, or a thread where there
is none (an adapter called on its own, as the tests and `feeds discover` do).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import multiprocessing
import os
import resource
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import TimeoutError as FutureTimeoutError
from typing import ParamSpec, TypeVar

from pebble import ProcessExpired, ProcessPool

from sources.base import SourceError

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

# A group's calendar of thousands of events parses in a second or two; a minute of a
# core is a document no one should have to read.
PARSE_SECONDS = 60.0
START_SECONDS = 60.0  # for the workers to start (the fork server loads the readers)
# A worker's address space: a document that needs more is no group's feed or calendar.
WORKER_MEMORY = 2 * 1024**3
# Modules the workers need, imported once in the fork server rather than in every worker.
PRELOAD = [
    "sources.feed", "sources.ical", "sources.tribe_events", "sources.wordpress",
    "sources.html", "sources.jsonld", "sources.files",
]  # fmt: skip


class _Workers:
    """The pool of one harvest, its processes started on its first document."""

    def __init__(self, workers: int, budget: float) -> None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        self.budget = budget
        self.pool = ProcessPool(
            max_workers=workers,
            initializer=_limit_memory,
            initargs=(WORKER_MEMORY,),
            context=context,
        )
        self._started = asyncio.Lock()
        self._ready = False

    async def ready(self) -> ProcessPool:
        """The pool, its workers running. They start on its first task, and the first
        start in a process waits for the fork server to load the readers (half a second):
        done once, off the event loop, and only by a harvest that has a document to read
        (a group of local files, such as the demo, never starts them)."""
        if not self._ready:
            async with self._started:
                if not self._ready:
                    await self._start()
                    self._ready = True
        return self.pool

    async def _start(self) -> None:
        # In a thread of its own, a daemon: a harvest stopped while the workers start
        # (SIGTERM in the first second) must not wait for them, and neither must the
        # interpreter's exit (the loop's default executor would join the thread).
        loop = asyncio.get_running_loop()
        started: asyncio.Future[None] = loop.create_future()

        def start() -> None:
            error: BaseException | None = None
            try:
                self.pool.schedule(_ready).result(timeout=START_SECONDS)
            except BaseException as exc:  # handed to the harvest that waits for it
                error = exc
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(_settle, started, error)

        threading.Thread(target=start, name="parse workers", daemon=True).start()
        await started


_workers: contextvars.ContextVar[_Workers | None] = contextvars.ContextVar(
    "parse_workers", default=None
)


@contextlib.asynccontextmanager
async def parse_pool(
    workers: int | None = None, budget: float = PARSE_SECONDS, *, warm: bool = False
) -> AsyncIterator[None]:
    """Parses in this context (and the tasks it starts) run in worker processes. `warm`:
    start them now, while the first documents are still being fetched (a harvest that
    will read documents); else on the first document. Inside another parse pool's
    context, that one is used: a long-running harvester keeps its workers."""
    if _workers.get() is not None:
        yield
        return
    held = _Workers(workers or os.cpu_count() or 2, budget)
    token = _workers.set(held)
    warming = asyncio.create_task(held.ready()) if warm else None
    if warming is not None:
        # A failed start is the first parse's error (it starts them again): not lost here.
        warming.add_done_callback(lambda task: task.cancelled() or task.exception())
    try:
        yield
    finally:
        if warming is not None:
            warming.cancel()
        _workers.reset(token)
        # Workers still parsing are ended, in the background: whoever stops the harvest
        # (a shutdown, a cancelled task) does not wait for them.
        held.pool.stop()  # type: ignore[no-untyped-call]
        threading.Thread(target=held.pool.join, args=(5,), name="parse pool", daemon=True).start()


async def parse(where: str, function: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """`function(*args, **kwargs)` off the event loop: in the harvest's worker processes,
    within the parse budget, else in a thread. `where` names the document in errors."""
    held = _workers.get()
    if held is None:
        return await asyncio.to_thread(function, *args, **kwargs)
    pool = await held.ready()
    budget = held.budget
    future = pool.schedule(function, args=args, kwargs=kwargs, timeout=budget)
    try:
        return await asyncio.wrap_future(future)
    except FutureTimeoutError:
        raise SourceError(
            f"{where}: reading it took more than {budget:.0f} s of a processor, more than any"
            " group's feed or calendar needs: stopped; its earlier items are kept"
        ) from None
    except MemoryError:
        raise SourceError(
            f"{where}: reading it needed more than {WORKER_MEMORY // 1024**3} GB of memory,"
            " more than any group's feed or calendar needs: stopped; its earlier items are kept"
        ) from None
    except ProcessExpired as exc:
        raise SourceError(
            f"{where}: reading it ended the process that read it ({exc});"
            " its earlier items are kept"
        ) from None
    except asyncio.CancelledError:
        # The worker is ended: a stopped harvest leaves no parse behind.
        future.cancel()  # type: ignore[no-untyped-call]
        raise


async def warmed() -> None:
    """Wait for the workers of the parse pool of this context to run (none: no wait)."""
    held = _workers.get()
    if held is not None:
        await held.ready()


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():  # the harvest was stopped meanwhile
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


def _ready() -> None:
    """A task that does nothing: it starts the workers."""


def _limit_memory(limit: int) -> None:
    """In each worker: its address space bounded, so a document that would take all the
    machine's memory raises MemoryError there instead."""
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
