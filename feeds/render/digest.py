"""The weekly digest: one feed item per ISO week with that week's events, for newsletter
tools (listmonk, Mailchimp's RSS campaigns) that send one item a week. Pure: the weeks'
events in, entries out (written as RSS by feeds/render/syndication.py).

An item is HTML a newsletter can paste as it is: headings per day, a list per day, no
script, no style, every link absolute. Its guid is the week's, so it stays the same when
events are added or changed; it is published on the Monday before its week, so the
newsletter of that Monday announces the week after.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from html import escape
from zoneinfo import ZoneInfo

from babel.dates import format_date

from feeds.filters import Scheduled
from feeds.render.entries import STATUS_PREFIX, UNTITLED, Entry, feed_id
from feeds.render.when import LOCALE, hours
from feeds.urls import Urls

MOST_PER_WEEK = 100  # a network's busy week: the rest are a link away


@dataclass(frozen=True, slots=True)
class Week:
    monday: date

    @property
    def number(self) -> tuple[int, int]:
        year, week, _ = self.monday.isocalendar()
        return year, week

    def published(self, zone: ZoneInfo) -> datetime:
        """The Monday before, at 06:00: in time for that morning's newsletter."""
        return datetime.combine(self.monday - timedelta(days=7), time(6), zone)

    @property
    def sunday(self) -> date:
        return self.monday + timedelta(days=6)


def weeks(today: date, zone: ZoneInfo, now: datetime, back: int) -> list[Week]:
    """The weeks a digest holds at `now`: `back` weeks of history, this week, and the
    next once its Monday has come before it."""
    this = today - timedelta(days=today.weekday())
    candidates = [Week(this + timedelta(weeks=n)) for n in range(-back, 2)]
    return [w for w in candidates if w.published(zone) <= now]


def week_entry(
    week: Week,
    events: Sequence[Scheduled],
    zone: ZoneInfo,
    urls: Urls,
    scope: str,
    page: str,
    names: dict[str, str] | None,
) -> Entry:
    """One week as one item. `names`: the groups' names, where the digest is the network's
    (each event then names its group); `page`: where all events are."""
    year, number = week.number
    span = _span(week.monday, week.sunday)
    title = f"Termine vom {span} (KW {number})"
    parts: list[str] = []
    day: date | None = None
    for scheduled in events[:MOST_PER_WEEK]:
        event = scheduled.stored.item
        local = scheduled.start.astimezone(zone).date()
        if local != day:
            if day is not None:
                parts.append("</ul>")
            day = local
            parts.append(f"<h3>{escape(format_date(local, 'EEEE, d. MMMM', locale=LOCALE))}</h3>")
            parts.append("<ul>")
        when = hours(scheduled.start, scheduled.end, all_day=event.all_day, zone=zone)
        place = event.location.label() if event.location else None
        group = names.get(event.site) if names else None
        details = " · ".join(filter(None, [when, place, group]))
        name = f"{STATUS_PREFIX.get(event.status, '')}{event.title or UNTITLED}"
        link = urls.event_page(event.site, event.uuid)
        parts.append(
            f'<li><a href="{escape(link)}"><strong>{escape(name)}</strong></a>'
            f"<br>{escape(details)}</li>"
        )
    if day is not None:
        parts.append("</ul>")
    if len(events) > MOST_PER_WEEK:
        more = len(events) - MOST_PER_WEEK
        parts.append(f'<p><a href="{escape(page)}">… und {more} weitere Termine</a></p>')
    changed = max(s.stored.changed for s in events)
    published = week.published(zone)
    return Entry(
        id=feed_id(scope, "digest", f"{year}-W{number:02d}"),
        title=title,
        url=page,
        content_html="".join(parts),
        summary=f"{len(events)} {'Termin' if len(events) == 1 else 'Termine'} vom {span}",
        author=None,
        categories=(),
        image=None,
        published=published,
        updated=max(changed, published),
    )


def _span(first: date, last: date) -> str:
    """'7. bis 13. Dezember 2026', '30. November bis 6. Dezember 2026'."""
    end = format_date(last, "d. MMMM y", locale=LOCALE)
    if (first.year, first.month) == (last.year, last.month):
        return f"{first.day}. bis {end}"
    pattern = "d. MMMM" if first.year == last.year else "d. MMMM y"
    return f"{format_date(first, pattern, locale=LOCALE)} bis {end}"
