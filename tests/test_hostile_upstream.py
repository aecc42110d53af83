"""Upstream text becomes domain text once, at the adapter; renderers only escape. The cases
that once came out of the service as live markup or as dangerous links."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from xml.etree import ElementTree as ET

import icalendar

from feeds.model import Stored
from feeds.render.entries import post_entry
from feeds.render.ics import CalendarInfo, render_calendar
from feeds.render.jsonfeed import render_json_feed
from feeds.render.syndication import render_atom, render_rss
from sources.ical import parse_calendar
from sources.tribe_events import parse_events as parse_tribe_page
from sources.wordpress import parse_posts
from tests.helpers import CONTEXT
from tests.helpers import FEED_INFO as INFO

NOW = datetime(2025, 3, 1, tzinfo=UTC)
WORDPRESS_POST = {
    "id": 7,
    "link": "javascript:alert(1)",
    "date_gmt": "2025-02-20T09:00:00",
    # An author who typed "&lt;script&gt;" as text: WordPress renders it encoded twice.
    "title": {"rendered": "&amp;lt;script&amp;gt;alert(1)&amp;lt;/script&amp;gt; Termine"},
    "content": {
        "rendered": '<p>Hallo <img src="x" srcset="javascript:alert(1) 2x" onerror="alert(1)">'
        '<a href="javascript:alert(1)">klick</a><a href="mailto:info@example.org">Mail</a></p>'
    },
    "_embedded": {"wp:featuredmedia": [{"source_url": "https://x.example/a\r\nb.jpg"}]},
}


def test_a_title_decoded_once_reads_the_same_in_every_format() -> None:
    [post], skipped = parse_posts(json.dumps([WORDPRESS_POST]).encode(), CONTEXT, url="u")
    assert skipped == []
    text = "&lt;script&gt;alert(1)&lt;/script&gt; Termine"  # what the author wrote
    assert post.title == text
    assert post.url is None  # a javascript: link is no link
    assert post.image is not None
    assert post.image.url == "https://x.example/ab.jpg"
    assert post.content_html is not None
    for bad in ("javascript:", "onerror", "srcset", "<script"):
        assert bad not in post.content_html
    assert 'href="mailto:info@example.org"' in post.content_html
    entries = [post_entry(Stored(post, NOW, NOW, 1, 0), None)]
    atom = ET.fromstring(render_atom(INFO, entries))
    assert atom.findtext("{*}entry/{*}title") == text
    rss = ET.fromstring(render_rss(INFO, entries))
    assert rss.findtext("channel/item/title") == text
    assert json.loads(render_json_feed(INFO, entries))["items"][0]["title"] == text
    for body in (render_atom(INFO, entries), render_rss(INFO, entries)):
        assert b"<script" not in body.lower()
        assert b"javascript:" not in body.lower()


def test_calendar_text_and_links_stay_inside_their_lines() -> None:
    body = (
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:h\r\n"
        b"SUMMARY:Konzert\\nBEGIN:VEVENT <b>laut</b>\r\n"
        b"URL:javascript:alert(1)\r\nGEO:nan;inf\r\n"
        b"DTSTART:20250308T190000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    [event] = parse_calendar(body, CONTEXT, url="u").events
    assert event.title == "Konzert\nBEGIN:VEVENT laut"
    assert (event.url, event.location) == (None, None)
    info = CalendarInfo(
        name=event.title, description=None, timezone="Europe/Berlin", refresh=NOW - NOW
    )
    out = render_calendar(info, [Stored(event, NOW, NOW, 1, 0)])
    # The text "BEGIN:VEVENT" stays text inside its (escaped) line: one component.
    assert out.split(b"\r\n").count(b"BEGIN:VEVENT") == 1
    [vevent] = icalendar.Calendar.from_ical(out).walk("VEVENT")
    assert str(vevent["SUMMARY"]) == event.title


def test_events_calendar_links_and_coordinates_from_a_hostile_site() -> None:
    raw = {
        "events": [
            {
                "id": 1,
                "title": "Fest",
                "url": "javascript:alert(1)",
                "start_date": "2025-03-08 20:00:00",
                "end_date": "2025-03-08 23:59:00",
                "timezone": "Europe/Berlin",
                "image": {"url": "data:text/html,<script>alert(1)</script>"},
                "venue": {"venue": "Halle", "geo_lat": "nan", "geo_lng": "7.7"},
            }
        ]
    }
    [event] = parse_tribe_page(json.dumps(raw).encode(), CONTEXT, url="u").events
    assert (event.url, event.image) == (None, None)
    assert event.location is not None
    assert event.location.geo is None
