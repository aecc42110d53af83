"""What a view is of, one group or the whole network, and what it shows of its items:
the groups its filters leave, what is still to come (each event once on network views),
the newest change among what is shown and until when a list moving with the clock holds.
Pure, beside feeds/filters.py."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from feeds.duplicates import Merged, merge
from feeds.filters import Filters, Scheduled, select_events, select_sites
from feeds.model import Event, Network, Post, Site, Stored
from feeds.urls import NETWORK

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # "never changed": validators of an empty list


@dataclass(frozen=True, slots=True)
class Scope:
    """One group, or the whole network."""

    slug: str
    title: str
    homepage: str | None
    timezone: str
    sites: tuple[Site, ...]

    @property
    def is_network(self) -> bool:
        return self.slug == NETWORK

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def site_slugs(self, filters: Filters | None = None) -> list[str]:
        """Its groups, those the filters leave if given."""
        sites = select_sites(self.sites, filters) if filters else self.sites
        return [s.slug for s in sites]

    def names(self) -> dict[str, str]:
        return {s.slug: s.name for s in self.sites}


def resolve_scope(network: Network, slug: str) -> Scope | None:
    if slug == NETWORK:
        return Scope(NETWORK, network.name, network.homepage, network.timezone, network.sites)
    site = network.site(slug)
    if site is None:
        return None
    return Scope(site.slug, site.name, site.homepage, site.timezone, (site,))


def upcoming(
    scope: Scope,
    candidates: list[Stored[Event]],
    filters: Filters,
    now: datetime,
    limit: int | None,
) -> tuple[list[Scheduled], Callable[[Event], tuple[str, ...]]]:
    """What is to come among the store's candidates, each event once on network views,
    and who else carries it."""
    chosen = select_events(candidates, filters, scope.zone, now=now)
    merged = merged_of(scope, [s.stored for s in chosen])
    chosen = [s for s in chosen if merged.kept(s.stored.item)][:limit]
    return chosen, carried_also(scope, merged)


def merged_of(scope: Scope, events: list[Stored[Event]]) -> Merged:
    """Network views show an event carried by several groups once (feeds/duplicates.py)."""
    return merge(events) if scope.is_network else Merged(frozenset(), {})


def carried_also(scope: Scope, merged: Merged) -> Callable[[Event], tuple[str, ...]]:
    """The names of the other groups carrying an event (names looked up once per render)."""
    names = scope.names()
    return lambda event: tuple(names.get(slug, slug) for slug in merged.others(event))


def valid_until(chosen: Sequence[Scheduled], now: datetime) -> datetime:
    # "Upcoming" moves with the clock: the list changes when its first event is over.
    until = min((s.end for s in chosen if s.end > now), default=now + timedelta(hours=1))
    return min(until, now + timedelta(hours=1))


def newest_change(stored: Iterable[Stored[Post] | Stored[Event]]) -> datetime:
    """The newest change among the items shown; fixed for none, so validators stay stable."""
    return max((s.changed for s in stored), default=EPOCH)
