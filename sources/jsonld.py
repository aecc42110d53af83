"""Events and articles a page describes in schema.org terms, as JSON-LD or microdata.

Most CMS event plugins (The Events Calendar, Event Organiser, Modern Events Calendar, many
theme builders) and news templates embed them for search engines; extruct reads both
syntaxes. Any `Event` type (MusicEvent, Festival, …) becomes an event, any article type
(NewsArticle, BlogPosting, Article, Report) a post. Dates may come with or without an
offset (without: the site's zone) or as a plain date (all day).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar, Self
from zoneinfo import ZoneInfo

import aiohttp
import extruct
import lxml.etree
import lxml.html
from extruct.jsonld import JsonLdExtractor

from feeds.model import Event, EventStatus, Image, Location, Post, Price
from feeds.sanitize import plain_text, safe_url, sanitize_html
from sources import _http
from sources._events import status_from_title
from sources._html_document import page_root
from sources.base import (
    Fetched,
    NotModified,
    SourceContext,
    SourceError,
    Validators,
    digest,
    finite_geo,
    option_url,
    read_each,
    reject_unknown,
    require_some,
)
from sources.parsing import parse
from sources.prices import offer_price

ARTICLES = {"Article", "NewsArticle", "BlogPosting", "Report", "ScholarlyArticle"}
STATUSES = {
    "EventCancelled": EventStatus.CANCELLED,
    "EventPostponed": EventStatus.POSTPONED,  # a new date is not known yet
    "EventRescheduled": EventStatus.CONFIRMED,  # the dates given are the new ones
    "EventScheduled": EventStatus.CONFIRMED,
    "EventMovedOnline": EventStatus.CONFIRMED,
}


@dataclass(frozen=True, slots=True)
class JsonLdSource:
    kind: ClassVar[str] = "jsonld"
    context: SourceContext
    url: str

    @classmethod
    def from_config(cls, context: SourceContext, options: Mapping[str, Any]) -> Self:
        reject_unknown(options, {"url"})
        return cls(context, option_url(options, "url"))

    async def fetch(
        self, session: aiohttp.ClientSession, validators: Validators
    ) -> Fetched | NotModified:
        response = await _http.fetch(session, self.url, validators, accept="text/html")
        if isinstance(response, NotModified):
            return response
        result = await parse(
            response.url,
            read_page,
            response.body,
            self.context,
            url=response.url,
            content_type=response.headers.get("Content-Type", ""),
        )
        return Fetched(
            posts=result.posts,
            events=result.events,
            validators=response.validators,
            skipped=result.skipped,
            moved_to=response.moved_to,
        )


_JSON_LD = lxml.etree.XPath('//script[@type="application/ld+json"]')


def read_page(body: bytes, context: SourceContext, *, url: str, content_type: str = "") -> Fetched:
    """The schema.org events and articles of one page; refused when it has none.

    Each JSON-LD block is read on its own: one broken block (a stray comma, a cut-off
    page) costs only itself, and says so in a warning.
    """
    document = page_root(body, url, content_type)
    things: list[dict[str, Any]] = []
    warnings: list[str] = []
    for number, script in enumerate(_JSON_LD(document), 1):
        try:
            things.extend(_things(JsonLdExtractor().extract_items(script)))
        except Exception as exc:  # extruct's JSON readers raise many kinds
            warnings.append(f"JSON-LD block {number} is no JSON ({type(exc).__name__}); left out")
    try:
        found = extruct.extract(
            lxml.html.tostring(document, encoding="unicode"),
            base_url=url,
            syntaxes=["microdata"],
            uniform=True,
        )
        things.extend(_things(found.get("microdata", [])))
    except Exception as exc:
        warnings.append(f"the page's microdata could not be read ({type(exc).__name__})")
    events = [t for t in things if _is_event(t)]
    articles = [t for t in things if _types(t) & ARTICLES]
    if not events and not articles:
        problem = f" ({'; '.join(warnings)})" if warnings else ""
        raise SourceError(
            f"{url}: the page describes no schema.org Event or article (JSON-LD or"
            f" microdata){problem}"
        )
    zone = ZoneInfo(context.timezone)
    read = _Reader(context, url, zone)
    posts, bad_posts = read_each(articles, read.post, _label, context)
    found_events, bad_events = read_each(events, read.event, _label, context)
    require_some([*posts, *found_events], [*bad_posts, *bad_events], url, "item")
    return Fetched(
        posts=tuple(_unique(posts)),
        events=tuple(_unique(found_events)),
        skipped=(*bad_posts, *bad_events),
        warnings=tuple(warnings),
    )


def _things(value: Any) -> Iterator[dict[str, Any]]:
    """Every typed object, also inside @graph, lists and an ItemList's elements."""
    if isinstance(value, list):
        for element in value:
            yield from _things(element)
    elif isinstance(value, dict):
        if "@type" in value:
            yield value
        for key in ("@graph", "itemListElement", "item", "subEvent", "mainEntity"):
            if key in value:
                yield from _things(value[key])


def _types(thing: dict[str, Any]) -> set[str]:
    raw = thing.get("@type")
    names = raw if isinstance(raw, list) else [raw]
    return {str(n).rsplit("/", 1)[-1] for n in names if isinstance(n, str)}


def _is_event(thing: dict[str, Any]) -> bool:
    # Every schema.org event type is named …Event, except these two.
    return any(t.endswith("Event") or t in {"Festival", "Hackathon"} for t in _types(thing))


def _label(thing: dict[str, Any]) -> str:
    name = _text(thing.get("name") or thing.get("headline")) or "?"
    return f"{sorted(_types(thing))[0] if _types(thing) else 'item'} {name[:80]!r}"


def _unique(items: list[Any]) -> list[Any]:
    """A page may describe a thing twice (JSON-LD and microdata): the first counts."""
    seen: dict[str, Any] = {}
    for item in items:
        seen.setdefault(item.external_id, item)
    return list(seen.values())


@dataclass(frozen=True, slots=True)
class _Reader:
    context: SourceContext
    url: str
    zone: ZoneInfo

    def event(self, thing: dict[str, Any]) -> Event:
        name = plain_text(_text(thing.get("name")) or "")
        if not name:
            raise ValueError("no name")
        start = _when(thing.get("startDate"), self.zone)
        if start is None:
            raise ValueError(f"no readable startDate ({_text(thing.get('startDate'))!r})")
        end = _when(thing.get("endDate"), self.zone)
        if isinstance(start, datetime) != isinstance(end, datetime) or (end and end < start):
            end = None  # a date beside a time, or an end before the start: left out
        title, status = status_from_title(name)
        named = _text(thing.get("eventStatus"))
        if named:
            status = STATUSES.get(named.rsplit("/", 1)[-1], status)
        link = safe_url(_text(thing.get("url")), self.url)
        description = _text(thing.get("description"))
        return Event(
            site=self.context.site,
            source=self.context.source,
            external_id=_identity(thing, link, name, _text(thing.get("startDate"))),
            title=title,
            start=start,
            end=end,
            description=sanitize_html(description, base_url=self.url) or None
            if description
            else None,
            url=link,
            location=_location(thing.get("location")),
            status=status,
            organizer=_name(thing.get("organizer")),
            image=_image(thing.get("image"), self.url),
            categories=_keywords(thing.get("keywords")),
            price=_price(thing),
        )

    def post(self, thing: dict[str, Any]) -> Post:
        title = plain_text(_text(thing.get("headline") or thing.get("name")) or "")
        if not title:
            raise ValueError("no headline")
        link = safe_url(_text(thing.get("url")) or _text(thing.get("mainEntityOfPage")), self.url)
        published = _moment(thing.get("datePublished"), self.zone)
        body = _text(thing.get("articleBody"))
        summary = _text(thing.get("description"))
        return Post(
            site=self.context.site,
            source=self.context.source,
            external_id=_identity(thing, link, title, _text(thing.get("datePublished"))),
            title=title,
            url=link,
            summary=plain_text(summary) or None if summary else None,
            content_html=sanitize_html(body, base_url=self.url) or None if body else None,
            author=_name(thing.get("author")),
            categories=_keywords(thing.get("keywords")),
            image=_image(thing.get("image"), self.url),
            published=published,
            updated=_moment(thing.get("dateModified"), self.zone),
        )


def _identity(thing: dict[str, Any], link: str | None, name: str, when: str | None) -> str:
    # @id names the thing across pages; a page listing many events shares one URL, so the
    # URL counts only with the start, and without either the name and start do.
    node = _text(thing.get("@id"))
    if node and not node.startswith("_:"):
        return node
    return digest(link or "", name, when or "")


def _text(value: Any) -> str | None:
    if isinstance(value, list):
        value = next((v for v in value if isinstance(v, str | int | float)), None)
    if isinstance(value, dict):
        value = value.get("@id") or value.get("url") or value.get("name")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value.strip() or None if isinstance(value, str) else None


def _when(value: Any, zone: ZoneInfo) -> date | datetime | None:
    """A schema.org Date or DateTime: a date means all day; a time without offset is a
    wall time in the site's zone."""
    text = _text(value)
    if text is None:
        return None
    if len(text) == 10:
        try:
            return date.fromisoformat(text)
        except ValueError:
            return None
    return _moment(text, zone)


def _moment(value: Any, zone: ZoneInfo) -> datetime | None:
    text = _text(value)
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:  # a DateTime given as a plain date
            day = date.fromisoformat(text[:10])
        except ValueError:
            return None
        return datetime(day.year, day.month, day.day, tzinfo=zone)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


def _location(value: Any) -> Location | None:
    if isinstance(value, list):
        value = next((v for v in value if isinstance(v, dict | str)), None)
    if isinstance(value, str):
        return Location(name=plain_text(value) or None)
    if not isinstance(value, dict):
        return None
    if "VirtualLocation" in _types(value):
        return Location(name="Online")
    address = value.get("address")
    if isinstance(address, dict):
        street = _text(address.get("streetAddress"))
        town = " ".join(
            t
            for t in (_text(address.get("postalCode")), _text(address.get("addressLocality")))
            if t
        )
        address_text = ", ".join(t for t in (street, town) if t) or None
    else:
        address_text = _text(address)
    geo = value.get("geo")
    point = finite_geo(geo.get("latitude"), geo.get("longitude")) if isinstance(geo, dict) else None
    name = _text(value.get("name"))
    if not (name or address_text or point):
        return None
    return Location(
        name=plain_text(name) or None if name else None,
        address=plain_text(address_text) or None if address_text else None,
        geo=point,
    )


def _name(value: Any) -> str | None:
    if isinstance(value, list):
        names = [n for n in (_name(v) for v in value) if n]
        return ", ".join(names) or None
    if isinstance(value, dict):
        value = value.get("name")
    text = _text(value)
    return plain_text(text) or None if text else None


def _image(value: Any, base: str) -> Image | None:
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        url = safe_url(_text(value.get("url") or value.get("contentUrl")), base)
        caption = _text(value.get("caption"))
        return Image(url=url, alt=plain_text(caption) or None if caption else None) if url else None
    url = safe_url(_text(value), base)
    return Image(url=url) if url else None


def _keywords(value: Any) -> tuple[str, ...]:
    words = value if isinstance(value, list) else str(value).split(",") if value else []
    return tuple(dict.fromkeys(w for w in (plain_text(str(x)).strip() for x in words) if w))


def _price(thing: dict[str, Any]) -> Price | None:
    price = offer_price(thing.get("offers"))
    if price is None and thing.get("isAccessibleForFree") in (True, "true", "True"):
        return Price(text="kostenlos", amount="0", free=True)
    return price
