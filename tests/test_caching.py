"""The render cache: a look-up when fresh, one render per key, bounded in count and bytes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from aiohttp.test_utils import make_mocked_request

from feeds.config import Config, Settings
from feeds.model import Event, Network, Site
from feeds.store import open_store
from feeds.web.app import create_app
from feeds.web.cache import Hot, HotResponses, RenderCache, answers_key
from feeds.web.rendered import Rendered, make_rendered
from sources.base import Validators
from tests.conftest import Serve
from tests.helpers import get

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def rendered(body: bytes, revision: int = 1) -> Rendered:
    return make_rendered(body, "text/plain", NOW, revision)


async def answer(
    cache: RenderCache, key: Hashable, revision: int, render: Callable[[], Awaitable[Rendered]]
) -> Rendered:
    """What a route does: the kept answer, or its render kept."""
    async with cache.slot(key, revision) as slot:
        if slot.found is None:
            slot.keep(await render())
    return slot.rendered


async def test_concurrent_requests_share_one_render() -> None:
    cache = RenderCache()
    calls = 0

    async def render() -> Rendered:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        return rendered(b"x")

    results = await asyncio.gather(*(answer(cache, "k", 1, render) for _ in range(20)))
    assert calls == 1
    assert {r.etag for r in results} == {results[0].etag}
    assert await answer(cache, "k", 2, render) is not results[0]  # a new revision renders
    assert calls == 2


async def test_bounded_by_bytes_and_count() -> None:
    cache = RenderCache(max_entries=3, max_bytes=250)

    async def render_size(size: int) -> Rendered:
        return rendered(b"x" * size)

    for n in range(5):
        await answer(cache, n, 1, lambda n=n: render_size(100 + n))
    assert len(cache) == 2
    assert cache.size <= 250
    assert cache.get(4, 1) is not None
    assert cache.get(0, 1) is None


async def test_failed_renders_leave_nothing_behind() -> None:
    cache = RenderCache()

    async def missing() -> Rendered:
        raise LookupError("no such event")

    for n in range(100):
        with pytest.raises(LookupError):
            await answer(cache, ("event", n), 1, missing)
    assert len(cache) == 0
    assert not cache._locks  # no lock kept per 404


async def test_a_route_that_keeps_nothing_is_an_error_not_an_empty_answer() -> None:
    cache = RenderCache()
    with pytest.raises(LookupError, match="kept no render"):
        async with cache.slot("k", 1):
            pass
    assert len(cache) == 0
    assert not cache._locks


def _hot(revision: int, size: int) -> Hot:
    rendered = make_rendered(b"x" * size, "application/atom+xml", datetime.now(UTC), revision)
    return Hot(rendered.stamp, rendered.body, {}, {}, "/{site}/news.{fmt}")


def test_replayed_responses_are_bounded_in_bytes_and_let_go_of_old_revisions() -> None:
    hot = HotResponses(max_entries=100, max_bytes=250)
    requests = [make_mocked_request("GET", f"/g{n}/news.atom") for n in range(4)]
    for request in requests:
        hot.keep(request, _hot(1, 100))
    assert (len(hot), hot.size) == (2, 200)  # the oldest two went for the byte bound
    assert hot.answer(requests[0], 1) is None
    assert hot.answer(requests[3], 1) is not None
    assert hot.answer(requests[3], 2) is None  # a newer revision: not replayed, dropped
    hot.keep(requests[0], _hot(2, 10))
    assert (len(hot), hot.size) == (1, 10)  # a newer revision lets every older one go


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


async def test_distinct_queries_stay_within_the_cache_budget(
    database_url: str, serve: Serve, http: aiohttp.ClientSession
) -> None:
    """2,000 calendars asked with brotli, each by another `to` (as a hostile client would):
    every coding of every kept answer is counted, and memory stays within the budget."""
    start = datetime(2025, 1, 6, 19, tzinfo=ZoneInfo("Europe/Berlin"))
    events = [
        Event(
            site="victim",
            source="ics",
            external_id=f"e{n}",
            title=f"Treffen Nummer {n}",
            start=start + timedelta(days=n),
            description="Beschreibung " * 150,
        )
        for n in range(40)
    ]
    store = await open_store(database_url)
    await store.save_batch("victim", "ics", [], events, Validators(), datetime.now(UTC))
    await store.close()
    budget = 16 * 1024 * 1024
    app = create_app(
        Settings(database_url=database_url, cache_bytes=budget),
        Config(Network(name="N", sites=(Site(slug="victim", name="Opfer"),)), {}),
        harvest=False,
    )
    base = await serve(app)
    _, _, body = await get(http, f"{base}/victim/events.ics?to=2099-12-31")
    assert len(body) > 80_000  # each answer is worth keeping: 2,000 of them would be 160+ MB
    before = rss_mb()
    day = date(2026, 1, 1)
    for n in range(2000):
        status, headers, _ = await get(
            http,
            f"{base}/victim/events.ics?to={day + timedelta(days=n)}",
            **{"Accept-Encoding": "br"},
        )
        assert (status, headers["Content-Encoding"]) == (200, "br")
        held = app[answers_key].renders.size + app[answers_key].replays.size
        assert held <= budget, n
    assert rss_mb() - before < budget / 1024 / 1024 + 48
