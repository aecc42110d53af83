"""Hostile posts and events through every renderer: the output still parses, keeps the text,
and carries no script.

Items are made as adapters make them, through the one boundary where upstream text becomes
domain text (plain_text for text, sanitize_html for HTML); renderers only escape, so every
output gives back exactly the stored text: decoded once, never twice."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree as ET
from zoneinfo import ZoneInfo

import feedparser
import icalendar
import lxml.html
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feeds.filters import Scheduled
from feeds.model import Event, Location, Post, Stored
from feeds.render import pages
from feeds.render.entries import UNTITLED, FeedInfo, post_entry
from feeds.render.ics import CalendarInfo, render_calendar
from feeds.render.jsonfeed import render_json_feed
from feeds.render.syndication import render_atom, render_rss
from feeds.render.text import xml_safe
from feeds.sanitize import plain_text, sanitize_html
from feeds.urls import Urls
from tests.icaljs import parse_with_icaljs

BERLIN = ZoneInfo("Europe/Berlin")
SEEN = datetime(2026, 1, 1, tzinfo=UTC)
INFO = FeedInfo(
    id="urn:uuid:0b7a3a51-5a8e-5a4b-9c6e-0a0b0c0d0e0f",
    title="Engagierte Stadt: Neuigkeiten",
    subtitle=None,
    self_url="http://127.0.0.1/network/news.atom",
    alternate_url="http://127.0.0.1/",
)
CALENDAR = CalendarInfo(
    name="Termine", description=None, timezone="Europe/Berlin", refresh=timedelta(minutes=15)
)

hostile_pieces = st.sampled_from(
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        '<a href="javascript:alert(1)">x</a>',
        "\x00\x01\x08\x0b\x0c\x1f",
        "\ufffe\uffff",
        "😀🎸",
        "Grüße aus Kaiserslautern – „Engagierte Stadt“ ß",
        ",;\\:",
        "\n\r\n\t",
        "x" * 5000,
        "]]>",
        "&amp; &lt; &#0; &bogus;",
        "<!-- -->",
        "\u2028\u2029",
    ]
)
texts = st.lists(hostile_pieces | st.text(max_size=20), min_size=1, max_size=4).map("".join)
# Escaped markup upstream is text in the domain: "<script>" that a page must show as text.
page_texts = st.lists(
    hostile_pieces
    | st.just("&lt;script&gt;alert(1)&lt;/script&gt;&lt;b&gt;")
    | st.text(max_size=20),
    min_size=1,
    max_size=4,
).map("".join)


def visible(text: str) -> str:
    """The text a reader shows: XML-forbidden characters gone, whitespace folded."""
    return re.sub(r"\s+", " ", xml_safe(text)).strip()


def plain_opt(text: str | None) -> str | None:
    return None if text is None else plain_text(text) or None


def folded(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@st.composite
def posts(draw: st.DrawFn, texts: st.SearchStrategy[str] = texts) -> Stored[Post]:
    post = Post(
        site="kaiserslautern",
        source="test",
        external_id=draw(texts),
        title=plain_text(draw(texts)),
        url="https://example.org/p?a=1&b=2",
        summary=plain_opt(draw(st.none() | texts)),
        content_html=sanitize_html(draw(texts)),
        author=plain_opt(draw(st.none() | texts)),
        categories=tuple(c for c in map(plain_text, draw(st.lists(texts, max_size=3))) if c),
        published=datetime(2025, 2, 20, 10, tzinfo=BERLIN),
    )
    return Stored(post, SEEN, SEEN, 1, 0)


@st.composite
def events(draw: st.DrawFn, texts: st.SearchStrategy[str] = texts) -> Stored[Event]:
    start = datetime(2025, 3, 8, 20, tzinfo=BERLIN) + timedelta(days=draw(st.integers(0, 2000)))
    event = Event(
        site="kaiserslautern",
        source="test",
        external_id=draw(texts),
        title=plain_text(draw(texts)),
        start=start,
        end=start + timedelta(hours=3, minutes=59),
        description=sanitize_html(draw(texts)) or None,
        location=Location(name=plain_opt(draw(texts)), address=plain_opt(draw(st.none() | texts))),
        categories=tuple(c for c in map(plain_text, draw(st.lists(texts, max_size=3))) if c),
        organizer=plain_opt(draw(st.none() | texts)),
    )
    return Stored(event, SEEN, SEEN, 1, draw(st.integers(0, 5)))


def no_script(body: bytes) -> None:
    # Text that reads "<script>" is escaped ("&lt;script&gt;" in XML); live markup never is.
    lowered = body.lower()
    assert b"<script" not in lowered
    assert b"javascript:" not in lowered
    assert b"onerror=" not in lowered.replace(b"&lt;", b"").replace(b"&amp;", b"")


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(posts(), min_size=1, max_size=4))
def test_hostile_posts_in_atom_and_rss(stored: list[Stored[Post]]) -> None:
    entries = [post_entry(p, None) for p in stored]
    expected = [visible(p.item.title or UNTITLED) for p in stored]
    for render, path in ((render_atom, "{*}entry/{*}title"), (render_rss, "channel/item/title")):
        body = render(INFO, entries)
        parsed = feedparser.parse(body)
        assert not parsed.bozo, parsed.get("bozo_exception")
        assert len(parsed.entries) == len(stored)
        # Text compared through a strict XML parser: feedparser "repairs" strings that
        # look double-encoded ("Â¡" becomes "¡"), which is its heuristic, not our output.
        titles = [folded(t.text or "") for t in ET.fromstring(body).iterfind(path)]
        assert titles == expected
        no_script(body)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(posts(), min_size=1, max_size=4))
def test_hostile_posts_in_json_feed(stored: list[Stored[Post]]) -> None:
    body = render_json_feed(INFO, [post_entry(p, None) for p in stored])
    feed = json.loads(body)
    assert [item["title"] for item in feed["items"]] == [p.item.title or UNTITLED for p in stored]
    for item in feed["items"]:
        assert "<script" not in item["content_html"].lower()
        assert "onerror=" not in item["content_html"].lower()
        assert "javascript:" not in item["content_html"].lower()


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(events(), min_size=1, max_size=4))
def test_hostile_events_in_ics(stored: list[Stored[Event]]) -> None:
    body = render_calendar(CALENDAR, stored)
    assert all(len(line) <= 75 for line in body.split(b"\r\n"))
    calendar = icalendar.Calendar.from_ical(body)
    components = calendar.walk("VEVENT")
    assert [str(c["SUMMARY"]) for c in components] == [s.item.title for s in stored]
    assert [c.decoded("DTSTART") for c in components] == [s.item.start for s in stored]
    text = body.decode().lower()
    assert "<script" not in text


def test_one_hostile_calendar_through_ical_js() -> None:
    title = "Rock „Rising“; laut, 😀 \\ ende\nzweite Zeile " + "ß" * 300
    stored = Stored(
        Event(
            site="kaiserslautern",
            source="test",
            external_id="hostile",
            title=title,
            start=datetime(2025, 7, 8, 20, tzinfo=BERLIN),
            end=datetime(2025, 7, 8, 23, 59, tzinfo=BERLIN),
            description=sanitize_html("<p>a<script>alert(1)</script>b</p>"),
        ),
        SEEN,
        SEEN,
        1,
        0,
    )
    body = render_calendar(CALENDAR, [stored])
    [seen] = parse_with_icaljs(body)["events"]
    assert seen["summary"] == title
    assert seen["description"] == "ab"
    assert (seen["start"], seen["end"]) == ("2025-07-08T18:00:00.000Z", "2025-07-08T21:59:00.000Z")


PAGE_BASE = "http://127.0.0.1:8080"


def page_for(title: str) -> pages.Page:
    return pages.Page(
        urls=Urls(PAGE_BASE),
        network="Engagierte Stadt",
        title=title,
        description=title,
        url=PAGE_BASE,
    )


def our_scripts_only(doc: lxml.html.HtmlElement) -> list[str]:
    """The page's scripts are ours: the copy buttons' file and, maybe, JSON-LD data."""
    scripts = doc.xpath("//script")
    for script in scripts:
        if script.get("src"):
            assert script.get("src").startswith(f"{PAGE_BASE}/static/pages.js?v=")
        else:
            assert script.get("type") == "application/ld+json"
    handlers = doc.xpath("//@*[starts-with(name(), 'on')]")
    assert handlers == []
    links = doc.xpath("//@href | //@src")
    assert not [link for link in links if link.strip().lower().startswith("javascript:")]
    return [s.text for s in scripts if s.get("type") == "application/ld+json"]


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(events(page_texts))
def test_hostile_events_on_their_pages(stored: Stored[Event]) -> None:
    event = stored.item
    scheduled = Scheduled(stored, event.start_instant(), event.end_instant())
    detail = pages.event_detail(
        scheduled, [], BERLIN, Urls(PAGE_BASE), group="Engagierte Stadt Kaiserslautern",
        group_homepage=None,
    )  # fmt: skip
    body = pages.render_event(page_for(event.title), detail)
    doc = lxml.html.fromstring(body)
    [data] = our_scripts_only(doc)
    assert doc.findtext(".//title") == event.title  # escaped, not interpreted
    assert doc.xpath("string(//h1)") == (event.title or UNTITLED)
    assert json.loads(data)["name"] == (event.title or UNTITLED)
    assert json.loads(data)["startDate"] == event.start.isoformat()


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(posts(page_texts))
def test_hostile_posts_on_their_pages(stored: Stored[Post]) -> None:
    detail = pages.post_detail(stored, BERLIN, Urls(PAGE_BASE), group="Engagierte Stadt")
    body = pages.render_post(page_for(stored.item.title), detail)
    doc = lxml.html.fromstring(body)
    assert our_scripts_only(doc) == []
    assert doc.xpath("string(//h1)") == (stored.item.title or UNTITLED)
