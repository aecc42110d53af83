"""The domain keeps its promises: aware datetimes, sane ranges, stable ids, lossless storage."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feeds import codec
from feeds.model import Event, EventStatus, Image, Location, ModelError, Post, Price

BERLIN = ZoneInfo("Europe/Berlin")


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ModelError, match="start must be timezone-aware"):
        Event(site="s", source="x", external_id="1", title="t", start=datetime(2025, 3, 8, 20))
    with pytest.raises(ModelError, match="published"):
        Post(site="s", source="x", external_id="1", title="t", published=datetime(2025, 1, 1))


def test_end_before_start_and_mixed_kinds_are_refused() -> None:
    start = datetime(2025, 3, 8, 20, tzinfo=BERLIN)
    with pytest.raises(ModelError, match="before start"):
        Event(
            site="s",
            source="x",
            external_id="1",
            title="t",
            start=start,
            end=start - timedelta(minutes=1),
        )
    with pytest.raises(ModelError, match="both be dates"):
        Event(site="s", source="x", external_id="1", title="t", start=date(2025, 3, 8), end=start)


def test_ids_are_stable_and_distinct() -> None:
    one = Event(site="ks", source="demo", external_id="rock", title="a", start=date(2025, 3, 8))
    same = Event(site="ks", source="demo", external_id="rock", title="b", start=date(2026, 1, 1))
    other = Event(site="ks", source="other", external_id="rock", title="a", start=date(2025, 3, 8))
    assert one.ical_uid == same.ical_uid != other.ical_uid
    # Pinned: a subscriber's calendar matches events by this value forever.
    assert one.ical_uid == "e59eb4bf-cb1b-54c9-9bec-0ae88301209b"
    assert (
        Event(
            site="ks", source="d", external_id="x", title="t", start=date(2025, 1, 1), uid="up@x"
        ).ical_uid
        == "up@x"
    )


def test_all_day_instants_use_exclusive_ends() -> None:
    event = Event(
        site="s",
        source="x",
        external_id="1",
        title="t",
        start=date(2025, 9, 20),
        end=date(2025, 9, 21),
    )
    assert event.start_instant() == datetime(2025, 9, 20, tzinfo=BERLIN)
    assert event.end_instant() == datetime(2025, 9, 22, tzinfo=BERLIN)


texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
urls = st.from_regex(r"https://[a-z]{1,10}\.example/[A-Za-z0-9_.~%/-]{0,30}", fullmatch=True)
zones = st.sampled_from([BERLIN, ZoneInfo("America/New_York"), UTC])
moments = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1), timezones=zones
)


@st.composite
def events(draw: st.DrawFn) -> Event:
    start = draw(
        st.one_of(st.dates(min_value=date(1990, 1, 1), max_value=date(2090, 1, 1)), moments)
    )
    end = start + timedelta(hours=draw(st.integers(0, 100))) if draw(st.booleans()) else None
    if not isinstance(start, datetime) and end is not None:
        end = start + timedelta(days=draw(st.integers(0, 5)))
    return Event(
        site="s",
        source="x",
        external_id=draw(texts.filter(bool)),
        title=draw(texts),
        start=start,
        end=end,
        uid=draw(st.none() | texts),
        description=draw(st.none() | texts),
        location=draw(
            st.none()
            | st.builds(
                Location,
                name=st.none() | texts,
                address=st.none() | texts,
                geo=st.none() | st.tuples(st.floats(-90, 90), st.floats(-180, 180)),
            )
        ),
        rrule=draw(st.none() | st.just("FREQ=WEEKLY;BYDAY=TU")),
        exdates=tuple(draw(st.lists(moments, max_size=2))),
        status=draw(st.sampled_from(EventStatus)),
        categories=tuple(draw(st.lists(texts, max_size=3))),
        image=draw(st.none() | st.builds(Image, url=urls, alt=st.none() | texts)),
        extra=tuple(draw(st.lists(st.tuples(texts, texts), max_size=2))),
        price=draw(
            st.none()
            | st.builds(
                Price,
                text=texts,
                amount=st.none() | st.just("3.50"),
                currency=st.none() | st.just("EUR"),
                free=st.booleans(),
            )
        ),
    )


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "https://x.example/\r\nX-Injected: 1", "/relative", "data:,x"]
)
def test_urls_that_are_no_web_address_are_refused(url: str) -> None:
    with pytest.raises(ModelError, match="absolute http"):
        Image(url=url)
    with pytest.raises(ModelError, match="absolute http"):
        Post(site="s", source="x", external_id="1", title="t", url=url)


@pytest.mark.parametrize("geo", [(float("nan"), 1.0), (1.0, float("inf")), (91.0, 0.0)])
def test_positions_off_the_globe_are_refused(geo: tuple[float, float]) -> None:
    with pytest.raises(ModelError, match="geo"):
        Location(geo=geo)


@given(events())
def test_events_survive_the_codec_unchanged(event: Event) -> None:
    back = codec.loads(codec.dumps(event))
    assert back == event
    assert codec.content_hash(back) == codec.content_hash(event)
    if isinstance(event.start, datetime):
        assert back.start.tzinfo == event.start.tzinfo  # type: ignore[union-attr]


@given(texts, st.none() | moments)
def test_posts_survive_the_codec_unchanged(title: str, published: datetime | None) -> None:
    post = Post(
        site="s",
        source="x",
        external_id="1",
        title=title,
        published=published,
        categories=("a", "b"),
    )
    assert codec.loads(codec.dumps(post)) == post
