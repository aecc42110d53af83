"""Any RSS 0.9x/1.0/2.0 or Atom feed (via feedparser), or a JSON Feed 1.0/1.1.

feedparser resolves relative links against the feed's address, copes with wrong declared
charsets, and reads `content:encoded`, enclosures and Media RSS. It does not read JSON
Feed (https://www.jsonfeed.org/version/1.1/), whose few fields are mapped here.
"""

from __future__ import annotations

import asyncio
import calendar
import hashlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from typing import Any, ClassVar, Self
from urllib.parse import urljoin

import aiohttp
import feedparser

from feeds.model import Image, Post
from feeds.sanitize import plain_text, plain_text_opt, sanitize_html
from sources import _http
from sources.base import (
    Fetched,
    NotModified,
    SourceContext,
    SourceError,
    Validators,
    load_json,
    option_url,
    read_each,
    reject_unknown,
)

log = logging.getLogger(__name__)
ACCEPT = (
    "application/atom+xml, application/rss+xml, application/feed+json, application/json;q=0.9,"
    " application/xml;q=0.8, text/xml;q=0.8, */*;q=0.1"
)


@dataclass(frozen=True, slots=True)
class FeedSource:
    kind: ClassVar[str] = "feed"
    context: SourceContext
    url: str

    @classmethod
    def from_config(cls, context: SourceContext, options: Mapping[str, Any]) -> Self:
        reject_unknown(options, {"url"})
        return cls(context, option_url(options, "url"))

    async def fetch(
        self, session: aiohttp.ClientSession, validators: Validators
    ) -> Fetched | NotModified:
        response = await _http.fetch(session, self.url, validators, accept=ACCEPT)
        if isinstance(response, NotModified):
            return response
        # Parsing is CPU work: off the event loop, so serving goes on meanwhile.
        posts, skipped = await asyncio.to_thread(
            parse_feed,
            response.body,
            self.context,
            url=response.url,
            content_type=response.headers.get("Content-Type", ""),
        )
        return Fetched(
            posts=tuple(posts),
            validators=response.validators,
            skipped=tuple(skipped),
            moved_to=response.moved_to,
        )


def parse_feed(
    body: bytes, context: SourceContext, *, url: str, content_type: str = ""
) -> tuple[list[Post], list[str]]:
    """Posts from a feed document; raises SourceError when it is no readable feed."""
    if "json" in content_type or body.lstrip()[:1] == b"{":
        return _json_feed(body, context, url)
    if b"<!ENTITY" in body[:65536]:
        # No feed needs its own entities; "billion laughs" documents use them to explode.
        raise SourceError(f"{url}: the feed declares XML entities (<!ENTITY>); refused as unsafe")
    parsed = feedparser.parse(
        body,
        response_headers={
            "content-location": url,
            "content-type": content_type or "application/xml",
        },
        sanitize_html=False,  # nh3 sanitizes below, with our own allow-list
    )
    if not parsed.entries and (parsed.bozo or not parsed.version):
        problem = parsed.get("bozo_exception") or "no RSS, Atom or JSON Feed found"
        start = body[:60].decode("utf-8", "replace").strip()
        raise SourceError(f"{url}: not a readable feed ({problem}); it starts {start!r}")
    if parsed.bozo and not _ends_whole(body):
        # Read on, and a cut-off feed would quietly lose its last items.
        raise SourceError(
            f"{url}: the feed breaks off before its end ({parsed.get('bozo_exception')})"
        )
    if parsed.bozo:
        log.info("%s: read despite a flaw: %s", url, parsed.get("bozo_exception"))
    return read_each(
        parsed.entries,
        lambda entry: _entry(entry, context, url),
        lambda entry: f"entry {entry.get('id') or entry.get('link') or '?'}",
        context,
    )


def _entry(entry: Any, context: SourceContext, feed_url: str) -> Post:
    link = entry.get("link") or None
    contents = entry.get("content") or []
    html = contents[0].get("value") if contents else entry.get("summary")
    summary = entry.get("summary") if contents else None
    title = (
        plain_text(entry.get("title") or "") or _shorten(plain_text(html or "")) or "(ohne Titel)"
    )
    return Post(
        site=context.site,
        source=context.source,
        external_id=entry.get("id") or link or _digest(title, entry.get("published", "")),
        title=title,
        url=link,
        summary=plain_text_opt(summary) or None,
        content_html=sanitize_html(html, base_url=link or feed_url) if html else None,
        author=plain_text_opt(entry.get("author")) or None,
        categories=tuple(plain_text(t.term) for t in entry.get("tags", []) if t.get("term")),
        image=_image(entry),
        # dict.get: feedparser's own get() maps a missing updated to published, with a warning.
        published=_moment(dict.get(entry, "published_parsed") or dict.get(entry, "updated_parsed")),
        updated=_moment(dict.get(entry, "updated_parsed")),
    )


def _ends_whole(body: bytes) -> bool:
    tail = body.rstrip()[-64:].lower()
    return tail.endswith((b"</rss>", b"</feed>", b"</rdf:rdf>"))


def _image(entry: Any) -> Image | None:
    for enclosure in entry.get("enclosures", []):
        if str(enclosure.get("type", "")).startswith("image/") and enclosure.get("href"):
            return Image(url=enclosure["href"])
    for media in (*entry.get("media_content", []), *entry.get("media_thumbnail", [])):
        if media.get("url") and media.get("medium", "image") == "image":
            return Image(url=media["url"])
    return None


def _moment(value: time.struct_time | None) -> datetime | None:
    # feedparser gives UTC struct_times; a missing date stays missing (first seen is used).
    if value is None:
        return None
    return datetime.fromtimestamp(calendar.timegm(value), UTC)


def _json_feed(body: bytes, context: SourceContext, url: str) -> tuple[list[Post], list[str]]:
    data = load_json(body, url)
    if not isinstance(data, dict) or "jsonfeed.org/version/" not in str(data.get("version")):
        raise SourceError(f"{url}: JSON without a JSON Feed version; not a JSON Feed")
    return read_each(
        data.get("items") or [],
        lambda item: _json_item(item, context, url, data),
        lambda item: f"item {item.get('id', '?') if isinstance(item, dict) else '?'}",
        context,
    )


def _json_item(
    item: dict[str, Any], context: SourceContext, url: str, feed: dict[str, Any]
) -> Post:
    link = urljoin(url, item["url"]) if item.get("url") else None
    html = item.get("content_html")
    if html is None and item.get("content_text") is not None:
        html = "<p>" + escape(str(item["content_text"])).replace("\n", "<br>") + "</p>"
    authors = (
        item.get("authors")
        or feed.get("authors")
        or ([item["author"]] if item.get("author") else [])
    )
    title = (
        plain_text(str(item.get("title") or ""))
        or _shorten(plain_text(html or ""))
        or "(ohne Titel)"
    )
    return Post(
        site=context.site,
        source=context.source,
        external_id=str(item["id"]),
        title=title,
        url=link,
        summary=plain_text_opt(item.get("summary")) or None,
        content_html=sanitize_html(html, base_url=link or url) if html else None,
        author=plain_text_opt(authors[0].get("name")) if authors else None,
        categories=tuple(plain_text(str(t)) for t in item.get("tags") or []),
        image=Image(url=urljoin(url, item["image"])) if item.get("image") else None,
        published=_iso(item.get("date_published")),
        updated=_iso(item.get("date_modified")),
    )


def _iso(value: Any) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"date without a time zone: {value!r}")
    return moment


def _shorten(text: str, length: int = 80) -> str:
    return text if len(text) <= length else text[: length - 1].rsplit(" ", 1)[0] + "…"


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
