"""`feeds discover URL`: what a group's website offers, as ready `[[sites.sources]]` blocks.

Looked for the way feed readers and WordPress itself announce things:
- the WordPress REST API (`Link: <…/wp-json/>; rel="https://api.w.org/"`, or the same as
  a `<link>` in the page), then The Events Calendar's endpoint under it;
- feeds announced with `<link rel="alternate">` (comment feeds left out);
- calendars: `<link type="text/calendar">`, links to `.ics`, `webcal:` or `?ical=1`;
- schema.org events and articles in the page (JSON-LD, microdata).
Where the REST API gives posts or events, the site's feed and its calendar export carry
the same items: they are listed as comments, not as sources, so nothing comes twice.

Every address proposed answered when it was looked at (with a feed or a calendar), and
each document is proposed once, however many links lead to it. The address may also be a
feed's or a calendar's own, or lack its scheme; an OPML list is pointed to import-opml.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

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
    title: str | None = None  # a name for the group, as its website gives it

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
    page = await _first_answer(session, url)
    base = page.url
    shape = _shape(page.body, page.headers.get("Content-Type", ""))
    if shape == "opml":
        raise SourceError(
            f"{base} is an OPML list of feeds, not a website: add its groups with"
            f" feeds import-opml {base}"
        )
    if shape in ("feed", "calendar"):
        itself = Found(shape, "feed" if shape == "feed" else "ical", base, f"the {shape} itself")
        return Discovery(base, (itself,), (), _document_title(page.body, shape))
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
    if has_posts:
        notes += [
            f"feed {feed} carries the same posts as the REST API: not listed" for feed in feeds
        ]
    else:
        found += await _answering(session, feeds, "feed", notes)
    if has_events:
        notes += [f"calendar {c} holds the same events as the REST API" for c in calendars]
    else:
        found += await _answering(session, calendars, "calendar", notes)

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
    return Discovery(base, tuple(found), tuple(notes), site_name(document))


# Page titles carry a tagline or the page's own name beside the site's: "Bürgerstiftung
# Seestadt – Termine", "Startseite | Engagierte Stadt Zwickau".
_SEPARATORS = re.compile(r"\s+(?:[-–—|·•»]|::)\s+")
_PAGE_WORDS = {
    "aktuelles", "blog", "events", "home", "kalender", "news", "neuigkeiten", "start",
    "startseite", "termine", "veranstaltungen", "willkommen",
}  # fmt: skip


def site_name(document: Selector) -> str | None:
    """The site's name: what it declares (og:site_name, application-name), else its
    page title without tagline or page name."""
    for declared in (
        document.css('meta[property="og:site_name"]::attr(content)').get(),
        document.css('meta[name="application-name"]::attr(content)').get(),
    ):
        if declared and declared.strip():
            return " ".join(declared.split())
    return name_of(document.css("title::text").get() or "")


def name_of(title: str) -> str | None:
    """A title without its tagline: the first part that is not a page's name."""
    parts = [part.strip() for part in _SEPARATORS.split(" ".join(title.split())) if part.strip()]
    named = [part for part in parts if part.casefold() not in _PAGE_WORDS]
    return (named or parts or [None])[0]


async def _first_answer(session: aiohttp.ClientSession, url: str) -> _http.Response:
    """The page at `url` as a person types it: webcal:// is http (by convention), and an
    address without scheme is tried with https, then http."""
    given = url.strip()
    if given.lower().startswith("webcal://"):
        return await _get(session, "http://" + given[len("webcal://") :])
    if "://" in given:
        return await _get(session, given)
    try:
        return await _get(session, "https://" + given)
    except SourceError as secure:
        try:
            return await _get(session, "http://" + given)
        except SourceError:
            raise secure from None


async def _get(session: aiohttp.ClientSession, url: str) -> _http.Response:
    if safe_url(url) is None:
        raise SourceError(f"{url}: not a web address (expected https://… or http://…)")
    page = await _http.fetch(session, url, accept="text/html, */*;q=0.5")
    assert not isinstance(page, NotModified)  # asked without validators
    return page


async def download(session: aiohttp.ClientSession, url: str) -> bytes:
    """The document at `url` (an OPML list), through the same checks as a page."""
    return (await _get(session, url)).body


async def _answering(
    session: aiohttp.ClientSession, urls: list[str], what: str, notes: list[str]
) -> list[Found]:
    """The first of `urls` that answers with a `what` (feed or calendar), once per
    document; the others are named in `notes`."""
    found: list[Found] = []
    seen: dict[str, str] = {}  # a document's hash: the address it was found at
    for url in urls:
        try:
            answer = await _get(session, url)
        except SourceError as exc:
            notes.append(f"left out {url}: {exc.args[0].removeprefix(url + ': ')}")
            continue
        if _shape(answer.body, answer.headers.get("Content-Type", "")) != what:
            notes.append(f"left out {url}: it answered, but not with a {what}")
            continue
        digest = hashlib.sha256(answer.body).hexdigest()
        if digest in seen:
            notes.append(f"{url} is the same {what} as {seen[digest]}")
            continue
        seen[digest] = url
        if found:
            notes.append(f"another {what}: {url}")
            continue
        why = "announced with <link rel=alternate>" if what == "feed" else "linked from the page"
        found.append(Found(what, "feed" if what == "feed" else "ical", url, f"a {what} {why}"))
    return found


def _shape(body: bytes, content_type: str) -> str:
    """What a document is: "feed", "calendar", "opml" or "page"."""
    head = body[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    declared = content_type.split(";")[0].strip().lower()
    if head.startswith(b"begin:vcalendar") or declared == "text/calendar":
        return "calendar"
    if b"<opml" in head:
        return "opml"
    if any(tag in head for tag in (b"<rss", b"<feed", b"<rdf:rdf")) or declared in FEED_TYPES:
        return "feed"
    if head.startswith(b"{") and b"jsonfeed.org/version" in head:
        return "feed"
    return "page"


def _document_title(body: bytes, shape: str) -> str | None:
    """A feed's title or a calendar's name (X-WR-CALNAME), as a name for the group."""
    if shape == "calendar":
        match = re.search(rb"^X-WR-CALNAME[^:\r\n]*:([^\r\n]+)", body, re.MULTILINE)
        return name_of(match[1].decode("utf-8", "replace")) if match else None
    try:
        if body.lstrip()[:1] == b"{":
            title = json.loads(body).get("title")
            return name_of(title) if isinstance(title, str) else None
    except (ValueError, AttributeError):
        return None
    match = re.search(rb"<title[^>]*>([^<]{1,300})</title>", body)
    return name_of(match[1].decode("utf-8", "replace")) if match else None


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
    scheme = urlsplit(base).scheme
    for href in hrefs:
        if href.lower().startswith("webcal://"):
            # webcal is http by convention; the page's own scheme is what its server speaks.
            href = f"{scheme}://" + href[len("webcal://") :]
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
