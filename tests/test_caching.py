"""The render cache: a look-up when fresh, one render per key, bounded in count and bytes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from aiohttp.test_utils import make_mocked_request

from feeds.web.caching import RenderCache, Rendered, make_rendered
from feeds.web.hot import Hot, HotResponses

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def rendered(body: bytes, revision: int = 1) -> Rendered:
    return make_rendered(body, "text/plain", NOW, revision)


async def test_concurrent_requests_share_one_render() -> None:
    cache = RenderCache()
    calls = 0

    async def render() -> Rendered:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        return rendered(b"x")

    results = await asyncio.gather(*(cache.get_or_render("k", 1, render) for _ in range(20)))
    assert calls == 1
    assert {r.etag for r in results} == {results[0].etag}
    assert await cache.get_or_render("k", 2, render) is not results[0]  # a new revision renders
    assert calls == 2


async def test_bounded_by_bytes_and_count() -> None:
    cache = RenderCache(max_entries=3, max_bytes=250)

    async def render_size(size: int) -> Rendered:
        return rendered(b"x" * size)

    for n in range(5):
        await cache.get_or_render(n, 1, lambda n=n: render_size(100 + n))
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
            await cache.get_or_render(("event", n), 1, missing)
    assert len(cache) == 0
    assert not cache._locks  # no lock kept per 404


def _hot(revision: int, size: int) -> Hot:
    rendered = make_rendered(b"x" * size, "application/atom+xml", datetime.now(UTC), revision)
    return Hot(rendered, rendered.body, {}, {}, "/{site}/news.{fmt}")


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
