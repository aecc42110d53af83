"""The render cache: a look-up when fresh, one render per key, bounded in count and bytes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from feeds.web.caching import RenderCache, Rendered, make_rendered

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
