"""Atom 1.0 (RFC 4287) and RSS 2.0 from entries, written with feedgen: data in, bytes out.

feedgen 1.0.0 has two gaps, closed here through its extension API:
- it drops `rel`, `type` and `title` from entry links (lkiesow/python-feedgen#135: its loop
  rebinds the link dict to the new element, then reads the element), which turns an
  image enclosure into a second "alternate" link; `_Entry.extend_atom` sets them again.
- its Atom `<source>` has only a title and a link; network entries need id, title,
  updated and author (the W3C feed validator asks for them), so `_Entry` writes it.
RSS `<source>` is written there too, so that feedgen's own `source()` (which would also
write the partial Atom one) is never called.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields, is_dataclass, replace
from functools import lru_cache
from typing import Any

from feedgen.entry import FeedEntry
from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from feeds.render.entries import Entry, FeedInfo, SiteRef, feed_updated
from feeds.render.text import has_xml_forbidden, xml_safe

GENERATOR = "engagement-feeds"
EXTENSION = "engagement"
DC = "http://purl.org/dc/elements/1.1/"
ATOM = "http://www.w3.org/2005/Atom"


@dataclass(frozen=True, slots=True)
class _Link:
    href: str
    rel: str
    type: str
    title: str | None = None


class _Entry(BaseEntryExtension):  # type: ignore[misc]
    """What feedgen's entries lack: link attributes (#135) and a whole <source>. Given
    only to the entries that need it (`_needs_extension`): feedgen makes an instance per
    entry it is given to, a fifth of a render when every entry had one."""

    # Class defaults: most entries set few of these, and an instance costs no list.
    links: tuple[_Link, ...] = ()
    source: SiteRef | None = None
    source_updated = ""
    creator: str | None = None  # RSS: dc:creator, as <author> must be an e-mail address

    def extend_atom(self, entry: Any) -> Any:
        # feedgen writes one <link> per link() call, in order, with only href kept.
        for element, link in zip(entry.findall("link"), self.links, strict=True):
            element.set("rel", link.rel)
            element.set("type", link.type)
            if link.title:
                element.set("title", link.title)
        site = self.source
        if site is not None:
            source = etree.SubElement(entry, "source")
            etree.SubElement(source, "id").text = site.feed_id
            etree.SubElement(source, "title").text = site.name
            etree.SubElement(source, "updated").text = self.source_updated
            author = etree.SubElement(source, "author")
            etree.SubElement(author, "name").text = site.name
            _atom_link(source, site.feed_url, "self", "application/atom+xml")
            if site.url:
                _atom_link(source, site.url, "alternate", "text/html")
        return entry

    def extend_rss(self, item: Any) -> Any:
        if self.creator:
            etree.SubElement(item, f"{{{DC}}}creator").text = self.creator
        site = self.source
        if site is not None:
            source = etree.SubElement(item, "source", url=site.rss_url)
            source.text = site.name
        return item


class _Feed(BaseExtension):  # type: ignore[misc]
    """What feedgen's RSS channel lacks: a WebSub hub link (it writes only rel="self")."""

    hub_url: str | None = None

    def extend_ns(self) -> dict[str, str]:
        return {"dc": DC}

    def extend_rss(self, feed: Any) -> Any:
        channel = feed.find("channel")
        if self.hub_url and channel is not None:
            etree.SubElement(channel, f"{{{ATOM}}}link", href=self.hub_url, rel="hub")
        return feed


def render_atom(info: FeedInfo, entries: Sequence[Entry]) -> bytes:
    body: bytes = _generator(*xml_ready(info, entries), atom=True).atom_str(pretty=False)
    return body


def render_rss(info: FeedInfo, entries: Sequence[Entry]) -> bytes:
    body: bytes = _generator(*xml_ready(info, entries), atom=False).rss_str(pretty=False)
    return body


def _generator(info: FeedInfo, entries: Sequence[Entry], *, atom: bool) -> FeedGenerator:
    feed = FeedGenerator()
    if not atom:  # the channel's part (RSS only); entries that need theirs get it in _add
        feed.register_extension(EXTENSION, _Feed, None, atom=False, rss=True)
    feed.id(info.id)
    feed.title(info.title)
    feed.description(info.subtitle or info.title)
    if info.subtitle:
        feed.subtitle(info.subtitle)
    feed.language(info.language)
    feed.updated(feed_updated(entries))
    feed.lastBuildDate(feed_updated(entries))
    # feedgen writes RSS's channel <link> (the website, RSS 2.0) from the last link given
    # and its atom:link from "self": so "self" first, the website last.
    feed.link(href=info.self_url, rel="self", type=_self_type(atom))
    if info.hub_url and atom:
        feed.link(href=info.hub_url, rel="hub")
    if not atom:
        getattr(feed, EXTENSION).hub_url = info.hub_url
    feed.link(href=info.alternate_url, rel="alternate", type="text/html")
    if info.author:
        feed.author({"name": info.author})
    feed.generator(GENERATOR)
    for entry in entries:
        _add(feed.add_entry(order="append"), entry, info, atom=atom)
    return feed


def _add(item: FeedEntry, entry: Entry, info: FeedInfo, *, atom: bool) -> None:
    item.id(entry.id)  # also RSS <guid isPermaLink="false">: our ids are URNs, not pages
    item.title(entry.title)
    item.published(entry.published)
    item.updated(entry.updated)
    links = _links(entry)
    # Atom wants an author on every entry of a feed that has none (RFC 4287 4.1.1).
    author = entry.author or (entry.site.name if entry.site else None)
    if author is None and info.author is None:
        author = info.title
    if _needs_extension(links, author, entry.site, atom=atom):
        item.register_extension(EXTENSION, _Entry, atom=True, rss=True)
        facts: _Entry = getattr(item, EXTENSION)
        facts.links, facts.creator, facts.source = links, author, entry.site
        if entry.site:
            facts.source_updated = entry.updated.isoformat()
    for link in links:
        more = {"length": "0"} if link.rel == "enclosure" else {}
        item.link(href=link.href, rel=link.rel, type=link.type, **more)
    if author:
        item.author({"name": author})
    for term in entry.categories:
        item.category(term=term)
    if entry.summary:
        item.summary(entry.summary)
    # Atom requires content or an alternate link; an empty content keeps it valid.
    item.content(entry.content_html or entry.summary or "", type="html")


def _links(entry: Entry) -> tuple[_Link, ...]:
    links: list[_Link] = []
    if entry.url:
        links.append(_Link(entry.url, "alternate", "text/html"))
    if entry.image:
        kind = _image_type(entry.image.url)
        # The size is unknown without fetching the image; 0 is the accepted convention.
        links.append(_Link(entry.image.url, "enclosure", kind, entry.image.alt or None))
    if entry.calendar_url:
        links.append(_Link(entry.calendar_url, "related", "text/calendar", "In den Kalender"))
    if entry.external_url:
        links.append(_Link(entry.external_url, "related", "text/html", "Beim Veranstalter"))
    return tuple(links)


def _needs_extension(
    links: Sequence[_Link], author: str | None, site: SiteRef | None, *, atom: bool
) -> bool:
    """Whether feedgen alone would write the entry short: Atom drops the rel and type of
    links (an alternate link without them is still an alternate), neither writes a whole
    <source>, and RSS has no author without an e-mail address (dc:creator)."""
    if site is not None:
        return True
    if not atom:
        return author is not None
    return any(link.rel != "alternate" for link in links)


@lru_cache(maxsize=64)
def _image_type(url: str) -> str:
    return mimetypes.guess_type(url)[0] or "image/jpeg"


def xml_ready(info: FeedInfo, entries: Sequence[Entry]) -> tuple[FeedInfo, Sequence[Entry]]:
    """The feed with text lxml takes. Text is made XML-safe where it comes in (upstream text
    at the harvest, feeds/sanitize.py), so this only looks, once per render; what slipped
    through (a configuration's name, an item stored before) is mended here."""
    if not has_xml_forbidden("\n".join(_texts(info, entries))):  # one search, in C
        return info, entries
    return _mended(info), [_mended(entry) for entry in entries]


def _texts(info: FeedInfo, entries: Sequence[Entry]) -> Iterator[str]:
    yield from (info.title, info.subtitle or "", info.author or "", info.hub_url or "")
    yield from (info.self_url, info.alternate_url)
    for e in entries:
        yield from (e.title, e.url or "", e.content_html or "", e.summary or "", e.author or "")
        yield from e.categories
        if e.calendar_url or e.external_url:
            yield from (e.calendar_url or "", e.external_url or "")
        if e.image:
            yield from (e.image.url, e.image.alt or "")
        if e.site:
            yield from (e.site.name, e.site.url or "", e.site.rss_url, e.site.feed_url)


def _mended(value: Any) -> Any:
    """A copy of a record (FeedInfo, Entry, SiteRef, Image) with its text XML-safe."""
    if isinstance(value, str):
        return xml_safe(value)
    if isinstance(value, tuple):
        return tuple(_mended(v) for v in value)
    if is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: _mended(getattr(value, f.name)) for f in fields(value)}
        return replace(value, **changes)
    return value


def _atom_link(parent: Any, href: str, rel: str, kind: str) -> None:
    etree.SubElement(parent, "link", href=href, rel=rel, type=kind)


def _self_type(atom: bool) -> str:
    return "application/atom+xml" if atom else "application/rss+xml"
