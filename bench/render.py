"""Cold renders against the libraries they stand on: our Atom and RSS against feedgen
called directly with the same entries, our calendar against icalendar called directly
with the same properties and text. The ratio is what our layer costs (goal: at most 1.2x)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import timedelta

import icalendar
from feedgen.feed import FeedGenerator

from feeds.model import Event, Stored
from feeds.render.entries import Entry, FeedInfo
from feeds.render.ics import CalendarInfo, render_calendar
from feeds.render.syndication import render_atom, render_rss
from feeds.sanitize import html_to_text

GOAL = 1.2


def best_of(fn: Callable[[], object], repeat: int = 9) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return min(times)


def feedgen_direct(info: FeedInfo, entries: Sequence[Entry], *, atom: bool) -> bytes:
    """The same feed as plainly as feedgen can be asked for it. RSS names each entry's
    author as dc:creator, as ours does (RSS's <author> wants an e-mail address): with
    feedgen's own Dublin Core extension."""
    feed = FeedGenerator()
    if not atom:
        feed.load_extension("dc", atom=False, rss=True)
    feed.id(info.id)
    feed.title(info.title)
    feed.description(info.title)
    feed.language("de")
    feed.link(href=info.alternate_url, rel="alternate")
    feed.link(href=info.self_url, rel="self")
    feed.updated(max(e.updated for e in entries))
    for entry in entries:
        item = feed.add_entry(order="append")
        item.id(entry.id)
        item.title(entry.title)
        item.published(entry.published)
        item.updated(entry.updated)
        if entry.url:
            item.link(href=entry.url, rel="alternate", type="text/html")
        item.author({"name": entry.author or info.title})
        if not atom:
            item.dc.dc_creator(entry.author or info.title)
        for term in entry.categories:
            item.category(term=term)
        item.content(entry.content_html or "", type="html")
    body: bytes = feed.atom_str(pretty=False) if atom else feed.rss_str(pretty=False)
    return body


def icalendar_direct(info: CalendarInfo, events: Sequence[Stored[Event]]) -> bytes:
    """The same calendar (zone, properties) as plainly as icalendar can be asked for it."""
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//bench//")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", info.name)
    first = min(s.item.start_instant() for s in events).date()
    last = max(s.item.start_instant() for s in events).date()
    calendar.add_component(
        icalendar.Timezone.from_tzid(info.timezone, first_date=first, last_date=last)
    )
    for stored in events:
        event = stored.item
        component = icalendar.Event()
        component.add("uid", event.ical_uid)
        component.add("dtstamp", stored.changed)
        component.add("created", stored.first_seen)
        component.add("last-modified", stored.changed)
        component.add("sequence", stored.sequence)
        component.add("summary", event.title)
        component.add("dtstart", event.start)
        if event.end is not None:
            component.add("dtend", event.end)
        component.add("status", "CONFIRMED")
        if event.description:  # the same text: calendars show no markup
            component.add("description", html_to_text(event.description))
        if event.location:
            component.add("location", event.location.label())
            if event.location.geo:
                component.add("geo", event.location.geo)
        if event.categories:
            component.add("categories", list(event.categories))
        calendar.add_component(component)
    body: bytes = calendar.to_ical()
    return body


def compare(
    info: FeedInfo, entries: Sequence[Entry], calendar: CalendarInfo, events: list[Stored[Event]]
) -> None:
    print(f"cold render per item against the library alone (goal: <= {GOAL}x)")
    rows = [
        (
            "atom",
            lambda: render_atom(info, entries),
            lambda: feedgen_direct(info, entries, atom=True),
            len(entries),
        ),
        (
            "rss",
            lambda: render_rss(info, entries),
            lambda: feedgen_direct(info, entries, atom=False),
            len(entries),
        ),
        (
            "ics",
            lambda: render_calendar(calendar, events),
            lambda: icalendar_direct(calendar, events),
            len(events),
        ),
    ]
    for name, ours, library, count in rows:
        # Alternating, so a noisy neighbour hits both alike.
        mine, theirs = [], []
        for _ in range(3):
            mine.append(best_of(ours, 3))
            theirs.append(best_of(library, 3))
        ratio = min(mine) / min(theirs)
        verdict = "met" if ratio <= GOAL else "NOT met"
        print(
            f"  {name:5} {count:4} items  ours {min(mine) / count * 1e6:7.1f} µs/item"
            f"  library {min(theirs) / count * 1e6:7.1f} µs/item  {ratio:5.2f}x  {verdict}"
        )


REFRESH = timedelta(minutes=15)
