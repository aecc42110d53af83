"""The domain: sites, their posts and events. Frozen, timezone-aware, with stable ids."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

from feeds.sanitize import safe_url

DEFAULT_TIMEZONE = "Europe/Berlin"

# Ids must not depend on the server's address (DESIGN.md): a UUIDv5 over
# (site, source, external id) in a namespace of our own is stable forever.
_ID_NAMESPACE = uuid.UUID("6f1d3c52-8f0e-5b8a-9a57-2c1e5e0b7d41")


class ModelError(ValueError):
    """A domain object was built from values that cannot be right."""


def require_aware(value: datetime | date | None, name: str) -> None:
    if isinstance(value, datetime) and value.utcoffset() is None:
        raise ModelError(f"{name} must be timezone-aware, got naive {value.isoformat()}")


def require_url(value: str | None, name: str) -> None:
    # The adapters pass URLs through safe_url; this guard keeps a missed one out of the store.
    if value is not None and safe_url(value) != value:
        raise ModelError(f"{name} must be an absolute http(s) URL without controls: {value[:80]!r}")


def stable_uuid(site: str, source: str, external_id: str) -> uuid.UUID:
    return uuid.uuid5(_ID_NAMESPACE, "\x1f".join((site, source, external_id)))


class EventStatus(StrEnum):
    CONFIRMED = "confirmed"
    TENTATIVE = "tentative"
    CANCELLED = "cancelled"
    # Put off to a date not known yet (schema.org EventPostponed). iCalendar has no word for
    # it: calendars get TENTATIVE; pages, feeds and the fediverse say "verschoben".
    POSTPONED = "postponed"


@dataclass(frozen=True, slots=True, kw_only=True)
class Image:
    url: str
    alt: str | None = None
    credit: str | None = None

    def __post_init__(self) -> None:
        require_url(self.url, "image url")


@dataclass(frozen=True, slots=True, kw_only=True)
class Price:
    """What an event costs, as the group gives it (The Events Calendar's cost, schema.org's
    offers): for people, and as data for calendars and search engines."""

    text: str  # as a reader reads it: "3 €", "5–10 €", "Eintritt frei"
    amount: str | None = None  # the lowest, as schema.org writes a price: "3", "5.50"
    currency: str | None = None  # ISO 4217: "EUR"
    free: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Location:
    name: str | None = None
    address: str | None = None
    geo: tuple[float, float] | None = None  # (latitude, longitude)

    def __post_init__(self) -> None:
        if self.geo is not None:
            lat, lon = self.geo
            if not (math.isfinite(lat) and math.isfinite(lon)):
                raise ModelError(f"geo must be finite, got {self.geo!r}")
            if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                raise ModelError(f"geo must be a position on the globe, got {self.geo!r}")

    def label(self) -> str | None:
        parts = [p for p in (self.name, self.address) if p]
        return ", ".join(parts) or None


# A network category and the groups' categories it covers, in sites.toml's order.
Taxonomy = tuple[tuple[str, tuple[str, ...]], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceConfig:
    """One configured source of a site; `options` are the adapter's own keys."""

    name: str
    kind: str
    interval: timedelta = timedelta(minutes=15)
    options: tuple[tuple[str, Any], ...] = ()

    @property
    def options_dict(self) -> dict[str, Any]:
        return dict(self.options)

    @property
    def address(self) -> str:
        """Where it reads from, as a person would name it (its URL, API or folder)."""
        options = self.options_dict
        return str(options.get("url") or options.get("api") or options.get("path") or self.name)


@dataclass(frozen=True, slots=True, kw_only=True)
class Site:
    slug: str
    name: str
    region: str | None = None
    homepage: str | None = None
    timezone: str = DEFAULT_TIMEZONE
    sources: tuple[SourceConfig, ...] = ()
    geo: tuple[float, float] | None = None  # (latitude, longitude) of the town, for `near`
    contact: tuple[str, ...] = ()  # who is told when one of its sources breaks

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True, slots=True, kw_only=True)
class Network:
    name: str
    homepage: str | None = None
    timezone: str = DEFAULT_TIMEZONE
    sites: tuple[Site, ...] = ()
    taxonomy: Taxonomy = ()  # the network's categories over its groups' (feeds/taxonomy.py)
    # Every request to a group's address looks its group up: a look-up, not a walk past
    # 11,200 groups.
    _by_slug: dict[str, Site] = field(init=False, repr=False, compare=False, default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_slug", {s.slug: s for s in reversed(self.sites)})

    def site(self, slug: str) -> Site | None:
        return self._by_slug.get(slug)


@dataclass(frozen=True, slots=True)
class Validators:
    """HTTP cache validators (or an adapter's own equivalent) from the last fetch."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class Notes:
    """What a reader left out, and what it read despite a flaw: shown on /status."""

    skipped: tuple[str, ...] = ()  # one line per bad item that was left out
    warnings: tuple[str, ...] = ()  # one line per flaw read around (an item kept)


@dataclass(frozen=True, slots=True)
class Coverage:
    """What a complete read of a source holds: every event it has that starts at or after
    `since` (None: every event). An event of the source missing from such a read is gone
    upstream; one outside it (a partial read, a window's edge) says nothing."""

    since: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Post:
    site: str
    source: str
    external_id: str
    title: str
    url: str | None = None
    summary: str | None = None
    content_html: str | None = None
    author: str | None = None
    categories: tuple[str, ...] = ()
    image: Image | None = None
    published: datetime | None = None
    updated: datetime | None = None

    def __post_init__(self) -> None:
        require_aware(self.published, "published")
        require_aware(self.updated, "updated")
        require_url(self.url, "url")

    @property
    def uuid(self) -> uuid.UUID:
        return stable_uuid(self.site, self.source, self.external_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    site: str
    source: str
    external_id: str
    title: str
    start: datetime | date  # a plain date means an all-day event
    end: datetime | date | None = None  # for all-day events: the last day, inclusive
    uid: str | None = None  # the upstream UID, kept so subscribers see one event
    description: str | None = None
    url: str | None = None
    location: Location | None = None
    rrule: str | None = None  # as given upstream, without the "RRULE:" prefix
    rdates: tuple[datetime | date, ...] = ()
    exdates: tuple[datetime | date, ...] = ()
    # Set on an override of one occurrence of a recurring event (same uid as the series).
    recurrence_id: datetime | date | None = None
    status: EventStatus = EventStatus.CONFIRMED
    categories: tuple[str, ...] = ()
    organizer: str | None = None
    image: Image | None = None
    extra: tuple[tuple[str, str], ...] = field(default=())  # e.g. ("cost", "5 €")
    price: Price | None = None

    def __post_init__(self) -> None:
        require_url(self.url, "url")
        require_aware(self.start, "start")
        require_aware(self.end, "end")
        require_aware(self.recurrence_id, "recurrence_id")
        if self.end is not None and self.all_day != _is_date(self.end):
            raise ModelError("start and end must both be dates (all-day) or both datetimes")
        if self.end is not None and self.end < self.start:
            raise ModelError(f"end {self.end.isoformat()} is before start {self.start.isoformat()}")
        for name, values in (("rdates", self.rdates), ("exdates", self.exdates)):
            for value in values:
                require_aware(value, name)

    @property
    def all_day(self) -> bool:
        return _is_date(self.start)

    @property
    def ical_uid(self) -> str:
        return self.uid or f"{stable_uuid(self.site, self.source, self.external_id)}"

    @property
    def uuid(self) -> uuid.UUID:
        return stable_uuid(self.site, self.source, self.external_id)

    @property
    def timezone(self) -> str | None:
        """The IANA zone of a timed event, None for all-day or fixed-offset times."""
        if isinstance(self.start, datetime):
            return getattr(self.start.tzinfo, "key", None)
        return None

    def start_instant(self) -> datetime:
        """The start as an aware datetime; all-day events start at local midnight."""
        return _instant(self.start)

    def end_instant(self) -> datetime:
        """The end as an aware datetime (exclusive for all-day events)."""
        if self.end is None:
            if self.all_day:
                return _instant(self.start + timedelta(days=1))
            return _instant(self.start)
        if self.all_day:
            return _instant(self.end + timedelta(days=1))
        return _instant(self.end)


Item = Post | Event
T = TypeVar("T", Post, Event)


@dataclass(frozen=True, slots=True)
class Stored(Generic[T]):
    """An item as the store keeps it: its own facts beside the upstream content (what
    feeds, calendars and pages are rendered from)."""

    item: T
    first_seen: datetime
    changed: datetime  # when the content last changed here
    revision: int  # the store revision of that change
    sequence: int  # iCalendar SEQUENCE: 0, then +1 per change


def _is_date(value: date | datetime) -> bool:
    return not isinstance(value, datetime)


def _instant(value: date | datetime) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime(value.year, value.month, value.day, tzinfo=ZoneInfo(DEFAULT_TIMEZONE))
