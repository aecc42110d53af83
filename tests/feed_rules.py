"""The W3C feed validator's rules for Atom 1.0 and RSS 2.0 that our feeds can break,
checked on the parsed XML (the validator itself is no package on PyPI)."""

from __future__ import annotations

from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET

A = "{http://www.w3.org/2005/Atom}"
REGISTERED_RELS = {"alternate", "related", "self", "enclosure", "via"}


def atom_problems(body: bytes) -> list[str]:
    feed = ET.fromstring(body)
    problems = _required(feed, "feed", ("id", "title", "updated"))
    feed_author = feed.find(f"{A}author") is not None
    if feed.find(f"{A}link[@rel='self']") is None:
        problems.append("feed: no link rel=self")
    problems += _links(feed, "feed")
    for number, entry in enumerate(feed.iterfind(f"{A}entry"), 1):
        where = f"entry {number}"
        problems += _required(entry, where, ("id", "title", "updated"))
        source = entry.find(f"{A}source")
        if not feed_author and entry.find(f"{A}author/{A}name") is None:
            problems.append(f"{where}: no author, and the feed has none (RFC 4287 4.1.2)")
        if entry.find(f"{A}content") is None and entry.find(f"{A}link[@rel='alternate']") is None:
            problems.append(f"{where}: neither content nor an alternate link")
        alternates = [
            (link.get("type"), link.get("hreflang"))
            for link in entry.iterfind(f"{A}link[@rel='alternate']")
        ]
        if len(alternates) != len(set(alternates)):
            problems.append(f"{where}: two alternate links of one type")
        problems += _links(entry, where)
        if source is not None:
            problems += _required(source, f"{where} source", ("id", "title", "updated"))
            if not feed_author and source.find(f"{A}author/{A}name") is None:
                problems.append(f"{where} source: no author")
            problems += _links(source, f"{where} source")
        if urlsplit(entry.findtext(f"{A}id") or "").scheme == "":
            problems.append(f"{where}: id is no URI")
    return problems


def rss_problems(body: bytes) -> list[str]:
    channel = ET.fromstring(body).find("channel")
    if channel is None:
        return ["no channel"]
    problems = [
        f"channel: no {n}" for n in ("title", "link", "description") if channel.find(n) is None
    ]
    if channel.find(f"{A}link[@rel='self']") is None:
        problems.append("channel: no atom:link rel=self")
    for number, item in enumerate(channel.iterfind("item"), 1):
        where = f"item {number}"
        if item.find("title") is None and item.find("description") is None:
            problems.append(f"{where}: neither title nor description")
        guid = item.find("guid")
        if (
            guid is not None
            and guid.get("isPermaLink", "true") == "true"
            and urlsplit(guid.text or "").scheme not in ("http", "https")
        ):
            problems.append(f"{where}: a guid that is no URL must say isPermaLink=false")
        if item.find("author") is not None and "@" not in (item.findtext("author") or ""):
            problems.append(f"{where}: <author> must be an e-mail address (use dc:creator)")
        pub = item.findtext("pubDate")
        if pub is not None:
            try:
                parsedate_to_datetime(pub)
            except (TypeError, ValueError):
                problems.append(f"{where}: pubDate {pub!r} is no RFC 822 date")
        enclosure = item.find("enclosure")
        if enclosure is not None and not all(enclosure.get(k) for k in ("url", "length", "type")):
            problems.append(f"{where}: enclosure needs url, length and type")
        source = item.find("source")
        if source is not None and not source.get("url"):
            problems.append(f"{where}: source needs a url")
    return problems


def _required(element: ET.Element, where: str, names: tuple[str, ...]) -> list[str]:
    return [
        f"{where}: {len(element.findall(A + n))} <{n}>, exactly one required"
        for n in names
        if len(element.findall(A + n)) != 1
    ]


def _links(element: ET.Element, where: str) -> list[str]:
    problems = []
    for link in element.findall(f"{A}link"):
        if not link.get("href"):
            problems.append(f"{where}: a link without href")
        if link.get("rel", "alternate") not in REGISTERED_RELS:
            problems.append(f"{where}: link rel {link.get('rel')!r} is not registered")
        if link.get("rel") == "enclosure" and not link.get("type"):
            problems.append(f"{where}: an enclosure without type")
    return problems
