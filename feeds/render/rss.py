"""RSS 2.0 (https://www.rssboard.org/rss-specification) from entries: data in, bytes out."""

from __future__ import annotations

import mimetypes
from collections.abc import Sequence
from email.utils import format_datetime
from xml.etree import ElementTree as ET

from feeds.render.entries import Entry, FeedInfo, feed_updated
from feeds.render.text import xml_safe

ATOM = "http://www.w3.org/2005/Atom"
CONTENT = "http://purl.org/rss/1.0/modules/content/"
DC = "http://purl.org/dc/elements/1.1/"


def render_rss(info: FeedInfo, entries: Sequence[Entry]) -> bytes:
    ET.register_namespace("atom", ATOM)
    ET.register_namespace("content", CONTENT)
    ET.register_namespace("dc", DC)
    rss = ET.Element("rss", {"version": "2.0"})
    channel = ET.SubElement(rss, "channel")
    _text(channel, "title", info.title)
    _text(channel, "link", info.alternate_url)
    _text(channel, "description", info.subtitle or info.title)
    _text(channel, "language", info.language)
    _text(channel, "lastBuildDate", format_datetime(feed_updated(entries)))
    _text(channel, "generator", "engagement-feeds")
    ET.SubElement(
        channel,
        f"{{{ATOM}}}link",
        {"href": xml_safe(info.self_url), "rel": "self", "type": "application/rss+xml"},
    )
    for entry in entries:
        _item(channel, entry)
    body: bytes = ET.tostring(rss, encoding="utf-8", xml_declaration=True)
    return body


def _item(channel: ET.Element, entry: Entry) -> None:
    item = ET.SubElement(channel, "item")
    _text(item, "title", entry.title)
    if entry.url:
        _text(item, "link", entry.url)
    # Our guid is a URN, not a page address: isPermaLink="false" says so truthfully.
    _text(item, "guid", entry.id).set("isPermaLink", "false")
    _text(item, "pubDate", format_datetime(entry.published))
    if entry.author:
        _text(item, f"{{{DC}}}creator", entry.author)
    for term in entry.categories:
        _text(item, "category", term)
    _text(item, "description", entry.summary or entry.content_html or "")
    if entry.content_html:
        _text(item, f"{{{CONTENT}}}encoded", entry.content_html)
    if entry.image:
        kind = mimetypes.guess_type(entry.image.url)[0] or "image/jpeg"
        # The size is unknown without fetching the image; 0 is the accepted convention.
        ET.SubElement(
            item, "enclosure", {"url": xml_safe(entry.image.url), "length": "0", "type": kind}
        )
    if entry.site:
        _text(item, "source", entry.site.name).set("url", xml_safe(entry.site.rss_url))


def _text(parent: ET.Element, tag: str, text: str) -> ET.Element:
    element = ET.SubElement(parent, tag)
    element.text = xml_safe(text)
    return element
