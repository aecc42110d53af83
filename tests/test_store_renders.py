"""The store's shared renders (feeds/store/renders.py) on both databases: one claim per
view and revision, the bytes for everyone after, a dead maker's claim taken over, a stale
render made again, an older revision never waiting for a newer one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from feeds.store import RenderClaim, SharedRender, open_store

NOW = datetime(2026, 12, 5, 12, tzinfo=UTC)
LEASE = timedelta(seconds=30)


async def test_one_maker_per_view_and_revision(store_url: str) -> None:
    store = await open_store(store_url)
    try:
        claim = store.claim_render
        assert await claim("v", 7, "a", NOW, NOW + LEASE) is RenderClaim.MINE
        assert await claim("v", 7, "b", NOW, NOW + LEASE) is RenderClaim.BUSY
        assert await store.shared_render("v", 7, NOW.timestamp()) is None
        made = SharedRender('{"x": 1}', b"BEGIN:VCALENDAR", {"gzip": b"\x1f\x8b"})
        assert await store.keep_render("v", 7, "b", made) is False  # not b's to keep
        assert await store.keep_render("v", 7, "a", made) is True
        assert await store.shared_render("v", 7, NOW.timestamp()) == made
        assert await claim("v", 7, "b", NOW, NOW + LEASE) is RenderClaim.READY
        # A process that has not heard of revision 8 yet renders for itself.
        assert await claim("v", 8, "b", NOW, NOW + LEASE) is RenderClaim.MINE
        assert await claim("v", 7, "a", NOW, NOW + LEASE) is RenderClaim.ELSEWHERE
        assert await store.renders_made() == {"v": 1}
    finally:
        await store.close()


async def test_a_dead_makers_claim_runs_out_and_a_failed_one_is_given_up(store_url: str) -> None:
    store = await open_store(store_url)
    try:
        claim = store.claim_render
        assert await claim("v", 1, "dead", NOW, NOW + LEASE) is RenderClaim.MINE
        later = NOW + LEASE + timedelta(seconds=1)
        assert await claim("v", 1, "b", NOW, NOW + LEASE) is RenderClaim.BUSY
        assert await claim("v", 1, "b", later, later + LEASE) is RenderClaim.MINE
        await store.release_render("v", 1, "b")  # its render failed (a 404, a bug)
        assert await claim("v", 1, "c", later, later + LEASE) is RenderClaim.MINE
    finally:
        await store.close()


async def test_a_view_that_moves_with_the_clock_is_made_again(store_url: str) -> None:
    store = await open_store(store_url)
    try:
        claim = store.claim_render
        until = (NOW + timedelta(hours=1)).timestamp()
        assert await claim("v", 3, "a", NOW, NOW + LEASE) is RenderClaim.MINE
        await store.keep_render("v", 3, "a", SharedRender("{}", b"old", {}, until))
        assert await store.shared_render("v", 3, NOW.timestamp()) is not None
        later = NOW + timedelta(hours=2)
        assert await store.shared_render("v", 3, later.timestamp()) is None
        assert await claim("v", 3, "b", later, later + LEASE) is RenderClaim.MINE
        assert await store.keep_render("v", 3, "b", SharedRender("{}", b"new", {}))
        assert (await store.shared_render("v", 3, later.timestamp())).body == b"new"  # type: ignore[union-attr]
        assert await store.renders_made() == {"v": 2}
    finally:
        await store.close()
