"""A plain web page read with CSS selectors from the config: for groups with no feed at all.

[[sites.sources]]
name = "website"
kind = "html"
url = "https://www.engagiertestadt.de/kaiserslautern/"
[sites.sources.posts]        # each `item` is a post; other selectors search inside it
item = "article"
title = "h1"
body = ".entry-content"
image = ".entry-content figure img"
image_caption = ".entry-content figure figcaption"
[sites.sources.events]
item = ".events li"
title = ".event-title"
link = "a"
date = ".event-date"         # German dates: "8. März 2025 - 20:00 Uhr bis 23:59 Uhr"
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, ClassVar, Self
from zoneinfo import ZoneInfo

import aiohttp
from cssselect import SelectorError
from parsel import Selector

from feeds.model import Event, Image, Location, Post
from feeds.sanitize import plain_text, safe_url, sanitize_html
from sources import _http
from sources._events import status_from_title
from sources._html_document import page_root
from sources.base import (
    Fetched,
    NotModified,
    OptionError,
    SourceContext,
    SourceError,
    Validators,
    digest,
    option_url,
    reject_unknown,
)
from sources.german_dates import DateError, Span, parse_span
from sources.parsing import parse

log = logging.getLogger(__name__)
POST_KEYS = {"item", "title", "link", "date", "body", "summary", "image", "image_caption"}
EVENT_KEYS = {"item", "title", "link", "date", "body", "location", "image"}
_FILENAME = re.compile(r"^[\w.\-]+$")
_PSEUDO = re.compile(r"::(text|attr\([^)]*\))\s*$")
# Keys that hold an event's start and end in the JSON pages carry (schema.org's first).
_JSON_STARTS = ("startDate", "start_date", "start", "dateStart", "startTime", "start_time",
                "begin", "from", "date", "datetime")  # fmt: skip
_JSON_ENDS = ("endDate", "end_date", "end", "dateEnd", "endTime", "end_time", "to", "until")
_JSON_DEPTH = 4


def _json_value(data: object, keys: tuple[str, ...], depth: int = 0) -> object | None:
    """The value of the first of `keys` in JSON, looked for level by level."""
    if depth > _JSON_DEPTH:
        return None
    if isinstance(data, list):
        for entry in data[:20]:
            if isinstance(entry, str | int | float) and depth == 0 and keys is _JSON_STARTS:
                return entry  # a bare list of dates: the first is the start
            found = _json_value(entry, keys, depth + 1)
            if found is not None:
                return found
        return None
    if not isinstance(data, dict):
        return None
    folded = {str(k).lower(): v for k, v in data.items()}
    for key in keys:
        value = folded.get(key.lower())
        if value not in (None, "", [], {}):
            return value if not isinstance(value, dict) else _json_value(value, keys, depth + 1)
    for value in data.values():
        if isinstance(value, dict | list):
            found = _json_value(value, keys, depth + 1)
            if found is not None:
                return found
    return None


@dataclass(frozen=True, slots=True)
class Selectors:
    item: str
    fields: tuple[tuple[str, str], ...]

    def get(self, key: str) -> str | None:
        return dict(self.fields).get(key)


@dataclass(frozen=True, slots=True)
class HTMLSource:
    kind: ClassVar[str] = "html"
    context: SourceContext
    url: str
    posts: Selectors | None
    events: Selectors | None

    @classmethod
    def from_config(cls, context: SourceContext, options: Mapping[str, Any]) -> Self:
        reject_unknown(options, {"url", "posts", "events"})
        posts = _selectors(options, "posts", POST_KEYS, required={"item", "title"})
        events = _selectors(options, "events", EVENT_KEYS, required={"item", "title", "date"})
        if posts is None and events is None:
            raise OptionError("posts", "give [posts] or [events] selectors (or both)")
        return cls(context, option_url(options, "url"), posts, events)

    async def fetch(
        self, session: aiohttp.ClientSession, validators: Validators
    ) -> Fetched | NotModified:
        response = await _http.fetch(session, self.url, validators, accept="text/html")
        if isinstance(response, NotModified):
            return response
        content_type = response.headers.get("Content-Type", "")
        today = datetime.now(ZoneInfo(self.context.timezone)).date()
        result = await parse(
            response.url,
            self.parse,
            response.body,
            url=response.url,
            content_type=content_type,
            today=today,
        )
        return Fetched(
            posts=result.posts,
            events=result.events,
            validators=response.validators,
            skipped=result.skipped,
            moved_to=response.moved_to,
        )

    def parse(self, body: bytes, *, url: str, content_type: str = "", today: date) -> Fetched:
        """Posts and events of one page; raises SourceError when the layout no longer fits."""
        document = Selector(root=page_root(body, url, content_type), type="html")
        reader = _PageReader(self.context, url, today)
        posts = reader.items(document, self.posts, reader.post) if self.posts else []
        events = reader.items(document, self.events, reader.event) if self.events else []
        if not posts and not events:
            detail = "; ".join(reader.skipped[:3]) or "no item matched"
            raise SourceError(
                f"{url}: nothing could be read ({detail}); has the page's layout changed?"
            )
        return Fetched(tuple(posts), tuple(events), skipped=tuple(reader.skipped))


class _PageReader:
    """Reads fields inside each item with parsel: a selector may end in `::text` or
    `::attr(name)` (`time.entry-date::attr(datetime)`); without, an element's text."""

    def __init__(self, context: SourceContext, url: str, today: date) -> None:
        self.context, self.url, self.today = context, url, today
        self.zone = ZoneInfo(context.timezone)
        self.skipped: list[str] = []

    def items(self, document: Selector, selectors: Selectors, build: Any) -> list[Any]:
        found = document.css(selectors.item)
        if not found:
            self.skipped.append(f"the selector {selectors.item!r} matched nothing")
        items = []
        for number, element in enumerate(found, 1):
            try:
                items.append(build(element, selectors))
            except (DateError, ValueError) as exc:
                message = f"item {number} of {selectors.item!r}: {exc}"
                log.warning("%s/%s: skipped %s", self.context.site, self.context.source, message)
                self.skipped.append(message)
        return items

    def post(self, element: Selector, selectors: Selectors) -> Post:
        title = self._title(element, selectors)
        link = self._link(element, selectors)
        published = None
        if date_text := self._text(element, selectors.get("date")):
            start = self._span(date_text).start
            published = start if isinstance(start, datetime) else _midnight(start, self.zone)
        return Post(
            site=self.context.site,
            source=self.context.source,
            external_id=link or digest(title, date_text or ""),
            title=title,
            url=link,
            summary=self._text(element, selectors.get("summary")),
            content_html=self._html(element, selectors.get("body"), link),
            image=self._image(element, selectors),
            published=published,
        )

    def event(self, element: Selector, selectors: Selectors) -> Event:
        title, status = status_from_title(self._title(element, selectors))
        link = self._link(element, selectors)
        date_text = self._text(element, selectors.get("date"))
        if not date_text:
            raise ValueError(f"no date in {selectors.get('date')!r}")
        span = self._span(date_text)
        place = self._text(element, selectors.get("location"))
        return Event(
            site=self.context.site,
            source=self.context.source,
            external_id=link or digest(title, date_text),
            title=title,
            start=span.start,
            end=span.end,
            description=self._html(element, selectors.get("body"), link),
            url=link,
            location=Location(name=place) if place else None,
            status=status,
            image=self._image(element, selectors),
        )

    def _span(self, text: str) -> Span:
        if text.lstrip()[:1] in ("{", "["):  # an attribute holding JSON (data-event='{…}')
            return self._json_span(text)
        # A machine-readable date (a <time datetime="…"> read with ::attr) comes first.
        moment = self._moment(text)
        if moment is None:
            return parse_span(text, self.zone, today=self.today)
        return Span(moment, None)

    def _moment(self, value: object) -> date | datetime | None:
        """An ISO 8601 date or date-time, or a Unix time (seconds or milliseconds)."""
        if isinstance(value, bool):
            return None
        if isinstance(value, int | float):
            seconds = value / 1000 if value > 100_000_000_000 else value
            try:
                return datetime.fromtimestamp(seconds, UTC).astimezone(self.zone)
            except (OverflowError, OSError, ValueError):
                return None
        if not isinstance(value, str):
            return None
        text = value.strip()
        if text.isdigit():
            return self._moment(int(text))
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        if len(text) == 10:  # "2025-03-08": a whole day
            return moment.date()
        return moment if moment.tzinfo else moment.replace(tzinfo=self.zone)

    def _json_span(self, text: str) -> Span:
        """Start and end from JSON a page carries in an attribute (Vue and React props,
        data-event, data-dates): the usual keys, found at any depth."""
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise ValueError(f"the date attribute holds broken JSON ({exc})") from None
        start_value, end_value = _json_value(data, _JSON_STARTS), _json_value(data, _JSON_ENDS)
        if start_value is None:
            raise ValueError(
                "the JSON in the date attribute has no start"
                f" (looked for {', '.join(_JSON_STARTS)})"
            )
        start = self._moment(start_value)
        if start is None:
            if not isinstance(start_value, str):
                raise ValueError(f"the JSON's start {start_value!r} is no date")
            span = parse_span(start_value, self.zone, today=self.today)  # "8. März 2025, 20 Uhr"
            start, end_of_text = span.start, span.end
        else:
            end_of_text = None
        end = self._moment(end_value) if end_value is not None else end_of_text
        if end is None and isinstance(end_value, str):
            end = parse_span(end_value, self.zone, today=self.today).start
        if end is not None and type(end) is not type(start):
            end = None  # a date beside a time (or the other way): the start alone holds
        if end is not None and end < start:
            end = None
        return Span(start, end)

    def _title(self, element: Selector, selectors: Selectors) -> str:
        title = self._text(element, selectors.get("title"))
        if not title:
            raise ValueError(f"no title in {selectors.get('title')!r}")
        return title

    def _text(self, element: Selector, selector: str | None) -> str | None:
        if not selector:
            return None
        found = element.css(selector)
        if not found:
            return None
        if _PSEUDO.search(selector):  # ::text gives text nodes, ::attr() one value
            raw = " ".join(found.getall()) if selector.endswith("::text") else found.get("")
        else:
            raw = found[0].xpath("string()").get("")
        return plain_text(" ".join(raw.split())) or None

    def _link(self, element: Selector, selectors: Selectors) -> str | None:
        selector = selectors.get("link")
        if selector and _PSEUDO.search(selector):
            href = element.css(selector).get()
        else:
            match = element.css(selector) if selector else element.css(":scope")
            href = match.xpath("descendant-or-self::a[@href][1]/@href").get()
        return safe_url(href, self.url)

    def _html(self, element: Selector, selector: str | None, base: str | None) -> str | None:
        if not selector:
            return None
        raw = element.css(selector).get()
        if raw is None:
            return None
        return sanitize_html(raw, base_url=base or self.url) or None

    def _image(self, element: Selector, selectors: Selectors) -> Image | None:
        selector = selectors.get("image")
        if not selector:
            return None
        found = element.css(selector)
        if not found:
            return None
        image = found[0] if _PSEUDO.search(selector) is None else None
        if image is not None and image.root.tag != "img":
            image = next(iter(image.css("img")), None)
        if image is not None:
            src = image.attrib.get("src") or image.attrib.get("data-src")
            alt = plain_text(image.attrib.get("alt") or "") or None
        else:
            src, alt = found.get(), None
        if not src or src.startswith("data:"):
            return None
        # The caption of this image is its own <figure>'s, not the item's first one.
        caption = None
        if image is not None:
            figure = image.xpath("ancestor::figure[1]")
            if figure:
                caption = self._text(figure[0], "figcaption")
        if caption is None:
            caption = self._text(element, selectors.get("image_caption"))
        credit = None
        if caption and "©" in caption:
            description, _, owner = caption.partition("©")
            caption, credit = description.strip() or None, f"© {owner.strip()}"
        # An alt text that is only the file's name says nothing: the caption does.
        if caption and (alt is None or _FILENAME.match(alt)):
            alt = caption
        url = safe_url(src, self.url)
        return Image(url=url, alt=alt, credit=credit) if url else None


def _selectors(
    options: Mapping[str, Any], key: str, allowed: set[str], *, required: set[str]
) -> Selectors | None:
    table = options.get(key)
    if table is None:
        return None
    if not isinstance(table, dict):
        raise OptionError(key, "expected a table of CSS selectors")
    for name in sorted(set(table) - allowed):
        raise OptionError(
            f"{key}.{name}", f"is no selector here (known: {', '.join(sorted(allowed))})"
        )
    for name in sorted(required - set(table)):
        raise OptionError(f"{key}.{name}", "is required (a CSS selector)")
    for name, selector in table.items():
        if not isinstance(selector, str) or not selector.strip():
            raise OptionError(f"{key}.{name}", "expected a CSS selector")
        try:
            Selector(text="<html></html>").css(selector)
        except (SelectorError, ValueError) as exc:
            raise OptionError(
                f"{key}.{name}", f"invalid CSS selector {selector!r}: {exc}"
            ) from None
    fields = tuple(sorted((k, v) for k, v in table.items() if k != "item"))
    return Selectors(item=table["item"], fields=fields)


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone)
