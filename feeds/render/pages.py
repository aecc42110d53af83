"""HTML pages for people: the network, a group, an event, a post, the widget.

Pure like every renderer: data in, bytes out. Jinja2 escapes every value; the only markup
passed through is upstream HTML that was sanitized when it was harvested (decoded once,
at the sources' boundary), marked so in `_html`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import jinja2
from markupsafe import Markup, escape

from feeds.filters import Scheduled
from feeds.model import Event, EventStatus, Image, Location, Post, Stored
from feeds.render.assets import asset_url
from feeds.render.entries import UNTITLED
from feeds.render.links import CalendarLinks, EventLinks, calendar_links, event_links
from feeds.render.pictures import Shown, in_text
from feeds.render.status import StatusView
from feeds.render.when import describe, describe_day
from feeds.sanitize import html_to_text
from feeds.store.base import ImageCopy
from feeds.urls import FEEDS, NETWORK, Urls, with_query

SUMMARY_CHARS = 240
NO_REGION = "Weitere Gruppen"


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedLink:
    type: str
    title: str
    href: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Page:
    """What every page's head and frame need."""

    urls: Urls  # every address a page links to
    network: str  # the network's name
    title: str
    description: str
    url: str  # this page's own address
    canonical: str | None = None  # where search engines should look instead, if anywhere
    feeds: tuple[FeedLink, ...] = ()
    image: Image | None = None
    og_type: str = "website"
    group: tuple[str, str] | None = None  # (slug, name) for the way back
    # The page's ActivityPub twin (an actor, an object), where the service federates: an
    # address pasted into Mastodon's search finds the account or the post through it.
    activity: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class EventCard:
    title: str
    url: str
    when: str
    start: str  # machine-readable, for <time datetime>
    where: str | None
    cancelled: bool
    group: str | None = None  # network views name the group
    postponed: bool = False
    image: Shown | None = None
    also: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class PostCard:
    title: str
    url: str
    day: str
    date: str
    summary: str | None
    group: str | None = None
    image: Shown | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Subscription:
    """Every way to follow a group or the network: its calendar and its news."""

    name: str
    slug: str
    calendar: CalendarLinks
    qr: str
    news: tuple[FeedLink, ...]
    events_feed: str
    digest: str = ""  # one item a week, for newsletters
    programme: str = ""  # the next weeks, to print
    programme_pdf: str = ""
    opml: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupLink:
    name: str
    url: str
    posts: int
    events: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Region:
    name: str
    url: str  # its own page; "" for the groups without a region
    count: int  # its groups
    groups: tuple[GroupLink, ...]  # listed; none where the network is too large to list

    @property
    def id(self) -> str:
        return region_id(self.name)


def region_id(name: str) -> str:
    """The anchor of a region's heading on the network's page, which the widgets link to
    (static/embed.js spells the same): "Baden-Württemberg" -> "region-baden-wurttemberg"."""
    bare = "".join(
        c for c in unicodedata.normalize("NFKD", name.lower()) if not unicodedata.combining(c)
    )
    return "region-" + re.sub(r"[^a-z0-9]+", "-", bare).strip("-")


@dataclass(frozen=True, slots=True, kw_only=True)
class Place:
    name: str | None
    address: str | None
    map_url: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class EventDetail:
    title: str
    status: str  # "confirmed", "tentative", "cancelled"
    when: str
    start: str
    end: str
    more: tuple[tuple[str, str], ...]  # further dates of a series: (German, machine)
    place: Place | None
    description: Markup | None
    organizer: str | None
    upstream: str | None
    image: Image | None
    categories: tuple[str, ...]
    group: str
    group_url: str
    group_homepage: str | None
    picture: Shown | None = None  # our copy of `image`
    price: str | None = None  # what it costs, as a reader reads it
    also: tuple[str, ...]
    add: EventLinks
    jsonld: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class PostDetail:
    title: str
    day: str
    date: str
    author: str | None
    image: Image | None
    content: Markup | None
    upstream: str | None
    categories: tuple[str, ...]
    group: str
    group_url: str
    picture: Shown | None = None  # our copy of `image`


# --- building what the templates show -------------------------------------------------


def feed_links(
    urls: Urls, slug: str, title: str, query: Mapping[str, str] | None = None
) -> tuple[FeedLink, ...]:
    """The news in every format, then the events as Atom (what `<link rel=alternate>` and
    the subscribe box offer); each asking for `query` (a region's)."""
    atom, query = FEEDS["atom"], query or {}
    news = tuple(
        FeedLink(type=f.media_type, title=f"{title}: Neuigkeiten ({f.label})",
                 href=with_query(urls.news(slug, f.extension), query))
        for f in FEEDS.values()
    )  # fmt: skip
    events = FeedLink(type=atom.media_type, title=f"{title}: Termine ({atom.label})",
                      href=with_query(urls.events_feed(slug, atom.extension), query))  # fmt: skip
    return (*news, events)


def subscription(
    urls: Urls, slug: str, name: str, *, network: bool = False, region: str | None = None
) -> Subscription:
    """Every way to follow a group, the network, or (`region`) the network's groups in one
    state: each address then asks for that region."""
    query = {"region": region} if region else {}
    return Subscription(
        name=name,
        slug=slug,
        calendar=calendar_links(with_query(urls.calendar(slug), query), name),
        qr=with_query(urls.qr_code(slug), query),
        news=feed_links(urls, slug, name, query),
        events_feed=with_query(urls.events_feed(slug), query),
        digest=with_query(urls.digest(slug), query),
        programme=with_query(urls.programme(slug), query),
        programme_pdf=with_query(urls.programme_pdf(slug), query),
        opml=urls.opml() if network and not region else None,
    )


def event_card(
    scheduled: Scheduled,
    zone: ZoneInfo,
    urls: Urls,
    *,
    group: str | None = None,
    also: tuple[str, ...] = (),
    image: Shown | None = None,
) -> EventCard:
    event = scheduled.stored.item
    return EventCard(
        title=event.title or UNTITLED,
        url=urls.event_page(event.site, event.uuid),
        when=describe(scheduled.start, scheduled.end, all_day=event.all_day, zone=zone),
        start=_machine(scheduled.start, event.all_day, zone),
        where=event.location.label() if event.location else None,
        cancelled=event.status is EventStatus.CANCELLED,
        postponed=event.status is EventStatus.POSTPONED,
        group=group,
        also=also,
        image=image,
    )


def post_card(
    stored: Stored[Post],
    zone: ZoneInfo,
    urls: Urls,
    *,
    group: str | None,
    image: Shown | None = None,
) -> PostCard:
    post = stored.item
    published = post.published or stored.first_seen
    summary = post.summary or (html_to_text(post.content_html) if post.content_html else None)
    return PostCard(
        title=post.title or UNTITLED,
        url=urls.post_page(post.site, post.uuid),
        day=describe_day(published, zone),
        date=published.isoformat(),
        summary=_shorten(summary, SUMMARY_CHARS) if summary else None,
        group=group,
        image=image,
    )


def regions_of(
    groups: Iterable[tuple[str | None, GroupLink]], urls: Urls, *, listed: bool = True
) -> tuple[Region, ...]:
    """Groups by federal state, states alphabetically, groups without one last; with
    `listed` false, each state's groups only counted (its page lists them), but those
    without a state still listed, which have no page of their own."""
    by_region: dict[str, list[GroupLink]] = {}
    for region, link in groups:
        by_region.setdefault(region or NO_REGION, []).append(link)
    names = sorted(by_region, key=lambda name: (name == NO_REGION, name))
    return tuple(
        Region(
            name=name,
            url="" if name == NO_REGION else urls.network_page(region=name),
            count=len(by_region[name]),
            groups=(
                tuple(sorted(by_region[name], key=lambda g: g.name))
                if listed or name == NO_REGION
                else ()
            ),
        )
        for name in names
    )


def event_detail(
    scheduled: Scheduled,
    more: Sequence[tuple[datetime, datetime]],
    zone: ZoneInfo,
    urls: Urls,
    *,
    group: str,
    group_homepage: str | None,
    also: tuple[str, ...] = (),
    picture: Shown | None = None,
    copies: Mapping[str, ImageCopy | None] | None = None,
) -> EventDetail:
    stored = scheduled.stored
    event = stored.item
    title = event.title or UNTITLED
    when = describe(scheduled.start, scheduled.end, all_day=event.all_day, zone=zone)
    place = _place(event.location)
    # Sanitized at harvest; pictures only as our copies (the page loads nothing from elsewhere).
    description = (
        Markup(in_text(event.description, copies or {}, urls)) if event.description else None
    )
    plain = html_to_text(event.description) if event.description else None
    zone_name = event.timezone or str(zone)
    url = urls.event_page(event.site, event.uuid)
    detail = EventDetail(
        title=title,
        status=event.status.value,
        when=when,
        start=_machine(scheduled.start, event.all_day, zone),
        end=_machine(scheduled.end, event.all_day, zone, end=True),
        more=tuple(
            (
                describe(start, end, all_day=event.all_day, zone=zone),
                _machine(start, event.all_day, zone),
            )
            for start, end in more
        ),
        place=place,
        description=description,
        organizer=event.organizer,
        upstream=event.url,
        image=event.image,
        picture=picture,
        price=event.price.text if event.price else None,
        categories=event.categories,
        group=group,
        group_url=urls.group_page(event.site),
        group_homepage=group_homepage,
        also=also,
        add=event_links(
            ics=f"{url}.ics",
            title=title,
            start=scheduled.start,
            end=scheduled.end,
            all_day=event.all_day,
            zone_name=zone_name,
            place=event.location.label() if event.location else None,
            details="\n\n".join(filter(None, [plain, url])),
        ),
    )
    return _with_jsonld(detail, event, url, plain)


def post_detail(
    stored: Stored[Post],
    zone: ZoneInfo,
    urls: Urls,
    *,
    group: str,
    picture: Shown | None = None,
    copies: Mapping[str, ImageCopy | None] | None = None,
) -> PostDetail:
    post = stored.item
    published = post.published or stored.first_seen
    content = post.content_html or (f"<p>{_escape(post.summary)}</p>" if post.summary else None)
    return PostDetail(
        title=post.title or UNTITLED,
        day=describe_day(published, zone),
        date=published.isoformat(),
        author=post.author,
        image=post.image,
        picture=picture,
        # Sanitized at harvest; pictures only as our copies.
        content=Markup(in_text(content, copies or {}, urls)) if content else None,
        upstream=post.url,
        categories=post.categories,
        group=group,
        group_url=urls.group_page(post.site),
    )


# --- rendering --------------------------------------------------------------------------


def render_home(
    page: Page,
    subscribe: Subscription,
    events: Sequence[EventCard],
    posts: Sequence[PostCard],
    regions: Sequence[Region],
    *,
    region: str | None = None,
) -> bytes:
    """The network's page, or (`region`) the page of its groups in one state."""
    return _render(
        "home.html",
        page,
        subscribe=subscribe,
        events=events,
        posts=posts,
        regions=regions,
        region=region,
        groups_total=sum(r.count for r in regions),
    )


def render_group(
    page: Page,
    subscribe: Subscription,
    events: Sequence[EventCard],
    posts: Sequence[PostCard],
    *,
    region: str | None,
    homepage: str | None,
) -> bytes:
    return _render(
        "group.html",
        page,
        subscribe=subscribe,
        events=events,
        posts=posts,
        region=region,
        homepage=homepage,
        snippet=embed_snippet(page.urls, subscribe.slug),
    )


def render_event(page: Page, event: EventDetail) -> bytes:
    return _render("event.html", page, event=event)


def render_post(page: Page, post: PostDetail) -> bytes:
    return _render("post.html", page, post=post)


def render_widget(
    page: Page, events: Sequence[EventCard], *, more_url: str, heading: bool = True
) -> bytes:
    return _render("widget.html", page, events=events, more_url=more_url, heading=heading)


def render_embed_guide(page: Page, regions: Sequence[str], example_region: str | None) -> bytes:
    examples = [("Alle Termine des Netzwerks", embed_snippet(page.urls, NETWORK))]
    if example_region:
        examples.append(
            (f"Nur {example_region}", embed_snippet(page.urls, NETWORK, region=example_region))
        )
    iframe = (
        f'<iframe src="{_escape(page.urls.widget(NETWORK, limit=5))}"'
        f' title="Termine: {_escape(page.network)}" width="100%" height="420"'
        ' loading="lazy"></iframe>'
    )
    return _render(
        "embed.html",
        page,
        examples=examples,
        regions=regions,
        iframe=iframe,
        example_region=example_region,
    )


def render_status(page: Page, status: StatusView) -> bytes:
    return _render("status.html", page, status=status)


def render_missing(page: Page, reason: str, heading: str = "Nicht gefunden") -> bytes:
    """A 404 (or 410) for people: what is missing, in words, and a way on."""
    return _render("missing.html", page, reason=reason, heading=heading)


def embed_snippet(urls: Urls, slug: str, **data: str) -> str:
    """The one line a web editor pastes: our script, which group or region, loaded async."""
    attributes = "".join(
        f' data-{name}="{_escape(value)}"'
        for name, value in [("site", slug), *data.items()]
        if not (name == "site" and value == NETWORK)
    )
    return f'<script src="{_escape(urls.embed_script())}"{attributes} async></script>'


# --- helpers ----------------------------------------------------------------------------


_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("feeds.render", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
# 11200 is "11.200" in German; the filter writes the points.
_ENV.filters["thousands"] = lambda number: f"{number:,}".replace(",", ".")


def template_env() -> jinja2.Environment:
    """The templates, for renderers of other pages (feeds/render/programme.py)."""
    return _ENV


def load_templates() -> None:
    """Compile every template now (about 20 ms), not on the first visitor's request."""
    for name in _ENV.list_templates(extensions=["html"]):
        _ENV.get_template(name)


def _render(template: str, page: Page, **context: Any) -> bytes:
    html = _ENV.get_template(template).render(
        page=page, asset=lambda name: asset_url(page.urls, name), **context
    )
    return html.encode()


def _machine(value: datetime, all_day: bool, zone: ZoneInfo, *, end: bool = False) -> str:
    """RFC 3339 with the local offset; a date for all-day events (their end is exclusive)."""
    local = value.astimezone(zone)
    if all_day:
        day: date = (local - timedelta(days=1)).date() if end else local.date()
        return day.isoformat()
    return local.isoformat(timespec="seconds")


def _place(location: Location | None) -> Place | None:
    if location is None or not (location.name or location.address or location.geo):
        return None
    if location.geo:
        lat, lon = location.geo
        map_url = f"https://www.openstreetmap.org/?mlat={lat:.6f}&mlon={lon:.6f}#map=17/{lat:.6f}/{lon:.6f}"
    else:
        query = ", ".join(filter(None, [location.name, location.address]))
        map_url = f"https://www.openstreetmap.org/search?{urlencode({'query': query})}"
    return Place(name=location.name, address=location.address, map_url=map_url)


STATUS = {
    EventStatus.CONFIRMED: "https://schema.org/EventScheduled",
    EventStatus.TENTATIVE: "https://schema.org/EventScheduled",
    EventStatus.CANCELLED: "https://schema.org/EventCancelled",
    EventStatus.POSTPONED: "https://schema.org/EventPostponed",
}


def _with_jsonld(detail: EventDetail, event: Event, url: str, plain: str | None) -> EventDetail:
    """schema.org Event as search engines read it (their required and recommended fields)."""
    data: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "Event",
        "name": detail.title,
        "startDate": detail.start,
        "endDate": detail.end,
        "eventStatus": STATUS[event.status],
        "url": url,
        "organizer": {
            "@type": "Organization",
            "name": event.organizer or detail.group,
            **({"url": detail.group_homepage} if detail.group_homepage else {}),
        },
    }
    if event.location and (event.location.name or event.location.address):
        place: dict[str, Any] = {
            "@type": "Place",
            "name": event.location.name or event.location.address,
        }
        if event.location.address:
            place["address"] = event.location.address
        if event.location.geo:
            lat, lon = event.location.geo
            place["geo"] = {"@type": "GeoCoordinates", "latitude": lat, "longitude": lon}
        data["location"] = place
        data["eventAttendanceMode"] = "https://schema.org/OfflineEventAttendanceMode"
    if plain:
        data["description"] = plain
    price = event.price
    if price is not None and price.free:
        data["isAccessibleForFree"] = True
    if price is not None and price.amount is not None:
        data["offers"] = {
            "@type": "Offer",
            "price": price.amount,
            **({"priceCurrency": price.currency} if price.currency else {}),
            "url": event.url or url,
            "availability": "https://schema.org/InStock",
        }
    if detail.picture is not None:  # our copy, the largest
        data["image"] = [detail.picture.largest]
    return replace(detail, jsonld=data)


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut.rstrip(",.;:–-") + " …"


def _escape(text: str) -> str:
    return str(escape(text))
