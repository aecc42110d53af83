"""The same event carried by several groups, found so the network shows it once. Pure.

Groups repost each other's events: a regional festival appears on three sites. Two events
of different groups are the same when they share
1. the upstream UID (a calendar export copied, or one plugin's feed imported), or
2. the canonical URL of the event's page (scheme, `www.`, trailing slash and fragment
   ignored), or
3. the title and the place, both normalized (case, punctuation and spacing ignored), at
   the same start.
A title at another start, or at the same start in another place, is another event; so is
a title without a place on either side (two towns' "Stammtisch" at 19:00 are two).
The one first seen here is kept (the group that posted it first, most likely its
organizer's); the others are named beside it: "auch bei …".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from feeds.model import Event, Stored

_NOT_WORD = re.compile(r"[\W_]+")

SeriesKey = tuple[str, str]  # (site, iCalendar UID): an event with its overrides


@dataclass(frozen=True, slots=True)
class Merged:
    dropped: frozenset[SeriesKey]  # duplicates of an event kept elsewhere
    also: dict[SeriesKey, tuple[str, ...]]  # kept event -> the other groups carrying it

    def kept(self, event: Event) -> bool:
        return series_key(event) not in self.dropped

    def others(self, event: Event) -> tuple[str, ...]:
        """The other groups (slugs) carrying the event this one was kept for."""
        return self.also.get(series_key(event), ())


def series_key(event: Event) -> SeriesKey:
    return event.site, event.ical_uid


def merge(events: Iterable[Stored[Event]]) -> Merged:
    masters = [s for s in events if s.item.recurrence_id is None]
    parent = list(range(len(masters)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict[tuple[object, ...], int] = {}
    for index, stored in enumerate(masters):
        for key in _keys(stored.item):
            other = first.setdefault(key, index)
            if other != index and masters[other].item.site != stored.item.site:
                parent[root(index)] = root(other)
    groups: dict[int, list[Stored[Event]]] = {}
    for index, stored in enumerate(masters):
        groups.setdefault(root(index), []).append(stored)
    dropped: set[SeriesKey] = set()
    also: dict[SeriesKey, tuple[str, ...]] = {}
    for same in groups.values():
        if len({s.item.site for s in same}) < 2:
            continue
        same.sort(key=lambda s: (s.first_seen, s.item.site, s.item.external_id))
        keep, *others = same
        keep_key = series_key(keep.item)
        dropped.update(series_key(s.item) for s in others)
        also[keep_key] = tuple(sorted({s.item.site for s in others} - {keep.item.site}))
    dropped -= set(also)  # a series kept for one group is never dropped for another
    return Merged(frozenset(dropped), also)


def _keys(event: Event) -> list[tuple[object, ...]]:
    keys: list[tuple[object, ...]] = []
    if event.uid:
        keys.append(("uid", event.uid))
    if event.url:
        keys.append(("url", canonical_url(event.url)))
    place = event.location.label() if event.location else None
    if place and _normal(place) and _normal(event.title):
        keys.append(("what", _normal(event.title), event.start_instant(), _normal(place)))
    return keys


def canonical_url(url: str) -> str:
    parts = urlsplit(url.strip())
    host = parts.netloc.lower().removeprefix("www.")
    path = parts.path.rstrip("/") or "/"
    return f"{host}{path}" + (f"?{parts.query}" if parts.query else "")


def _normal(text: str) -> str:
    return _NOT_WORD.sub(" ", text.casefold()).strip()
