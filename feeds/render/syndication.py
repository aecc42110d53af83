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
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from feedgen.entry import FeedEntry
from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from feeds.render.entries import Entry, FeedInfo, SiteRef, feed_updated
from feeds.render.text import xml_safe

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


@dataclass(slots=True)
class _EntryFacts:
    links: list[_Link] = field(default_factory=list)
    source: SiteRef | None = None
    source_updated: str = ""
    creator: str | None = None  # RSS: dc:creator, as <author> must be an e-mail address


class _Entry(BaseEntryExtension):  # type: ignore[misc]
    """What feedgen's entries lack: link attributes (#135) and a whole <source>."""

    def __init__(self) -> None:
        self.facts = _EntryFacts()

    def extend_atom(self, entry: Any) -> Any:
        # feedgen writes one <link> per link() call, in order, with only href kept.
        for element, link in zip(entry.findall("link"), self.facts.links, strict=True):
            element.set("rel", link.rel)
            element.set("type", link.type)
            if link.title:
                element.set("title", link.title)
        site = self.facts.source
        if site is not None:
            source = etree.SubElement(entry, "source")
            etree.SubElement(source, "id").text = site.feed_id
            etree.SubElement(source, "title").text = _x(site.name)
            etree.SubElement(source, "updated").text = self.facts.source_updated
            author = etree.SubElement(source, "author")
            etree.SubElement(author, "name").text = _x(site.name)
            _atom_link(source, site.feed_url, "self", "application/atom+xml")
            if site.url:
                _atom_link(source, site.url, "alternate", "text/html")
        return entry

    def extend_rss(self, item: Any) -> Any:
        if self.facts.creator:
            etree.SubElement(item, f"{{{DC}}}creator").text = self.facts.creator
        site = self.facts.source
        if site is not None:
            source = etree.SubElement(item, "source", url=_x(site.rss_url))
            source.text = _x(site.name)
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
    body: bytes = _generator(info, entries, atom=True).atom_str(pretty=False)
    return body


def render_rss(info: FeedInfo, entries: Sequence[Entry]) -> bytes:
    body: bytes = _generator(info, entries, atom=False).rss_str(pretty=False)
    return body


def _generator(info: FeedInfo, entries: Sequence[Entry], *, atom: bool) -> FeedGenerator:
    feed = FeedGenerator()
    feed.register_extension(EXTENSION, _Feed, _Entry, atom=True, rss=True)
    feed.id(info.id)
    feed.title(_x(info.title))
    feed.description(_x(info.subtitle or info.title))
    if info.subtitle:
        feed.subtitle(_x(info.subtitle))
    feed.language(info.language)
    feed.updated(feed_updated(entries))
    feed.lastBuildDate(feed_updated(entries))
    # feedgen writes RSS's channel <link> (the website, RSS 2.0) from the last link given
    # and its atom:link from "self": so "self" first, the website last.
    feed.link(href=_x(info.self_url), rel="self", type=_self_type(atom))
    if info.hub_url and atom:
        feed.link(href=_x(info.hub_url), rel="hub")
    getattr(feed, EXTENSION).hub_url = _x(info.hub_url) if info.hub_url else None
    feed.link(href=_x(info.alternate_url), rel="alternate", type="text/html")
    if info.author:
        feed.author({"name": _x(info.author)})
    feed.generator(GENERATOR)
    for entry in entries:
        _add(feed.add_entry(order="append"), entry, info)
    return feed


def _add(item: FeedEntry, entry: Entry, info: FeedInfo) -> None:
    facts: _EntryFacts = getattr(item, EXTENSION).facts
    item.id(entry.id)  # also RSS <guid isPermaLink="false">: our ids are URNs, not pages
    item.title(_x(entry.title))
    item.published(entry.published)
    item.updated(entry.updated)
    if entry.url:
        _link(item, facts, _Link(_x(entry.url), "alternate", "text/html"))
    if entry.image:
        kind = mimetypes.guess_type(entry.image.url)[0] or "image/jpeg"
        title = _x(entry.image.alt) if entry.image.alt else None
        # The size is unknown without fetching the image; 0 is the accepted convention.
        _link(item, facts, _Link(_x(entry.image.url), "enclosure", kind, title), length="0")
    if entry.calendar_url:
        link = _Link(_x(entry.calendar_url), "related", "text/calendar", "In den Kalender")
        _link(item, facts, link)
    if entry.external_url:
        link = _Link(_x(entry.external_url), "related", "text/html", "Beim Veranstalter")
        _link(item, facts, link)
    # Atom wants an author on every entry of a feed that has none (RFC 4287 4.1.1).
    author = entry.author or (entry.site.name if entry.site else None)
    if author is None and info.author is None:
        author = info.title
    if author:
        item.author({"name": _x(author)})
        facts.creator = item.author()[0]["name"]  # feedgen's copy, already made XML-safe
    for term in entry.categories:
        item.category(term=_x(term))
    if entry.summary:
        item.summary(_x(entry.summary))
    # Atom requires content or an alternate link; an empty content keeps it valid.
    item.content(_x(entry.content_html or entry.summary or ""), type="html")
    if entry.site:
        facts.source = entry.site
        facts.source_updated = entry.updated.isoformat()


def _link(item: FeedEntry, facts: _EntryFacts, link: _Link, **more: str) -> None:
    item.link(href=link.href, rel=link.rel, type=link.type, **more)
    facts.links.append(link)


def _atom_link(parent: Any, href: str, rel: str, kind: str) -> None:
    etree.SubElement(parent, "link", href=_x(href), rel=rel, type=kind)


def _self_type(atom: bool) -> str:
    return "application/atom+xml" if atom else "application/rss+xml"


def _x(text: str) -> str:
    # lxml refuses what XML 1.0 forbids (controls, lone surrogates) with a ValueError.
    return xml_safe(text)
