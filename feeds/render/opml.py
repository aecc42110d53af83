"""OPML 2.0 (http://opml.org/spec2.opml): every feed, for importing into a feed reader."""

from __future__ import annotations

from xml.etree import ElementTree as ET

from feeds.model import Network
from feeds.render.text import xml_safe
from feeds.urls import NETWORK, Urls

FEEDS = ((Urls.news, "Neuigkeiten"), (Urls.events_feed, "Termine"))


def render_opml(network: Network, urls: Urls) -> bytes:
    opml = ET.Element("opml", {"version": "2.0"})
    head = ET.SubElement(opml, "head")
    ET.SubElement(head, "title").text = xml_safe(f"{network.name}: alle Feeds")
    body = ET.SubElement(opml, "body")
    groups = [(NETWORK, f"{network.name} (alle Gruppen)", network.homepage)] + [
        (site.slug, site.name, site.homepage) for site in network.sites
    ]
    for slug, name, homepage in groups:
        folder = ET.SubElement(body, "outline", {"text": xml_safe(name), "title": xml_safe(name)})
        for address, label in FEEDS:
            attributes = {
                "type": "rss",
                "text": xml_safe(f"{name}: {label}"),
                "title": xml_safe(f"{name}: {label}"),
                "xmlUrl": address(urls, slug, "atom"),
                "htmlUrl": homepage or urls.group_page(slug),
            }
            ET.SubElement(folder, "outline", attributes)
    body_bytes: bytes = ET.tostring(opml, encoding="utf-8", xml_declaration=True)
    return body_bytes
