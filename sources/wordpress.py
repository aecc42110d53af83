"""WordPress posts through the REST API: /wp-json/wp/v2/posts with _embed.

Reference: https://developer.wordpress.org/rest-api/reference/posts/ — pagination in
X-WP-Total / X-WP-TotalPages, dates in `date_gmt` / `modified_gmt` (UTC, no offset),
author, featured image and terms under `_embedded` when `_embed` is asked for.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Self
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import aiohttp

from feeds.model import Image, Post
from feeds.sanitize import plain_text, plain_text_opt, safe_url, sanitize_html
from sources import _http
from sources.base import (
    Fetched,
    NotModified,
    OptionError,
    SourceContext,
    SourceError,
    Validators,
    digest,
    later_page_failed,
    load_json,
    option_int,
    read_each,
    reject_unknown,
    require_some,
    wordpress_api,
)
from sources.parsing import parse

log = logging.getLogger(__name__)
JSON = "application/json"


@dataclass(frozen=True, slots=True)
class WordPressOptions:
    api: str  # the REST root, ending in "/wp-json/"
    per_page: int
    max_pages: int


@dataclass(frozen=True, slots=True)
class WordPressSource:
    kind: ClassVar[str] = "wordpress"
    context: SourceContext
    options: WordPressOptions

    @classmethod
    def from_config(cls, context: SourceContext, options: Mapping[str, Any]) -> Self:
        reject_unknown(options, {"url", "api", "per_page", "max_pages"})
        api = wordpress_api(options)
        per_page = option_int(options, "per_page", default=20, low=1, high=100)
        max_pages = option_int(options, "max_pages", default=3, low=1, high=50)
        return cls(context, WordPressOptions(api, per_page, max_pages))

    def page_url(self, page: int) -> str:
        query = urlencode({"_embed": 1, "per_page": self.options.per_page, "page": page})
        # Sites without pretty permalinks take the route as ?rest_route=/wp/v2/posts.
        joiner = "&" if "?" in self.options.api else "?"
        return f"{self.options.api}wp/v2/posts{joiner}{query}"

    async def fetch(
        self, session: aiohttp.ClientSession, validators: Validators
    ) -> Fetched | NotModified:
        first = await _http.fetch(session, self.page_url(1), validators, accept=JSON)
        if isinstance(first, NotModified):
            return first
        pages = [first]
        warnings: list[str] = []
        total = _total_pages(first)
        for page in range(2, min(total, self.options.max_pages) + 1):
            try:
                later = await _http.fetch_fresh(session, self.page_url(page), accept=JSON)
            except SourceError as exc:
                warnings.append(later_page_failed(page, exc))
                break
            pages.append(later)
        posts: list[Post] = []
        skipped: list[str] = []
        for response in pages:
            found, bad = await parse(
                response.url, parse_posts, response.body, self.context, url=response.url
            )
            posts.extend(found)
            skipped.extend(bad)
        require_some(posts, skipped, self.page_url(1), "post")
        return Fetched(
            posts=tuple(posts),
            validators=first.validators,
            skipped=tuple(skipped),
            warnings=tuple(warnings),
            moved_to=first.moved_to,
        )


def parse_posts(body: bytes, context: SourceContext, *, url: str) -> tuple[list[Post], list[str]]:
    """Posts from one page of /wp/v2/posts; bad items are reported, not fatal."""
    data = load_json(body, url)
    if isinstance(data, dict) and "code" in data:
        raise SourceError(f"{url}: WordPress answered {data.get('code')}: {data.get('message')}")
    if not isinstance(data, list):
        raise SourceError(f"{url}: expected a list of posts, got {type(data).__name__}")
    return read_each(data, lambda raw: _post(raw, context), _label("post"), context)


def _post(raw: dict[str, Any], context: SourceContext) -> Post:
    link = safe_url(raw.get("link") if isinstance(raw.get("link"), str) else None)
    embedded = raw.get("_embedded") or {}
    zone = ZoneInfo(context.timezone)
    published = _gmt(raw.get("date_gmt")) or _local(raw.get("date"), zone)
    title = plain_text(_rendered(raw["title"]))
    return Post(
        site=context.site,
        source=context.source,
        external_id=_post_id(raw, link, title, published),
        title=title or "(ohne Titel)",
        url=link,
        summary=plain_text_opt(_rendered(raw.get("excerpt")) or None),
        content_html=sanitize_html(_rendered(raw.get("content")), base_url=link) or None,
        author=_author(embedded),
        categories=_terms(embedded, "category"),
        image=_image(embedded),
        published=published,
        updated=_gmt(raw.get("modified_gmt")) or published,
    )


def _post_id(raw: dict[str, Any], link: str | None, title: str, when: datetime | None) -> str:
    """WordPress's id; exports and static copies without one are known by guid or link."""
    if raw.get("id") not in (None, ""):
        return str(raw["id"])
    guid = _rendered(raw.get("guid"))
    if guid or link:
        return guid or str(link)
    if not title and when is None:
        raise KeyError("id")
    return digest(title, when.isoformat() if when else "")


def _rendered(field: Any) -> str:
    if isinstance(field, dict):
        return str(field.get("rendered") or "")
    return str(field or "")


def _gmt(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)


def _local(value: Any, zone: ZoneInfo) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value)).replace(tzinfo=zone)


def _author(embedded: dict[str, Any]) -> str | None:
    authors = embedded.get("author") or []
    if authors and isinstance(authors[0], dict) and authors[0].get("name"):
        return plain_text(str(authors[0]["name"]))
    return None


def _terms(embedded: dict[str, Any], taxonomy: str) -> tuple[str, ...]:
    names = []
    for group in embedded.get("wp:term") or []:
        for term in group if isinstance(group, list) else []:
            if isinstance(term, dict) and term.get("taxonomy") == taxonomy and term.get("name"):
                names.append(plain_text(str(term["name"])))
    return tuple(names)


def _image(embedded: dict[str, Any]) -> Image | None:
    media = embedded.get("wp:featuredmedia") or []
    # A private or deleted image comes back as {"code": "rest_forbidden", ...}.
    if not media or not isinstance(media[0], dict) or not media[0].get("source_url"):
        return None
    item = media[0]
    caption = plain_text(_rendered(item.get("caption"))).strip() or None
    url = safe_url(str(item["source_url"]))
    alt = plain_text(str(item.get("alt_text") or "")) or None
    return Image(url=url, alt=alt, credit=caption) if url else None


def _label(kind: str) -> Any:
    return lambda raw: f"{kind} {raw.get('id', '?') if isinstance(raw, dict) else '?'}"


def _total_pages(response: _http.Response) -> int:
    value = response.headers.get("X-WP-TotalPages", "1")
    return int(value) if value.isdigit() else 1


__all__ = ["OptionError", "WordPressSource", "parse_posts"]
