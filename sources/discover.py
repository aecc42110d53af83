"""`feeds discover URL`: what a group's website offers, as ready `[[sites.sources]]` blocks.

Looked for the way feed readers and WordPress itself announce things:
- the WordPress REST API (`Link: <…/wp-json/>; rel="https://api.w.org/"`, or the same as
  a `<link>` in the page), then The Events Calendar's endpoint under it;
- feeds announced with `<link rel="alternate">` (comment feeds left out);
- calendars: `<link type="text/calendar">`, links to `.ics`, `webcal:` or `?ical=1`;
- schema.org events and articles in the page (JSON-LD, microdata).
Where the REST API gives posts or events, the site's feed and its calendar export carry
the same items: they are listed as comments, not as sources, so nothing comes twice.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import aiohttp
from parsel import Selector

from feeds.sanitize import safe_url
from sources import _http
from sources._html_document import page_root
from sources.base import NotModified, SourceContext, SourceError, toml_string
from sources.jsonld import read_page
from sources.outbound import Outbound

FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/feed+json")
_API_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?https://api\.w\.org/"?')
_COMMENTS = re.compile(r"comment|kommentar", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Found:
    name: str
    kind: str
    url: str
    why: str  # how it was found, for the comment above the block

    def toml(self) -> str:
        return (
            f"# {self.why}\n[[sites.sources]]\n"
            f"name = {toml_string(self.name)}\nkind = {toml_string(self.kind)}\n"
            f"url = {toml_string(self.url)}\n"
        )


@dataclass(frozen=True, slots=True)
class Discovery:
    url: str
    sources: tuple[Found, ...]
    notes: tuple[str, ...]  # also found, not listed as sources, and why
    title: str | None = None  # the page's <title>, a name for the group

    def toml(self) -> str:
        if not self.sources:
            return (
                f"# {self.url}: no feed, calendar, WordPress API or schema.org data found.\n"
                '# A page can still be read with CSS selectors: kind = "html" (README).\n'
            )
        blocks = [f"# Found on {self.url}"] + [f"# {note}" for note in self.notes]
        return "\n".join(blocks) + "\n\n" + "\n".join(found.toml() for found in self.sources)


async def discover(
    session: aiohttp.ClientSession, url: str, outbound: Outbound = Outbound()
) -> Discovery:
    """Everything `url` offers; raises SourceError when the page itself cannot be had.

    `session` should connect through `outbound`'s connector; the addresses found in the
    page are checked against it too, so no refused address is ever proposed.
    """
    page = await _http.fetch(session, url, accept="text/html")
    assert not isinstance(page, NotModified)  # asked without validators
    base = page.url
    document = Selector(
        root=page_root(page.body, base, page.headers.get("Content-Type", "")), type="html"
    )
    found: list[Found] = []
    notes: list[str] = []

    api = _api_root(page.headers.getall("Link", []), document, base)
    has_posts = has_events = False
    if api is not None:
        if await _answers_json(session, urljoin(api, "wp/v2/posts?per_page=1"), list):
            has_posts = True
            found.append(Found("posts", "wordpress", base, f"WordPress REST API at {api}"))
        if await _answers_json(session, urljoin(api, "tribe/events/v1/events?per_page=1"), dict):
            has_events = True
            found.append(Found("events", "tribe_events", base, "The Events Calendar's REST API"))

    feeds = await _allowed(_feeds(document, base), outbound, notes)
    calendars = await _allowed(_calendars(document, base), outbound, notes)
    for feed in feeds:
        if has_posts:
            notes.append(f"feed {feed} carries the same posts as the REST API: not listed")
        elif not any(f.kind == "feed" for f in found):
            found.append(Found("feed", "feed", feed, "announced with <link rel=alternate>"))
        else:
            notes.append(f"another feed: {feed}")

    for calendar in calendars:
        if has_events:
            notes.append(f"calendar {calendar} holds the same events as the REST API")
        elif not any(f.kind == "ical" for f in found):
            found.append(Found("calendar", "ical", calendar, "a calendar linked from the page"))
        else:
            notes.append(f"another calendar: {calendar}")

    if not has_events:
        context = SourceContext(
            site="discover", source="page", timezone="Europe/Berlin", homepage=base,
            config_dir=Path(),
        )  # fmt: skip
        try:
            described = await asyncio.to_thread(
                read_page,
                page.body,
                context,
                url=base,
                content_type=page.headers.get("Content-Type", ""),
            )
        except SourceError:
            described = None
        if described is not None:
            what = f"{len(described.events)} events, {len(described.posts)} articles"
            found.append(Found("page", "jsonld", base, f"schema.org data in the page ({what})"))
    title = " ".join((document.css("title::text").get() or "").split()) or None
    return Discovery(base, tuple(found), tuple(notes), title)


async def _allowed(urls: list[str], outbound: Outbound, notes: list[str]) -> list[str]:
    """The addresses the service may connect to; the others named in `notes`."""
    allowed = []
    for url in urls:
        reason = await outbound.refusal_of_url(url)
        if reason:
            notes.append(f"left out {url}: {reason}, never a group's website")
        else:
            allowed.append(url)
    return allowed


def _api_root(links: list[str], document: Selector, base: str) -> str | None:
    for header in links:
        match = _API_LINK.search(header)
        if match:
            return safe_url(match[1], base)
    href = document.css('link[rel="https://api.w.org/"]::attr(href)').get()
    return safe_url(href, base) if href else None


def _feeds(document: Selector, base: str) -> list[str]:
    feeds = []
    for link in document.css('link[rel~="alternate"]'):
        kind = (link.attrib.get("type") or "").lower()
        title, href = link.attrib.get("title") or "", link.attrib.get("href") or ""
        if kind not in FEED_TYPES or _COMMENTS.search(title) or "/comments/" in href:
            continue
        url = safe_url(href, base)
        if url and url not in feeds:
            feeds.append(url)
    return feeds


def _calendars(document: Selector, base: str) -> list[str]:
    hrefs = document.css('link[type="text/calendar"]::attr(href)').getall()
    for href in document.css("a::attr(href)").getall():
        lowered = href.lower()
        if (
            lowered.startswith("webcal:")
            or lowered.split("?")[0].endswith(".ics")
            or "ical=1" in lowered
        ):
            hrefs.append(href)
    calendars = []
    for href in hrefs:
        if href.lower().startswith("webcal://"):
            href = "https://" + href[len("webcal://") :]
        url = safe_url(href, base)
        if url and url not in calendars:
            calendars.append(url)
    return calendars


async def _answers_json(session: aiohttp.ClientSession, url: str, shape: type) -> bool:
    try:
        response = await _http.fetch(session, url, accept="application/json")
    except SourceError:
        return False
    if isinstance(response, NotModified):
        return False
    try:
        return isinstance(json.loads(response.body), shape)
    except ValueError:
        return False
