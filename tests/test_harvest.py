"""Harvest: unchanged sources change nothing; a broken source is recorded, others go on."""

from __future__ import annotations

import shutil
from datetime import timedelta

import pytest

from feeds.config import Config, Settings
from feeds.harvest import Harvester, Outcome
from feeds.store import ItemQuery, open_store
from tests.helpers import LOCAL


async def test_a_second_harvest_of_unchanged_sources_changes_no_revision(
    settings: Settings, demo_config: Config
) -> None:
    store = await open_store(settings.database_url)
    bumps: list[int] = []
    harvester = Harvester(
        store, demo_config.network, demo_config.sources, on_revision=bumps.append, outbound=LOCAL
    )
    try:
        first = await harvester.run_once()
        assert [o.status for o in first] == ["ok", "ok"]
        revision = await store.revision()
        assert revision == 11  # ten items, and the copy of the demo's picture
        assert bumps
        assert max(bumps) == revision
        second = await harvester.run_once()
        assert [o.status for o in second] == ["not-modified", "not-modified"]
        assert await store.revision() == revision
        assert max(bumps) == revision
    finally:
        await store.close()


async def test_a_broken_source_keeps_its_items_and_does_not_stop_the_others(
    settings: Settings, demo_config: Config
) -> None:
    store = await open_store(settings.database_url)
    harvester = Harvester(store, demo_config.network, demo_config.sources, outbound=LOCAL)
    try:
        await harvester.run_once()
        before = [p.item for p in await store.posts(ItemQuery(sites=["kaiserslautern"]))]
        shutil.rmtree(settings.config_path.parent / "demo" / "kaiserslautern")
        outcomes = {o.site: o for o in await harvester.run_once()}
        assert outcomes["kaiserslautern"].status == "failed"
        assert outcomes["musterstadt"].status == "not-modified"
        state = await store.source_state("kaiserslautern", "demo")
        assert state.failures == 1
        assert state.last_error is not None
        assert state.last_error.endswith("kaiserslautern: the folder is missing")
        after = [p.item for p in await store.posts(ItemQuery(sites=["kaiserslautern"]))]
        assert after == before
    finally:
        await store.close()


@pytest.mark.parametrize("failures", [1, 2, 3, 10])
def test_failing_sources_back_off_exponentially_never_sooner_than_the_interval(
    demo_config: Config, failures: int
) -> None:
    harvester = Harvester(None, demo_config.network, demo_config.sources, outbound=LOCAL)  # type: ignore[arg-type]
    key = ("kaiserslautern", "demo")
    failed = Outcome(*key, "failed", error="down")
    delays = [harvester.delay_after(key, failed) for _ in range(failures)]
    expected = min(timedelta(minutes=15) * 2 ** (failures - 1), timedelta(hours=6))
    # Jitter only adds: even the first retry waits at least the interval.
    assert expected <= delays[-1] <= expected * 1.5
    assert harvester.delay_after(key, Outcome(*key, "ok")) == timedelta(minutes=15)
