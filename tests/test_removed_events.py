"""What upstream removed is not served forever (issue 18).

An event missing from two complete reads of its source in a row leaves every feed,
calendar and page; a partial read, or an event before the window a read covers, counts
for nothing; listed again, the event comes back. Checked on both stores, and end to end:
a group deletes an event from its calendar, and a subscriber's client (icalendar) sees
it gone.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import icalendar
import pytest
from aiohttp import web

from feeds.config import Config, Settings
from feeds.harvest import Harvester
from feeds.model import Coverage, Event, Network, Post, Site, SourceConfig
from feeds.store import ItemQuery, open_store
from feeds.store.presence import KEEP_POSTS, KEEP_REMOVED
from feeds.web.app import create_app
from sources.base import SourceContext, Validators
from sources.ical import ICalSource
from tests.conftest import Serve
from tests.helpers import LOCAL, get
from tests.upstream import Upstream

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 12, 4, 12, tzinfo=UTC)


def event(name: str, days: int) -> Event:
    return Event(
        site="ks", source="cal", external_id=name, title=name,
        start=datetime(2027, 1, 1, 19, tzinfo=BERLIN) + timedelta(days=days),
    )  # fmt: skip


async def titles(store_url: str) -> list[str]:
    store = await open_store(store_url)
    try:
        return [e.item.title for e in await store.events(ItemQuery(sites=["ks"]))]
    finally:
        await store.close()


async def test_an_event_missing_from_two_complete_reads_is_removed(store_url: str) -> None:
    store = await open_store(store_url)
    whole = Coverage()

    async def read(*events: Event, coverage: Coverage | None = whole, at: int = 0) -> int:
        batch = await store.save_batch(
            "ks", "cal", [], list(events), Validators(), NOW + timedelta(hours=at),
            coverage=coverage,
        )  # fmt: skip
        return batch.removed

    try:
        a, b = event("A", 0), event("B", 1)
        assert await read(a, b) == 0
        assert await read(a, at=1) == 0  # missing once: a site mid-edit
        assert [e.item.title for e in await store.events(ItemQuery(sites=["ks"]))] == ["A", "B"]
        revision = await store.revision()
        assert await read(a, at=2) == 1  # missing twice: gone
        assert [e.item.title for e in await store.events(ItemQuery(sites=["ks"]))] == ["A"]
        assert await store.revision() > revision
        # The view lost an event then: Last-Modified must move, though no shown item changed.
        assert await store.latest_end(ItemQuery(sites=["ks"]), None) == NOW + timedelta(hours=2)
        counts = await store.item_counts()
        assert counts["ks", "event"] == 1
        # Listed again, it comes back as it was.
        again = await store.save_batch(
            "ks", "cal", [], [a, b], Validators(), NOW + timedelta(hours=3), coverage=whole
        )
        assert (again.changed, again.removed) == (1, 0)
        assert [e.item.title for e in await store.events(ItemQuery(sites=["ks"]))] == ["A", "B"]
    finally:
        await store.close()


async def test_partial_reads_and_window_edges_remove_nothing(store_url: str) -> None:
    store = await open_store(store_url)
    try:
        a, b, c = event("A", 0), event("B", 1), event("C", 30)
        await store.save_batch("ks", "cal", [], [a, b, c], Validators(), NOW, coverage=Coverage())
        for hour in (1, 2, 3):  # a later page failed: nothing is judged missing
            await store.save_batch(
                "ks", "cal", [], [a], Validators(), NOW + timedelta(hours=hour), coverage=None
            )
        # A read from a later day on (The Events Calendar's start_date): B and A are before
        # it and say nothing; C is inside it and missing.
        window = Coverage(since=c.start_instant() - timedelta(days=1))
        for hour in (4, 5):
            await store.save_batch(
                "ks", "cal", [], [], Validators(), NOW + timedelta(hours=hour), coverage=window
            )
        shown = [e.item.title for e in await store.events(ItemQuery(sites=["ks"]))]
        assert shown == ["A", "B"]
    finally:
        await store.close()


CALENDAR = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//Gruppe//DE\r
{events}END:VCALENDAR\r
"""
VEVENT = """BEGIN:VEVENT\r
UID:{uid}@gruppe.example\r
DTSTAMP:20261201T100000Z\r
DTSTART;TZID=Europe/Berlin:2027010{day}T190000\r
DTEND;TZID=Europe/Berlin:2027010{day}T210000\r
SUMMARY:{title}\r
END:VEVENT\r
"""


async def test_an_event_deleted_upstream_leaves_the_subscribed_calendar(
    upstream: Upstream, tmp_path: Path, serve: Serve, http: aiohttp.ClientSession
) -> None:
    listed = {"chor": ("Chorprobe", 4), "fest": ("Sommerfest", 5)}

    async def calendar(request: web.Request) -> web.Response:
        events = "".join(
            VEVENT.format(uid=uid, title=title, day=day) for uid, (title, day) in listed.items()
        )
        return web.Response(text=CALENDAR.format(events=events), content_type="text/calendar")

    upstream.add("/termine.ics", calendar)
    context = SourceContext(
        site="ks", source="cal", timezone="Europe/Berlin", homepage=None, config_dir=tmp_path
    )
    sources = {
        ("ks", "cal"): ICalSource.from_config(context, {"url": upstream.base + "/termine.ics"})
    }
    site = Site(slug="ks", name="KS", sources=(SourceConfig(name="cal", kind="ical"),))
    network = Network(name="N", sites=(site,))
    database_url = f"sqlite:///{tmp_path / 'feeds.sqlite3'}"
    store = await open_store(database_url)
    harvester = Harvester(store, network, sources, outbound=LOCAL)
    base = await serve(
        create_app(
            Settings(database_url=database_url), Config(network, sources), harvest=False,
            revision_poll=0.01,
        )
    )  # fmt: skip

    async def subscribed() -> tuple[set[str], str, str]:
        _, headers, body = await get(http, f"{base}/ks/events.ics")
        uids = {str(e["UID"]) for e in icalendar.Calendar.from_ical(body).walk("VEVENT")}
        return uids, headers["ETag"], headers["Last-Modified"]

    async def harvest() -> None:
        [outcome] = await harvester.run_once()
        assert outcome.status == "ok", outcome.error
        await asyncio.sleep(0.1)  # the app follows the store's revision

    try:
        await harvest()
        before, etag, first_modified = await subscribed()
        assert before == {"chor@gruppe.example", "fest@gruppe.example"}
        del listed["fest"]  # the group deletes its summer party
        await harvest()
        assert (await subscribed())[0] == before  # one read without it: kept (mid-edit?)
        await asyncio.sleep(1.1)  # Last-Modified counts whole seconds
        await harvest()
        after, new_etag, modified = await subscribed()
        assert after == {"chor@gruppe.example"}
        assert new_etag != etag
        assert parsedate_to_datetime(modified) > parsedate_to_datetime(first_modified)
        state = await store.source_state("ks", "cal")
        assert state.items == 1
    finally:
        await store.close()


async def test_removed_events_are_kept_a_month_then_let_go(store_url: str) -> None:
    store = await open_store(store_url)
    try:
        a, b = event("A", 0), event("B", 1)
        for hours in (0, 1, 2):  # B is gone from the second read on: removed at the third
            listed = [a, b] if hours == 0 else [a]
            await store.save_batch(
                "ks", "cal", [], listed, Validators(), NOW + timedelta(hours=hours),
                coverage=Coverage(),
            )  # fmt: skip
        query = ItemQuery(sites=["ks"])
        assert await store.latest_end(query, None) == NOW + timedelta(hours=2)
        later = NOW + KEEP_REMOVED + timedelta(hours=3)
        await store.save_batch("ks", "cal", [], [a], Validators(), later, coverage=Coverage())
        assert await store.latest_end(query, None) is None  # B's row is gone
        again = await store.save_batch(
            "ks", "cal", [], [a, b], Validators(), later, coverage=Coverage()
        )
        assert again.new == 1  # listed again after that, it is new
    finally:
        await store.close()


async def test_a_source_inventing_ids_keeps_its_newest_posts_only(store_url: str) -> None:
    """An upstream that invents fresh ids at every read cannot grow the store without end:
    the store keeps a source's newest posts (FEEDS_KEEP_POSTS; 100 here)."""
    store = await open_store(store_url)
    keep = Settings.from_env({"FEEDS_KEEP_POSTS": "100"}).keep
    assert keep.posts == 100

    def posts(first: int, count: int) -> list[Post]:
        return [
            Post(
                site="ks",
                source="feed",
                external_id=f"invented-{n}",
                title=f"Beitrag {n}",
                published=NOW - timedelta(days=1000) + timedelta(days=n),
            )
            for n in range(first, first + count)
        ]

    try:
        for first in (0, 80, 160):  # three reads of 80 posts, each with new ids
            await store.save_batch("ks", "feed", posts(first, 80), [], Validators(), NOW, keep=keep)
        counts = await store.item_counts()
        assert counts["ks", "post"] == 100
        kept = await store.posts(ItemQuery(sites=["ks"]))
        assert {p.item.external_id for p in kept} == {f"invented-{n}" for n in range(140, 240)}
    finally:
        await store.close()


def test_what_the_store_keeps_is_a_setting() -> None:
    assert Settings.from_env({}).keep.posts == KEEP_POSTS
    assert Settings.from_env({"FEEDS_KEEP_REMOVED_DAYS": "7"}).keep.removed == timedelta(days=7)
    with pytest.raises(ValueError, match="FEEDS_KEEP_POSTS"):
        Settings.from_env({"FEEDS_KEEP_POSTS": "zehn"})
