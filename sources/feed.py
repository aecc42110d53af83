"""Any RSS 0.9x/1.0/2.0 or Atom feed (via feedparser), or a JSON Feed 1.0/1.1.

feedparser resolves relative links against the feed's address, copes with wrong declared
charsets, and reads `content:encoded`, enclosures and Media RSS. It does not read JSON
Feed (https://www.jsonfeed.org/version/1.1/), whose few fields are mapped here.
"""

from __future__ import annotations

import calendar
import codecs
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from html import escape
from typing import Any, ClassVar, Self
from zoneinfo import ZoneInfo

import aiohttp
import feedparser

from feeds.model import Image, Post
from feeds.sanitize import plain_text, plain_text_opt, safe_url, sanitize_html
from sources import _http
from sources.base import (
    MAX_ENTRIES,
    Fetched,
    NotModified,
    SourceContext,
    SourceError,
    Validators,
    digest,
    load_json,
    option_url,
    read_each,
    refuse_over,
    reject_unknown,
    require_some,
    what_came,
)
from sources.parsing import parse

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
        result = await parse(
            response.url,
            read_feed,
            response.body,
            self.context,
            url=response.url,
            content_type=response.headers.get("Content-Type", ""),
        )
        require_some(result.posts, result.skipped, self.url, "entry")
        return replace(result, validators=response.validators, moved_to=response.moved_to)


def read_feed(body: bytes, context: SourceContext, *, url: str, content_type: str = "") -> Fetched:
    """Posts of a feed document, what was skipped and what was read around."""
    body = _utf8(body)
    body = body.lstrip(b"\xef\xbb\xbf \t\r\n")  # some servers send a line before <?xml
    if "json" in content_type or body[:1] == b"{":
        return _json_feed(body, context, url)
    if b"<!ENTITY" in body[:65536]:
        # No feed needs its own entities; "billion laughs" documents use them to explode.
        raise SourceError(f"{url}: the feed declares XML entities (<!ENTITY>); refused as unsafe")
    refuse_over(body.count(b"<item") + body.count(b"<entry"), MAX_ENTRIES, "entries", url)
    try:
        parsed = feedparser.parse(
            body,
            response_headers={
                "content-location": url,
                "content-type": content_type or "application/xml",
            },
            sanitize_html=False,  # nh3 sanitizes below, with our own allow-list
        )
    except (ValueError, LookupError, TypeError, AttributeError) as exc:
        # feedparser 6.0 raises these on hostile bytes instead of setting `bozo`
        # (e.g. a NUL in the declared encoding: "embedded null character").
        raise SourceError(f"{url}: not a readable feed ({type(exc).__name__}: {exc})") from exc
    if not parsed.entries and (parsed.get("bozo") or not parsed.get("version")):
        problem = parsed.get("bozo_exception") or "no RSS, Atom or JSON Feed found"
        raise SourceError(f"{url}: not a readable feed ({problem}); it is {what_came(body, url)}")
    warnings = []
    entries = list(parsed.entries)
    ending = _ending(body)
    if parsed.get("bozo") and ending == "cut":
        # The last entry may be cut off mid-text: leave it out rather than keep half of it.
        dropped = entries.pop()  # there is one: an empty bozo feed was refused above
        if not entries:
            raise SourceError(
                f"{url}: the feed breaks off before its end ({parsed.get('bozo_exception')})"
                " and has no complete entry"
            )
        warnings.append(
            f"the feed breaks off before its end ({parsed.get('bozo_exception')}); read its"
            f" {len(entries)} complete entries, left out the last one ({_name(dropped)})"
        )
    elif parsed.get("bozo"):
        warnings.append(f"read despite a flaw: {parsed.get('bozo_exception')}")
    posts, skipped = read_each(
        entries,
        lambda entry: _entry(entry, context, url),
        lambda entry: f"entry {_name(entry)}",
        context,
    )
    return Fetched(posts=tuple(posts), skipped=tuple(skipped), warnings=tuple(warnings))


def _name(entry: Any) -> str:
    return str(entry.get("id") or entry.get("link") or entry.get("title") or "?")[:120]


def _entry(entry: Any, context: SourceContext, feed_url: str) -> Post:
    link = safe_url(entry.get("link"), feed_url)
    contents = entry.get("content") or []
    html = contents[0].get("value") if contents else entry.get("summary")
    summary = entry.get("summary") if contents else None
    title = (
        plain_text(entry.get("title") or "") or _shorten(plain_text(html or "")) or "(ohne Titel)"
    )
    return Post(
        site=context.site,
        source=context.source,
        external_id=entry.get("id") or link or digest(title, entry.get("published", "")),
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


_TRAILER = re.compile(rb"(?:\s*<!--.*?-->|\s*<\?.*?\?>)*\s*$", re.S)


_UTF16 = ((codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_DECLARED = re.compile(rb"""^(<\?xml[^>]*?encoding\s*=\s*["'])[^"']*(["'])""")


def _utf8(body: bytes) -> bytes:
    """A UTF-16 feed (with its byte order mark, as XML requires) as UTF-8, its declaration
    saying so: every check below looks at bytes (entities, entries, how it ends)."""
    encoding = next((name for bom, name in _UTF16 if body.startswith(bom)), None)
    if encoding is None:
        return body
    text = body.decode(encoding, "replace").encode("utf-8")
    return _DECLARED.sub(rb"\1utf-8\2", text.lstrip(b"\xef\xbb\xbf"), count=1)


def _ending(body: bytes) -> str:
    """ "whole", "open" (every entry closed, the document not) or "cut" (mid-entry)."""
    tail = _TRAILER.sub(b"", body[-4096:])[-64:].lower()  # comments after the root are fine
    if tail.endswith((b"</rss>", b"</feed>", b"</rdf:rdf>")):
        return "whole"
    if tail.endswith((b"</channel>", b"</item>", b"</entry>")):
        return "open"
    return "cut"


def _image(entry: Any) -> Image | None:
    candidates = [
        enclosure.get("href")
        for enclosure in entry.get("enclosures", [])
        if str(enclosure.get("type", "")).startswith("image/")
    ] + [
        media.get("url")
        for media in (*entry.get("media_content", []), *entry.get("media_thumbnail", []))
        if media.get("medium", "image") == "image"
    ]
    url = next((u for u in map(safe_url, candidates) if u), None)
    return Image(url=url) if url else None


def _moment(value: time.struct_time | None) -> datetime | None:
    # feedparser gives UTC struct_times; a missing date stays missing (first seen is used).
    if value is None:
        return None
    return datetime.fromtimestamp(calendar.timegm(value), UTC)


def _json_feed(body: bytes, context: SourceContext, url: str) -> Fetched:
    data = load_json(body, url)
    if not isinstance(data, dict) or "jsonfeed.org/version/" not in str(data.get("version")):
        raise SourceError(f"{url}: JSON without a JSON Feed version; not a JSON Feed")
    items = data.get("items")
    if not isinstance(items, list):
        raise SourceError(f"{url}: a JSON Feed without a list of items")
    zone = ZoneInfo(context.timezone)
    posts, skipped = read_each(
        items,
        lambda item: _json_item(item, context, url, data, zone),
        lambda item: f"item {_text(item.get('id')) or _text(item.get('url')) or '?'}",
        context,
    )
    return Fetched(posts=tuple(posts), skipped=tuple(skipped))


def _json_item(
    item: dict[str, Any], context: SourceContext, url: str, feed: dict[str, Any], zone: ZoneInfo
) -> Post:
    # JSON Feeds in the wild put any type anywhere (lemon24/reader keeps a test of it):
    # a field of the wrong type is read as absent.
    if not isinstance(item, dict):
        raise TypeError(f"an item is a {type(item).__name__}, not an object")
    link = safe_url(_text(item.get("url")), url)
    html = _text(item.get("content_html"))
    if html is None and _text(item.get("content_text")) is not None:
        html = "<p>" + escape(str(item["content_text"])).replace("\n", "<br>") + "</p>"
    title = plain_text(_text(item.get("title")) or "") or _shorten(plain_text(html or ""))
    # JSON Feed 1.1 requires an id; 1.0 feeds and generators often leave it out.
    external_id = _text(item.get("id")) or link or digest(title, str(item.get("date_published")))
    image = safe_url(_text(item.get("image")), url)
    return Post(
        site=context.site,
        source=context.source,
        external_id=external_id,
        title=title or "(ohne Titel)",
        url=link,
        summary=plain_text_opt(_text(item.get("summary"))) or None,
        content_html=sanitize_html(html, base_url=link or url) if html else None,
        author=_json_author(item, feed),
        categories=tuple(
            plain_text(tag) for tag in _list(item.get("tags")) if isinstance(tag, str)
        ),
        image=Image(url=image) if image else None,
        published=_iso(item.get("date_published"), zone),
        updated=_iso(item.get("date_modified"), zone),
    )


def _json_author(item: dict[str, Any], feed: dict[str, Any]) -> str | None:
    for candidates in (
        _list(item.get("authors")),
        [item.get("author")],
        _list(feed.get("authors")),
    ):
        for author in candidates:
            name = _text(author.get("name")) if isinstance(author, dict) else None
            if name:
                return plain_text(name) or None
    return None


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return str(value)
    return value if isinstance(value, str) and value.strip() else None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _iso(value: Any, zone: ZoneInfo) -> datetime | None:
    """An RFC 3339 date; one without an offset is a wall time in the site's zone."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


def _shorten(text: str, length: int = 80) -> str:
    return text if len(text) <= length else text[: length - 1].rsplit(" ", 1)[0] + "…"
