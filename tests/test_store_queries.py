"""Filters run in the database (feeds/store/query.py) give what the filters mean.

One generated network of posts and events (single, all-day, open-ended and counted series,
exceptions, overrides, equal start times, categories in mixed case, text with umlauts,
quotes and LIKE wildcards) is written to a real SQLite file and a real PostgreSQL schema;
hypothesis then asks both with random filters and compares with the meaning written out
here in plain Python, over every item.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feeds import codec
from feeds.filters import Filters, Scheduled, item_query, select_events
from feeds.model import Event, Location, Post, Stored
from feeds.sanitize import html_to_text
from feeds.store import ItemQuery, Store, open_store
from feeds.store.migrations import migrations
from sources.base import Validators
from tests.conftest import fresh_postgres_schema

BERLIN = ZoneInfo("Europe/Berlin")
SITES = ("ks", "ms", "ka")
CATEGORIES = ("Kultur", "KULTUR", "Sport", "Straße", "STRASSE", "Café", "Netz_werk")
ASKED_CATEGORIES = (*CATEGORIES, "nul\x00")
WORDS = ("Sommerfest", "Café", "Grüße", "50%", "a_b", 'Zitat "x"', "Rock", "ß", "im", "x*y (AND)")
NEEDLES = ("sommer", "FEST", "café", "grüsse", "50%", "%", "_", "a_b", '"x"', "ro", "ß", "ss")
NEEDLES += ("rock rising", "zzz", "m", "kultur", "netz_werk", "e.v.", "x*y (and", "y (")
NEEDLES += ("a\x00b", "\x00\x00\x00")  # the web refuses these; the store must not fail
NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)


def _network() -> tuple[list[Post], list[Event]]:
    rng = random.Random(20250308)
    posts, events = [], []
    for n in range(160):
        words = rng.sample(WORDS, 2)
        posts.append(
            Post(
                site=rng.choice(SITES),
                source="s",
                external_id=f"p{n}",
                title=f"{words[0]} {n}",
                summary=rng.choice([None, words[1]]),
                content_html=rng.choice([None, f"<p>Text <b>{words[1]}</b></p>", "<div>x</div>"]),
                author=rng.choice([None, "Rock Rising e.V."]),
                categories=tuple(rng.sample(CATEGORIES, rng.randint(0, 2))),
                # Some share a date, some have none (dated by when first seen).
                published=rng.choice(
                    [None, datetime(2025, 1, 1, tzinfo=BERLIN) + timedelta(days=rng.randint(0, 9))]
                ),
            )
        )
    for n in range(160):
        day = date(2025, 5, 1) + timedelta(days=rng.randint(0, 90))
        start: date | datetime
        shape = rng.choice(
            ["single", "single", "allday", "weekly", "count", "until", "rdate", "daily"]
        )
        if shape == "allday":
            start, end = day, day + timedelta(days=rng.randint(0, 2))
        else:
            start = datetime(day.year, day.month, day.day, rng.choice([10, 20]), tzinfo=BERLIN)
            end = start + timedelta(hours=rng.choice([0, 2, 30]))
        rule = {
            "weekly": "FREQ=WEEKLY",
            "count": f"FREQ=DAILY;COUNT={rng.randint(1, 20)}",
            "until": "FREQ=WEEKLY;UNTIL=20250715T000000Z",
            "daily": "FREQ=DAILY",  # past the 64 dates written ahead (series_dates)
        }.get(shape)
        if shape == "until" and isinstance(start, date) and not isinstance(start, datetime):
            rule = "FREQ=WEEKLY;UNTIL=20250715"
        words = rng.sample(WORDS, 2)
        event = Event(
            site=rng.choice(SITES),
            source="s",
            external_id=f"e{n}",
            uid=f"uid-{n}",
            title=f"{words[0]} {n % 7}",  # equal titles and starts meet at the limit
            start=start,
            end=end,
            description=rng.choice([None, words[1]]),
            location=rng.choice([None, Location(name="Kammgarn")]),
            rrule=rule,
            rdates=(start + timedelta(days=40),) if shape == "rdate" else (),
            exdates=(start + timedelta(days=7),) if shape == "weekly" else (),
            categories=tuple(rng.sample(CATEGORIES, rng.randint(0, 2))),
        )
        events.append(event)
        if shape == "weekly" and rng.random() < 0.5 and isinstance(start, datetime):
            moved = start + timedelta(days=14)
            events.append(
                Event(
                    site=event.site,
                    source="s",
                    external_id=f"e{n}-override",
                    uid=event.uid,
                    title="Verlegt",
                    start=moved + timedelta(hours=1),
                    recurrence_id=moved,
                )
            )
    for n in range(12):  # single events far ahead, so that a view months on has a cut
        start = datetime(2025, 9, 1, 18, tzinfo=BERLIN) + timedelta(days=30 * n)
        events.append(
            Event(
                site=SITES[n % len(SITES)],
                source="s",
                external_id=f"later{n}",
                uid=f"later-{n}",
                title=f"Später {n}",
                start=start,
                end=start + timedelta(hours=2),
            )
        )
    return posts, events


POSTS, EVENTS = _network()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def filled(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[asyncio.AbstractEventLoop, Store]]:
    """One store per backend for the whole module, driven from its own event loop."""
    loop = asyncio.new_event_loop()
    schema = fresh_postgres_schema()
    try:
        if request.param == "postgres":
            url = loop.run_until_complete(schema.__aenter__())
        else:
            url = f"sqlite:///{tmp_path_factory.mktemp('queries') / 'store.sqlite3'}"
        store = loop.run_until_complete(open_store(url))
        for site in SITES:
            loop.run_until_complete(
                store.save_batch(
                    site,
                    "s",
                    [p for p in POSTS if p.site == site],
                    [e for e in EVENTS if e.site == site],
                    Validators(),
                    NOW,
                )
            )
        yield loop, store
        loop.run_until_complete(store.close())
        if request.param == "postgres":
            loop.run_until_complete(schema.__aexit__(None, None, None))
    finally:
        loop.close()


def _searchable(item: Post | Event) -> list[str]:
    if isinstance(item, Post):
        content = html_to_text(item.content_html) if item.content_html else None
        return [t for t in (item.title, item.summary, content, item.author) if t]
    location = item.location.label() if item.location else None
    return [t for t in (item.title, item.description, location, item.organizer) if t]


def _matches(item: Post | Event, filters: Filters, sites: tuple[str, ...] | None) -> bool:
    """What the filters mean, over one item: the specification the SQL must meet."""
    if sites is not None and item.site not in sites:
        return False
    wanted = {c.casefold() for c in filters.categories}
    if wanted and not wanted & {c.casefold() for c in item.categories}:
        return False
    if filters.text:
        needle = filters.text.casefold()
        if not any(needle in t.casefold() for t in [*_searchable(item), *item.categories]):
            return False
    return True


def _post_date(stored: Stored[Post]) -> datetime:
    return stored.item.published or stored.item.updated or stored.first_seen


filter_values = st.builds(
    Filters,
    categories=st.lists(st.sampled_from(ASKED_CATEGORIES), max_size=2).map(
        lambda c: tuple(sorted(set(c)))
    ),
    start=st.none() | st.dates(date(2024, 12, 25), date(2025, 9, 1)),
    end=st.none() | st.dates(date(2025, 1, 1), date(2025, 12, 31)),
    limit=st.none() | st.integers(1, 30),
    text=st.none() | st.sampled_from(NEEDLES),
)
site_values = st.none() | st.lists(st.sampled_from(SITES), max_size=3).map(
    lambda s: tuple(sorted(set(s)))
)
QUICK = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@QUICK
@given(filters=filter_values, sites=site_values)
def test_posts_are_what_the_filters_mean(
    filled: tuple[asyncio.AbstractEventLoop, Store], filters: Filters, sites: tuple[str, ...] | None
) -> None:
    loop, store = filled
    wanted = SITES if sites is None else sites
    everything = loop.run_until_complete(store.posts(ItemQuery()))
    low, high = filters.window(BERLIN)
    expected = [
        s
        for s in everything
        if _matches(s.item, filters, wanted)
        and (low is None or _post_date(s) >= low)
        and (high is None or _post_date(s) < high)
    ][: filters.limit]
    got = loop.run_until_complete(store.posts(item_query(filters, wanted, BERLIN)))
    assert [s.item.external_id for s in got] == [s.item.external_id for s in expected]


def _key(chosen: list[Scheduled]) -> list[tuple[str, datetime]]:
    return [(s.stored.item.external_id, s.start) for s in chosen]


@QUICK
@given(
    filters=filter_values,
    sites=site_values,
    # Harvested at NOW: its series' dates written from then, a daily one's for 64 days.
    now=st.none()
    | st.sampled_from(
        [NOW, NOW + timedelta(days=40), NOW - timedelta(days=60), NOW + timedelta(days=100)]
    ),
)
def test_events_chosen_from_the_store_are_what_the_filters_mean(
    filled: tuple[asyncio.AbstractEventLoop, Store],
    filters: Filters,
    sites: tuple[str, ...] | None,
    now: datetime | None,
) -> None:
    """The store narrows to candidates; choosing among them equals choosing among all."""
    loop, store = filled
    wanted_sites = SITES if sites is None else sites
    everything = loop.run_until_complete(store.events(ItemQuery()))
    matching = [s for s in everything if _matches(s.item, filters, wanted_sites)]
    expected = select_events(matching, filters, BERLIN, now=now)[: filters.limit]
    query = item_query(filters, wanted_sites, BERLIN, after=now)
    candidates = loop.run_until_complete(store.events(query))
    got = select_events(candidates, filters, BERLIN, now=now)[: filters.limit]
    assert _key(got) == _key(expected)


@pytest.mark.parametrize("days", [-60, 0, 40, 100, 400])
@pytest.mark.parametrize("limit", [1, 5, 20])
def test_the_soonest_events_come_from_few_candidates(
    filled: tuple[asyncio.AbstractEventLoop, Store], days: int, limit: int
) -> None:
    """What a network's feed asks (the next `limit` from now, no other filter): the same
    as choosing among every event, from the store's candidates. Once the harvest has
    written the series' next dates (at NOW), the series handed over to be expanded are
    those with a date before the cut (the `limit`-th single event's start), not all;
    a daily one also where its 64 dates written end before the cut. Before the harvest
    (-60 days) and a year on, every series that may still have a date goes in."""
    loop, store = filled
    now, filters = NOW + timedelta(days=days), Filters(limit=limit)
    everything = loop.run_until_complete(store.events(ItemQuery()))
    expected = select_events(everything, filters, BERLIN, now=now)[:limit]
    query = item_query(filters, SITES, BERLIN, after=now)
    candidates = loop.run_until_complete(store.events(query))
    got = select_events(candidates, filters, BERLIN, now=now)[:limit]
    assert _key(got) == _key(expected)
    if not 0 <= days <= 40:
        return
    singles = sorted(
        s.item.start_instant()
        for s in everything
        if not (s.item.rrule or s.item.rdates) and s.item.end_instant() > now
    )
    if len(singles) < limit:  # no cut: every series may be among them
        return
    cut = singles[limit - 1]
    series = [s for s in everything if s.item.rrule or s.item.rdates]
    near = {
        s.stored.item.external_id
        for s in select_events(series, Filters(), BERLIN, now=now)
        if s.start <= cut
    }
    daily = {s.item.external_id for s in series if s.item.rrule == "FREQ=DAILY"}
    handed = {s.item.external_id for s in candidates if s.item.rrule or s.item.rdates}
    assert near <= handed <= near | daily


@QUICK
@given(sites=site_values, until=st.sampled_from([NOW, NOW + timedelta(days=30)]))
def test_latest_end_is_the_last_end_before_then(
    filled: tuple[asyncio.AbstractEventLoop, Store], sites: tuple[str, ...] | None, until: datetime
) -> None:
    loop, store = filled
    wanted = SITES if sites is None else sites
    singles = [
        e.item.end_instant()
        for e in loop.run_until_complete(store.events(ItemQuery(sites=wanted)))
        if not (e.item.rrule or e.item.rdates) and e.item.end_instant() <= until
    ]
    got = loop.run_until_complete(store.latest_end(ItemQuery(sites=wanted), until))
    # Finite series count too (by their last end); at least every single event's end.
    assert got is None if not singles else got is not None and got >= max(singles)
    assert got is None or got <= until


def test_one_event_and_its_series_by_key(
    filled: tuple[asyncio.AbstractEventLoop, Store],
) -> None:
    loop, store = filled
    override = next(e for e in EVENTS if e.recurrence_id is not None)
    [found] = loop.run_until_complete(store.events(ItemQuery(ids=(str(override.uuid),))))
    assert found.item == override
    series = loop.run_until_complete(store.events(ItemQuery(series=(override.ical_uid,))))
    assert sorted(s.item.external_id for s in series) == sorted(
        e.external_id for e in EVENTS if e.uid == override.uid
    )
    assert loop.run_until_complete(store.events(ItemQuery(ids=("no-such-id",)))) == []


OLD_POST = Post(
    site="ks",
    source="s",
    external_id="old",
    title="Sommerfest 2024",
    categories=("Kultur",),
    published=datetime(2024, 7, 1, tzinfo=BERLIN),
)


def _old_row(placeholders: str) -> tuple[str, tuple[object, ...]]:
    return (
        "INSERT INTO items (kind, site, source, external_id, data, content_hash, sort_at,"
        f" first_seen, changed, revision) VALUES ({placeholders})",
        (
            "post",
            OLD_POST.site,
            "s",
            OLD_POST.external_id,
            codec.dumps(OLD_POST),
            "x",
            "2025-01-01T00:00:00.000000Z",
            "2025-01-01T00:00:00.000000Z",
            "2025-01-01T00:00:00.000000Z",
            1,
        ),
    )


async def _read_old(url: str) -> list[Stored[Post]]:
    store = await open_store(url)
    try:
        query = ItemQuery(
            text=OLD_POST.title.split()[0], ids=(str(OLD_POST.uuid),), categories=("kultur",)
        )
        return await store.posts(query)
    finally:
        await store.close()


def test_sqlite_rows_written_before_the_query_columns_get_them(tmp_path: Path) -> None:
    """Migration 0004 on a file written by the schema before it: columns filled in."""
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY)")
    for version, sql in migrations("sqlite"):
        if version < 4:
            db.executescript(sql)
            db.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
    db.execute(*_old_row(", ".join("?" * 10)))
    db.close()
    assert [s.item for s in asyncio.run(_read_old(f"sqlite:///{path}"))] == [OLD_POST]


async def test_postgres_rows_written_before_the_query_columns_get_them() -> None:
    async with fresh_postgres_schema() as url:
        db = await asyncpg.connect(url)
        try:
            await db.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY)")
            for version, sql in migrations("postgres"):
                if version < 4:
                    await db.execute(sql)
                    await db.execute("INSERT INTO schema_version (version) VALUES ($1)", version)
            sql, values = _old_row(", ".join(f"${n}" for n in range(1, 11)))
            stamp = datetime(2025, 1, 1, tzinfo=UTC)
            await db.execute(sql, *values[:6], stamp, stamp, stamp, 1)
        finally:
            await db.close()
        assert [s.item for s in await _read_old(url)] == [OLD_POST]
