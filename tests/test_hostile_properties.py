"""Hostile text and URLs from every adapter through every renderer: whatever a site sends,
no output carries a javascript: URL or a tag in a title, and every calendar parses (with
icalendar and ical.js) with exactly the events that were read."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from typing import Any
from xml.etree import ElementTree as ET

import feedparser
import icalendar
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feeds.model import Event, Post, Stored
from feeds.render.entries import post_entry
from feeds.render.ics import render_calendar
from feeds.render.jsonfeed import render_json_feed
from feeds.render.syndication import render_atom, render_rss
from sources.base import SourceError
from sources.feed import read_feed
from sources.html import HTMLSource
from sources.ical import parse_calendar
from sources.tribe_events import parse_events as parse_tribe_page
from sources.wordpress import parse_posts
from tests.helpers import CALENDAR_INFO as CALENDAR
from tests.helpers import CONTEXT
from tests.helpers import FEED_INFO as INFO
from tests.icaljs import parse_with_icaljs
from tests.test_sources_html import SEED_SELECTORS

NOW = datetime(2026, 1, 1, tzinfo=UTC)

# Markup a site may send in HTML fields; every "<" here opens a tag.
markup = st.sampled_from(
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        '<a href="javascript:alert(1)">Link</a>',
        '<a href=" JaVaScRiPt:alert(1)">Link</a>',
        '<img srcset="javascript:alert(1) 2x" src="https://x.example/i.png">',
        "<svg onload=alert(1)>",
        "<style>body{}</style>",
        "<b>fett</b>",
        '<iframe src="javascript:alert(1)"></iframe>',
    ]
)
prose = st.sampled_from(
    ["Rock Rising", "Grüße „aus“ KL", "Kinder > 6", "a & b", ",;\\", "\r\n", "\x00\x1f\x85", "😀"]
)
texts = st.lists(markup | prose, min_size=1, max_size=4).map("".join)
urls = st.sampled_from(
    [
        "javascript:alert(1)",
        " javascript:alert(1)",
        "java\nscript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "https://ok.example/a b",
        "https://ok.example/\r\nX-Injected: 1",
        "https://ok.example/",
        "",
    ]
)


def wordpress(draw: st.DrawFn) -> bytes:
    posts = [
        {
            "id": n,
            "link": draw(urls),
            "date_gmt": "2025-02-20T09:00:00",
            "title": {"rendered": draw(texts)},
            "excerpt": {"rendered": draw(texts)},
            "content": {"rendered": draw(texts)},
            "_embedded": {
                "wp:featuredmedia": [{"source_url": draw(urls), "alt_text": draw(texts)}]
            },
        }
        for n in range(1, draw(st.integers(1, 3)) + 1)
    ]
    return json.dumps(posts).encode()


def tribe(draw: st.DrawFn) -> bytes:
    events = [
        {
            "id": n,
            "title": draw(texts),
            "description": draw(texts),
            "url": draw(urls),
            "start_date": "2025-03-08 20:00:00",
            "end_date": "2025-03-08 23:59:00",
            "timezone": "Europe/Berlin",
            "image": {"url": draw(urls), "alt": draw(texts)},
            "venue": {
                "venue": draw(texts),
                "address": draw(texts),
                "geo_lat": draw(st.sampled_from(["nan", "inf", "49.44", "", "999"])),
                "geo_lng": "7.77",
            },
            "organizer": [{"organizer": draw(texts)}],
            "cost": draw(texts),
        }
        for n in range(1, draw(st.integers(1, 3)) + 1)
    ]
    return json.dumps({"events": events}).encode()


def rss(draw: st.DrawFn) -> bytes:
    root = ET.Element("rss", version="2.0")
    channel = ET.SubElement(root, "channel")
    ET.SubElement(channel, "title").text = "Feed"
    for n in range(draw(st.integers(1, 3))):
        item = ET.SubElement(channel, "item")
        ET.SubElement(item, "title").text = re.sub(
            "[\x00-\x08\x0b\x0c\x0e-\x1f\x85]", "", draw(texts)
        )
        ET.SubElement(item, "link").text = draw(urls).replace("\n", "").replace("\r", "")
        ET.SubElement(item, "guid").text = f"g{n}"
        ET.SubElement(item, "description").text = re.sub(
            "[\x00-\x08\x0b\x0c\x0e-\x1f]", "", draw(texts)
        )
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def json_feed(draw: st.DrawFn) -> bytes:
    items = [
        {
            "id": str(n),
            "title": draw(texts),
            "url": draw(urls),
            "image": draw(urls),
            "content_html": draw(texts),
        }
        for n in range(draw(st.integers(1, 3)))
    ]
    return json.dumps({"version": "https://jsonfeed.org/version/1.1", "items": items}).encode()


def ics(draw: st.DrawFn) -> bytes:
    calendar = icalendar.Calendar()
    calendar.add("version", "2.0")
    calendar.add("prodid", "-//hostile//EN")
    for n in range(draw(st.integers(1, 3))):
        event = icalendar.Event()
        event.add("uid", f"h{n}")
        event.add("summary", draw(texts))
        event.add("description", draw(texts))
        event.add("location", draw(texts))
        event.add("dtstart", datetime(2025, 3, 8 + n, 19, tzinfo=UTC))
        event.add("url", draw(urls).replace("\n", "").replace("\r", ""))
        calendar.add_component(event)
    body: bytes = calendar.to_ical()
    return body


def html_page(draw: st.DrawFn) -> bytes:
    # The seed page's shape, with what a compromised or careless CMS might put in it.
    articles = "".join(
        f'<article class="post"><h1>{draw(texts)}</h1><p class="subtitle">{draw(texts)}</p>'
        f'<div class="entry-content">{draw(texts)}<figure><img src="{draw(urls)}" alt="a">'
        f"<figcaption>{draw(texts)}</figcaption></figure></div></article>"
        for _ in range(draw(st.integers(1, 2)))
    )
    events = "".join(
        f'<li class="event"><a href="{draw(urls)}"><span class="event-title">{draw(texts)}</span>'
        f'</a><span class="event-date">8. März 2025 - 20:00 Uhr bis 23:59 Uhr</span></li>'
        for _ in range(draw(st.integers(1, 2)))
    )
    page = f'<html><body>{articles}<ul class="events">{events}</ul></body></html>'
    return page.encode()


def _read_html(body: bytes) -> list[Any]:
    try:
        result = HTML.parse(body, url="https://s.example/", today=date(2025, 3, 1))
    except SourceError:  # every title was markup only: a page refused in words is fine
        return []
    return [*result.posts, *result.events]


HTML = HTMLSource.from_config(CONTEXT, {"url": "https://s.example/", **SEED_SELECTORS})

DOCUMENTS = {
    "html": (html_page, _read_html),
    "wordpress": (wordpress, lambda b: parse_posts(b, CONTEXT, url="https://s.example/")[0]),
    "tribe_events": (tribe, lambda b: parse_tribe_page(b, CONTEXT, url="u").events),
    "rss": (rss, lambda b: read_feed(b, CONTEXT, url="https://s.example/feed").posts),
    "json_feed": (json_feed, lambda b: read_feed(b, CONTEXT, url="https://s.example/f.json").posts),
    "ical": (ics, lambda b: parse_calendar(b, CONTEXT, url="u").events),
}


@st.composite
def read_items(draw: st.DrawFn) -> tuple[str, list[Post | Event]]:
    kind = draw(st.sampled_from(sorted(DOCUMENTS)))
    make, read = DOCUMENTS[kind]
    return kind, list(read(make(draw)))


def no_script(body: bytes) -> None:
    lowered = body.lower()
    for bad in (
        b"javascript:",
        b"vbscript:",
        b"data:text/html",
        b"<script",
        b"onerror=",
        b"onload=",
    ):
        assert bad not in lowered.replace(b"&lt;", b"<"), bad


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(read_items())
def test_nothing_a_site_sends_gets_through_as_script(read: tuple[str, list[Any]]) -> None:
    kind, items = read
    for item in items:
        assert not re.search(r"<[A-Za-z/!]", item.title), (kind, item.title)  # no tag left
    posts = [Stored(i, NOW, NOW, 1, 0) for i in items if isinstance(i, Post)]
    events = [Stored(i, NOW, NOW, 1, 0) for i in items if isinstance(i, Event)]
    if posts:
        entries = [post_entry(p, None) for p in posts]
        for body in (render_atom(INFO, entries), render_rss(INFO, entries)):
            no_script(body)
            parsed = feedparser.parse(body)
            assert not parsed.bozo, parsed.get("bozo_exception")
            assert len(parsed.entries) == len(posts)
        feed = render_json_feed(INFO, entries)
        no_script(feed)
        assert len(json.loads(feed)["items"]) == len(posts)
    if events:
        body = render_calendar(CALENDAR, events)
        no_script(body)
        parsed_events = icalendar.Calendar.from_ical(body).walk("VEVENT")
        assert len(parsed_events) == len(events)
        assert [str(e["SUMMARY"]) for e in parsed_events] == [s.item.title for s in events]


def test_a_hostile_calendar_reads_the_same_in_ical_js() -> None:
    calendar = icalendar.Calendar()
    calendar.add("version", "2.0")
    calendar.add("prodid", "-//hostile//EN")
    event = icalendar.Event()
    event.add("uid", "h")
    event.add("summary", "Konzert\nBEGIN:VEVENT;laut, \\ <b>ja</b>")
    event.add("url", "javascript:alert(1)")
    event.add("dtstart", datetime(2025, 3, 8, 19, tzinfo=UTC))
    calendar.add_component(event)
    [read] = parse_calendar(calendar.to_ical(), CONTEXT, url="u").events
    body = render_calendar(CALENDAR, [Stored(read, NOW, NOW, 1, 0)])
    [seen] = parse_with_icaljs(body)["events"]
    assert seen["summary"] == read.title == "Konzert\nBEGIN:VEVENT;laut, \\ ja"
    assert b"javascript:" not in body
