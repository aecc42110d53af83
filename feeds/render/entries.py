"""What every news format shows of an item, whatever it was upstream."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from html import escape
from zoneinfo import ZoneInfo

from feeds.filters import Scheduled
from feeds.model import EventStatus, Image, Location, Post, Price, Site, Stored
from feeds.render.when import describe
from feeds.urls import Urls


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedInfo:
    """The feed as a whole. `id` is stable; the URLs depend on the public address."""

    id: str
    title: str
    subtitle: str | None
    self_url: str
    alternate_url: str
    language: str = "de"
    author: str | None = None
    hub_url: str | None = None  # a WebSub hub readers may subscribe at for pushed updates


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteRef:
    """Which group an entry comes from, for attribution in network feeds."""

    slug: str
    name: str
    url: str | None  # the group's own website
    feed_id: str  # the group's own news feed, as <source> in Atom and RSS
    feed_url: str
    rss_url: str


@dataclass(frozen=True, slots=True, kw_only=True)
class EventFacts:
    """An event as data, for clients that lay events out themselves (JSON Feed `_event`)."""

    title: str  # the event's own title, without date or status
    start: datetime | date  # this occurrence; dates for all-day events
    end: datetime | date | None  # all-day: the last day, inclusive
    all_day: bool
    timezone: str | None
    location: Location | None
    status: EventStatus
    price: Price | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    id: str  # urn:uuid:…, never the server's address
    title: str
    url: str | None
    content_html: str | None
    summary: str | None
    author: str | None
    categories: tuple[str, ...]
    image: Image | None
    published: datetime
    updated: datetime
    site: SiteRef | None = None
    calendar_url: str | None = None  # "add to calendar": the event as ICS
    event: EventFacts | None = None
    also: tuple[str, ...] = ()  # other groups carrying the same event (network feeds)
    external_url: str | None = None  # the upstream page, where `url` is our own page


def feed_id(*parts: str) -> str:
    return uuid.uuid5(uuid.NAMESPACE_URL, "engagement-feeds:" + "/".join(parts)).urn


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
UNTITLED = "(ohne Titel)"  # every format needs a title; an upstream may give none
# What a title says first, where the event will not take place as announced.
STATUS_PREFIX = {EventStatus.CANCELLED: "Abgesagt: ", EventStatus.POSTPONED: "Verschoben: "}


def feed_updated(entries: Sequence[Entry]) -> datetime:
    """The newest change among the entries; fixed for an empty feed, so ETags stay stable."""
    return max((e.updated for e in entries), default=EPOCH)


def site_ref(site: Site, urls: Urls) -> SiteRef:
    return SiteRef(
        slug=site.slug,
        name=site.name,
        url=site.homepage,
        feed_id=feed_id(site.slug, "news"),
        feed_url=urls.news(site.slug, "atom"),
        rss_url=urls.news(site.slug, "rss"),
    )


def post_entry(stored: Stored[Post], site: SiteRef | None, *, page_url: str | None = None) -> Entry:
    """A post links to the group's own article where there is one: it is where the text
    lives, with its pictures and comments, and the group's address gets the visit.
    `page_url` (our page of the post) stands in for posts that have none."""
    post = stored.item
    published = post.published or stored.first_seen
    return Entry(
        id=post.uuid.urn,
        title=post.title or UNTITLED,
        url=post.url or page_url,
        content_html=post.content_html,
        summary=post.summary,
        author=post.author,
        categories=post.categories,
        image=post.image,
        published=published,
        updated=max(post.updated or published, published),
        site=site,
    )


def event_entry(
    scheduled: Scheduled,
    site: SiteRef | None,
    zone: ZoneInfo,
    calendar_url: str | None,
    *,
    also: tuple[str, ...] = (),
    page_url: str | None = None,
) -> Entry:
    """An event for feed readers: when and where first, then the description; `also`
    names the other groups that carry the same event (network feeds).

    It links to `page_url`, our page of the event (date in words, place on a map, "add to
    calendar"): many events have no page upstream, and those that do rarely offer that.
    The upstream page is kept as the related link."""
    stored = scheduled.stored
    event = stored.item
    when = describe(scheduled.start, scheduled.end, all_day=event.all_day, zone=zone)
    where = event.location.label() if event.location else None
    title = f"{STATUS_PREFIX.get(event.status, '')}{event.title or UNTITLED} ({when})"
    lines = [f"<strong>{escape(when)}</strong>"] + ([escape(where)] if where else [])
    if event.price:
        lines.append(f"Eintritt: {escape(event.price.text)}")
    content = f"<p>{'<br>'.join(lines)}</p>"
    if event.description:
        content += event.description
    if also:
        content += f"<p>Auch bei: {escape(', '.join(also))}</p>"
    return Entry(
        id=event.uuid.urn,
        title=title,
        url=page_url or event.url,
        external_url=event.url if page_url else None,
        content_html=content,
        summary=" · ".join([when, *([where] if where else [])]),
        author=event.organizer,
        categories=event.categories,
        image=event.image,
        published=stored.first_seen,
        updated=stored.changed,
        site=site,
        calendar_url=calendar_url,
        event=_facts(scheduled, zone),
        also=also,
    )


def _facts(scheduled: Scheduled, zone: ZoneInfo) -> EventFacts:
    event = scheduled.stored.item
    start: datetime | date = scheduled.start
    end: datetime | date | None = scheduled.end if event.end is not None else None
    if event.all_day:  # the occurrence as local days; the end inclusive, as the model keeps it
        start = scheduled.start.astimezone(zone).date()
        end = (scheduled.end.astimezone(zone) - timedelta(days=1)).date()
        end = end if end > start else None
    return EventFacts(
        title=event.title or UNTITLED,
        start=start,
        end=end,
        all_day=event.all_day,
        timezone=event.timezone,
        location=event.location,
        status=event.status,
        price=event.price,
    )
