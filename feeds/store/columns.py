"""What the store keeps beside each item's JSON so that queries run on indexes.

Computed here once, from the item alone, for both stores: on every write and when a
migration fills them in for rows written before they existed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice

from feeds import codec
from feeds.model import Event, Item, Post
from feeds.occurrences import last_end, occurrences
from feeds.sanitize import html_to_text

# Fields are joined with a line break, which a search (one stripped line) never spans.
SEPARATOR = "\n"


@dataclass(frozen=True, slots=True)
class Columns:
    uuid: str  # the item's public id, for /{group}/events/{uuid}.ics
    series: str | None  # an event's iCalendar UID: a series and its overrides share it
    ends_at: datetime | None  # when the last occurrence ends; None: open-ended series
    recurring: bool
    search: str  # everything `q` looks in, case-folded
    categories: tuple[str, ...]  # case-folded, each once


def fold(text: str) -> str:
    """How `q` and `category` compare: Unicode case folding ("Straße" finds "STRASSE")."""
    return text.casefold()


def columns(item: Item) -> Columns:
    if isinstance(item, Post):
        texts = [item.title, item.summary, item.author]
        if item.content_html:
            texts.append(html_to_text(item.content_html))
        return Columns(
            uuid=str(item.uuid),
            series=None,
            ends_at=None,
            recurring=False,
            search=_search(texts, item.categories),
            categories=_categories(item.categories),
        )
    return _event_columns(item)


def _event_columns(event: Event) -> Columns:
    location = event.location.label() if event.location else None
    return Columns(
        uuid=str(event.uuid),
        series=event.ical_uid,
        ends_at=last_end(event),
        recurring=bool(event.rrule or event.rdates),
        search=_search(
            [event.title, event.description, location, event.organizer], event.categories
        ),
        categories=_categories(event.categories),
    )


def _search(texts: list[str | None], categories: tuple[str, ...]) -> str:
    return fold(SEPARATOR.join(t for t in (*texts, *categories) if t))


def _categories(categories: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sorted({fold(c) for c in categories}))


@dataclass(frozen=True, slots=True)
class Prepared:
    """An item ready to be written: everything that costs CPU, done before the write."""

    kind: str  # "post" or "event"
    item: Item
    digest: str  # codec.content_hash
    data: str  # codec.dumps
    columns: Columns
    dates: Dated | None = None  # a series' next dates (None: a single event, or a post)


# A series' dates are written for a year ahead, at most so many: a weekly one for a year,
# a daily one for two months; its source's reads write them anew before they run out.
DATED_AHEAD = timedelta(days=366)
DATED_MOST = 64
DATED_AGAIN = timedelta(days=30)  # written anew once they reach less far ahead than this


@dataclass(frozen=True, slots=True)
class Dated:
    """A series' occurrences overlapping [since, until): all of them, in order."""

    since: datetime
    until: datetime
    occurrences: tuple[tuple[datetime, datetime], ...]


def dated(event: Event, now: datetime) -> Dated | None:
    """The next dates of a series from `now`, by the expansion every view uses."""
    if not (event.rrule or event.rdates):
        return None
    horizon = now + DATED_AHEAD
    found = list(islice(occurrences(event, now, horizon), DATED_MOST + 1))
    until = horizon
    if len(found) > DATED_MOST:  # the rest from the first left out on, unknown here
        until = found[DATED_MOST][0]
        found = [o for o in found[:DATED_MOST] if o[0] < until]
    return Dated(now, until, tuple(found))


def prepare(items: list[Item], now: datetime) -> list[Prepared]:
    """Done outside the store's lock (and off the event loop): a write then holds the
    database only for its statements, not for JSON, hashing, text extraction and the
    expansion of series."""
    return [
        Prepared(
            "post" if isinstance(item, Post) else "event",
            item,
            codec.content_hash(item),
            codec.dumps(item),
            columns(item),
            dated(item, now) if isinstance(item, Event) else None,
        )
        for item in items
    ]
