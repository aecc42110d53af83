"""Wrong admin tokens are logged and slowed: a guesser from one address gets one try per
growing delay, not thousands a second."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator

from aiohttp import web

log = logging.getLogger(__name__)

FIRST_DELAY = 0.1  # seconds before answering the next try after one failure; doubles
MAX_DELAY = 2.0
FORGET_AFTER = 15 * 60.0  # seconds without a failure, and an address starts afresh
MAX_WAITING = 8  # tries from one address waiting their turn; more are turned away
MAX_ADDRESSES = 10_000  # addresses remembered, the least recent forgotten first


class TokenGuard:
    """Per address: one try at a time, each after a delay that doubles with every failure."""

    def __init__(self, first_delay: float = FIRST_DELAY, max_delay: float = MAX_DELAY) -> None:
        self.first_delay, self.max_delay = first_delay, max_delay
        self._failures: OrderedDict[str, tuple[int, float]] = OrderedDict()  # count, last
        self._turns: dict[str, asyncio.Lock] = {}
        self._waiting: dict[str, int] = {}

    @contextlib.asynccontextmanager
    async def turn(self, address: str) -> AsyncIterator[None]:
        """This address's turn, after its delay; 429 when too many of its tries wait."""
        if self._waiting.get(address, 0) >= MAX_WAITING:
            raise web.HTTPTooManyRequests(
                text="too many tries with a wrong token; wait and try again\n",
                headers={"Retry-After": str(int(self.max_delay) + 1)},
            )
        self._waiting[address] = self._waiting.get(address, 0) + 1
        lock = self._turns.setdefault(address, asyncio.Lock())
        try:
            async with lock:
                await asyncio.sleep(self.delay(address))
                yield
        finally:
            self._waiting[address] -= 1
            if not self._waiting[address]:
                del self._waiting[address]
                if not lock.locked():
                    self._turns.pop(address, None)

    def delay(self, address: str) -> float:
        count, last = self._failures.get(address, (0, 0.0))
        if not count or time.monotonic() - last > FORGET_AFTER:
            return 0.0
        return float(min(self.first_delay * 2 ** (count - 1), self.max_delay))

    def failed(self, address: str, request: web.Request) -> None:
        count, last = self._failures.pop(address, (0, 0.0))
        if time.monotonic() - last > FORGET_AFTER:
            count = 0
        self._failures[address] = (count + 1, time.monotonic())
        while len(self._failures) > MAX_ADDRESSES:
            self._failures.popitem(last=False)
        log.warning(
            "admin token refused: address=%s failures=%d path=%s agent=%r",
            address, count + 1, request.path, request.headers.get("User-Agent", ""),
        )  # fmt: skip

    def succeeded(self, address: str) -> None:
        self._failures.pop(address, None)
