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

import asyncio
import hashlib
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar, Self
from urllib.parse import urljoin
from zoneinfo import ZoneInfo

import aiohttp
import lxml.html
from cssselect import GenericTranslator, SelectorError
from lxml.etree import ParserError

from feeds.model import Event, Image, Location, Post
from feeds.sanitize import plain_text, sanitize_html
from sources import _http
from sources._events import status_from_title
from sources.base import (
    Fetched,
    NotModified,
    OptionError,
    SourceContext,
    SourceError,
    Validators,
    option_url,
    reject_unknown,
)
from sources.german_dates import DateError, parse_span

log = logging.getLogger(__name__)
POST_KEYS = {"item", "title", "link", "date", "body", "summary", "image", "image_caption"}
EVENT_KEYS = {"item", "title", "link", "date", "body", "location", "image"}
_FILENAME = re.compile(r"^[\w.\-]+$")


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
        charset = _charset(response.headers.get("Content-Type", ""))
        today = datetime.now(ZoneInfo(self.context.timezone)).date()
        result = await asyncio.to_thread(
            self.parse, response.body, url=response.url, charset=charset, today=today
        )
        return Fetched(
            posts=result.posts,
            events=result.events,
            validators=response.validators,
            skipped=result.skipped,
            moved_to=response.moved_to,
        )

    def parse(self, body: bytes, *, url: str, charset: str | None = None, today: date) -> Fetched:
        """Posts and events of one page; raises SourceError when the layout no longer fits."""
        try:
            parser = lxml.html.HTMLParser(encoding=charset) if charset else None
            document = lxml.html.document_fromstring(body, parser=parser, base_url=url)
        except (ParserError, ValueError, LookupError) as exc:
            raise SourceError(f"{url}: not a readable HTML page ({exc})") from exc
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
    def __init__(self, context: SourceContext, url: str, today: date) -> None:
        self.context, self.url, self.today = context, url, today
        self.zone = ZoneInfo(context.timezone)
        self.skipped: list[str] = []

    def items(self, document: Any, selectors: Selectors, build: Any) -> list[Any]:
        found = document.cssselect(selectors.item)
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

    def post(self, element: Any, selectors: Selectors) -> Post:
        title = self._title(element, selectors)
        link = self._link(element, selectors)
        published = None
        if date_text := self._text(element, selectors.get("date")):
            start = parse_span(date_text, self.zone, today=self.today).start
            published = start if isinstance(start, datetime) else _midnight(start, self.zone)
        return Post(
            site=self.context.site,
            source=self.context.source,
            external_id=link or _digest(title, date_text or ""),
            title=title,
            url=link,
            summary=self._text(element, selectors.get("summary")),
            content_html=self._html(element, selectors.get("body"), link),
            image=self._image(element, selectors),
            published=published,
        )

    def event(self, element: Any, selectors: Selectors) -> Event:
        title, status = status_from_title(self._title(element, selectors))
        link = self._link(element, selectors)
        date_text = self._text(element, selectors.get("date"))
        if not date_text:
            raise ValueError(f"no date in {selectors.get('date')!r}")
        span = parse_span(date_text, self.zone, today=self.today)
        place = self._text(element, selectors.get("location"))
        return Event(
            site=self.context.site,
            source=self.context.source,
            external_id=link or _digest(title, date_text),
            title=title,
            start=span.start,
            end=span.end,
            description=self._html(element, selectors.get("body"), link),
            url=link,
            location=Location(name=place) if place else None,
            status=status,
            image=self._image(element, selectors),
        )

    def _title(self, element: Any, selectors: Selectors) -> str:
        title = self._text(element, selectors.get("title"))
        if not title:
            raise ValueError(f"no title in {selectors.get('title')!r}")
        return title

    def _first(self, element: Any, selector: str | None) -> Any:
        if not selector:
            return None
        found = element.cssselect(selector)
        return found[0] if found else None

    def _text(self, element: Any, selector: str | None) -> str | None:
        match = self._first(element, selector)
        if match is None:
            return None
        return plain_text(" ".join(match.text_content().split())) or None

    def _link(self, element: Any, selectors: Selectors) -> str | None:
        match = self._first(element, selectors.get("link"))
        if match is None and element.tag == "a":
            match = element
        if match is not None and match.tag != "a":
            match = next(iter(match.iter("a")), None)
        href = match.get("href") if match is not None else None
        return urljoin(self.url, href) if href else None

    def _html(self, element: Any, selector: str | None, base: str | None) -> str | None:
        match = self._first(element, selector)
        if match is None:
            return None
        raw = lxml.html.tostring(match, encoding="unicode")
        return sanitize_html(raw, base_url=base or self.url) or None

    def _image(self, element: Any, selectors: Selectors) -> Image | None:
        match = self._first(element, selectors.get("image"))
        if match is not None and match.tag != "img":
            match = next(iter(match.iter("img")), None)
        if match is None:
            return None
        src = match.get("src") or match.get("data-src")
        if not src or src.startswith("data:"):
            return None
        alt = plain_text(match.get("alt") or "") or None
        caption = self._text(element, selectors.get("image_caption"))
        credit = None
        if caption and "©" in caption:
            description, _, owner = caption.partition("©")
            caption, credit = description.strip() or None, f"© {owner.strip()}"
        # An alt text that is only the file's name says nothing: the caption does.
        if caption and (alt is None or _FILENAME.match(alt)):
            alt = caption
        return Image(url=urljoin(self.url, src), alt=alt, credit=credit)


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
    translator = GenericTranslator()
    for name, selector in table.items():
        if not isinstance(selector, str) or not selector.strip():
            raise OptionError(f"{key}.{name}", "expected a CSS selector")
        try:
            translator.css_to_xpath(selector)
        except SelectorError as exc:
            raise OptionError(
                f"{key}.{name}", f"invalid CSS selector {selector!r}: {exc}"
            ) from None
    fields = tuple(sorted((k, v) for k, v in table.items() if k != "item"))
    return Selectors(item=table["item"], fields=fields)


def _charset(content_type: str) -> str | None:
    match = re.search(r"charset=([\w\-]+)", content_type, re.IGNORECASE)
    return match[1] if match else None


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
