"""The query parameters every feed and calendar takes, applied to stored items. Pure."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from feeds.model import Event, Site, Stored
from feeds.occurrences import occurrences
from feeds.store import ItemQuery

MAX_LIMIT = 1000
FAR = timedelta(days=3660)  # how far ahead "upcoming" looks for the next occurrence


@dataclass(frozen=True, slots=True, kw_only=True)
class Filters:
    categories: tuple[str, ...] = ()  # any of them, case-insensitive
    regions: tuple[str, ...] = ()
    start: date | None = None  # `from`, inclusive
    end: date | None = None  # `to`, inclusive
    limit: int | None = None
    text: str | None = None  # `q`, case-insensitive substring
    sites: tuple[str, ...] = ()  # `site`: any of these groups
    near: tuple[float, float] | None = None  # groups within `radius_km` of this point
    radius_km: float = 25.0

    def window(self, zone: ZoneInfo) -> tuple[datetime | None, datetime | None]:
        """`from`/`to` as instants: from local midnight to the midnight after `to`."""
        low = datetime.combine(self.start, time(), zone) if self.start else None
        high = datetime.combine(self.end + timedelta(days=1), time(), zone) if self.end else None
        return low, high


def select_sites(sites: Sequence[Site], filters: Filters) -> list[Site]:
    """The groups `site`, `region` and `near` leave (each narrows; a group without a
    position is never near anything)."""
    chosen = list(sites)
    if filters.sites:
        wanted = set(filters.sites)
        chosen = [s for s in chosen if s.slug in wanted]
    if filters.regions:
        regions = {r.casefold() for r in filters.regions}
        chosen = [s for s in chosen if s.region and s.region.casefold() in regions]
    if filters.near is not None:
        point, radius = filters.near, filters.radius_km
        chosen = [s for s in chosen if s.geo and distance_km(point, s.geo) <= radius]
    return chosen


EARTH_RADIUS_KM = 6371.0088  # the mean radius (IUGG)


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance by the haversine formula: within a country, off by under
    0.5 % from the ellipsoid, far less than any radius a reader asks for."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def item_query(
    filters: Filters,
    sites: Sequence[str],
    zone: ZoneInfo,
    *,
    after: datetime | None = None,
    limit: int | None = None,
) -> ItemQuery:
    """What the store is asked for: the filters, with `from`/`to` as instants in `zone`.

    `after` stands in for a missing `from` (feeds of events list what is still to come).
    """
    low, high = filters.window(zone)
    return ItemQuery(
        sites=sites,
        categories=filters.categories,
        text=filters.text,
        after=low or after,
        before=high,
        limit=filters.limit or limit,
    )


@dataclass(frozen=True, slots=True)
class Scheduled:
    """An event with the occurrence that put it in the selection."""

    stored: Stored[Event]
    start: datetime
    end: datetime


def select_events(
    events: Iterable[Stored[Event]],
    filters: Filters,
    zone: ZoneInfo,
    *,
    now: datetime | None = None,
) -> list[Scheduled]:
    """Events with an occurrence in the window, by that occurrence's start.

    `events` are the store's candidates for `filters` (`item_query`): categories and text
    are matched there; here each series is placed by its occurrences.

    Without `from`, `now` (if given) starts the window: feeds list what is still to come.
    Calendars pass no `now` and keep the past, so subscribers keep their history.
    """
    low, high = filters.window(zone)
    low = low or now
    chosen = []
    for stored in events:
        event = stored.item
        if low is None and high is None:
            chosen.append(Scheduled(stored, event.start_instant(), event.end_instant()))
            continue
        after = low or event.start_instant()
        # Without `to`, look for the first occurrence up to FAR past whichever is later, the
        # window's start or the event's: `from=2000-01-01` still finds this year's events.
        horizon = high or max(after, event.start_instant()) + FAR
        first = next(occurrences(event, after, horizon), None)
        if first is not None:
            chosen.append(Scheduled(stored, *first))
    chosen.sort(key=lambda s: (s.start, s.stored.item.title))
    return chosen[: filters.limit] if filters.limit else chosen


LOOKBACK = timedelta(days=366)  # a yearly series has had an occurrence within a year
# Looked at nearest first: a dense series ends one within a day, each window a bounded walk.
LOOKBACKS = (timedelta(days=1), timedelta(days=31), LOOKBACK)


def _last_end_before(event: Event, now: datetime) -> datetime | None:
    for lookback in LOOKBACKS:
        ends = [end for _, end in occurrences(event, now - lookback, now) if end <= now]
        if ends:
            return max(ends)
    return None


def last_departure(events: Iterable[Stored[Event]], now: datetime) -> datetime | None:
    """When an occurrence last ended, up to `now`: an "upcoming" list changed then, with no
    item changing, so its Last-Modified must be at least that."""
    latest: datetime | None = None
    for stored in events:
        event = stored.item
        if event.rrule or event.rdates:
            end = _last_end_before(event, now)
        else:
            end = event.end_instant() if event.end_instant() <= now else None
        if end is not None and (latest is None or end > latest):
            latest = end
    return latest
