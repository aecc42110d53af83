"""Atom 1.0 (RFC 4287) from entries: data in, bytes out.

Written with ElementTree rather than feedgen: feedgen 1.0 drops rel and type from entry
links (lkiesow/python-feedgen#135), which turns an image enclosure into a second
"alternate" link, and it cannot write the <source> network entries need.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Sequence
from xml.etree import ElementTree as ET

from feeds.render.entries import Entry, FeedInfo, feed_updated
from feeds.render.text import xml_safe

ATOM = "http://www.w3.org/2005/Atom"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def render_atom(info: FeedInfo, entries: Sequence[Entry]) -> bytes:
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed", {XML_LANG: info.language})
    _text(feed, "id", info.id)
    _text(feed, "title", info.title)
    if info.subtitle:
        _text(feed, "subtitle", info.subtitle)
    _text(feed, "updated", feed_updated(entries).isoformat())
    _link(feed, info.alternate_url, "alternate", "text/html")
    _link(feed, info.self_url, "self", "application/atom+xml")
    if info.author:
        _person(feed, "author", info.author)
    _text(feed, "generator", "engagement-feeds")
    for entry in entries:
        _entry(feed, entry)
    body: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return body


def _entry(feed: ET.Element, entry: Entry) -> None:
    element = _sub(feed, "entry")
    _text(element, "id", entry.id)
    _text(element, "title", entry.title)
    _text(element, "published", entry.published.isoformat())
    _text(element, "updated", entry.updated.isoformat())
    if entry.url:
        _link(element, entry.url, "alternate", "text/html")
    if entry.image:
        kind = mimetypes.guess_type(entry.image.url)[0] or "image/jpeg"
        alt = entry.image.alt
        _link(element, entry.image.url, "enclosure", kind, title=alt)
    if entry.calendar_url:
        _link(element, entry.calendar_url, "related", "text/calendar", title="In den Kalender")
    if entry.author:
        _person(element, "author", entry.author)
    for term in entry.categories:
        _sub(element, "category", term=xml_safe(term))
    if entry.summary:
        _text(element, "summary", entry.summary)
    # Atom requires content or an alternate link; an empty content keeps it valid.
    _text(element, "content", entry.content_html or entry.summary or "", type="html")
    if entry.site:
        source = _sub(element, "source")
        _text(source, "id", entry.site.feed_id)
        _text(source, "title", entry.site.name)
        _link(source, entry.site.feed_url, "self", "application/atom+xml")
        if entry.site.url:
            _link(source, entry.site.url, "alternate", "text/html")


def _sub(parent: ET.Element, tag: str, **attributes: str) -> ET.Element:
    return ET.SubElement(parent, f"{{{ATOM}}}{tag}", attributes)


def _text(parent: ET.Element, tag: str, text: str, **attributes: str) -> ET.Element:
    element = _sub(parent, tag, **attributes)
    element.text = xml_safe(text)
    return element


def _link(parent: ET.Element, href: str, rel: str, kind: str, *, title: str | None = None) -> None:
    attributes = {"href": xml_safe(href), "rel": rel, "type": kind}
    if title:
        attributes["title"] = xml_safe(title)
    _sub(parent, "link", **attributes)


def _person(parent: ET.Element, tag: str, name: str) -> None:
    _text(_sub(parent, tag), "name", name)
