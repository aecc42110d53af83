"""Renderers on their own: pure functions, checked against the formats' own rules."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree import ElementTree as ET
from zoneinfo import ZoneInfo

import feedparser
from feedgen.feed import FeedGenerator

from feeds.model import Event, Image, Post, Site, Stored
from feeds.render.entries import FeedInfo, post_entry, site_ref
from feeds.render.ics import CalendarInfo, render_calendar
from feeds.render.jsonfeed import render_json_feed
from feeds.render.syndication import render_atom, render_rss
from feeds.urls import Urls
from feeds.web.cache import BytesMemo

BERLIN = ZoneInfo("Europe/Berlin")
SEEN = datetime(2026, 1, 1, tzinfo=UTC)
INFO = FeedInfo(
    id="urn:uuid:0b7a3a51-5a8e-5a4b-9c6e-0a0b0c0d0e0f",
    title="Engagierte Stadt: Neuigkeiten",
    subtitle=None,
    self_url="https://feeds.example.org/network/news.json",
    alternate_url="https://www.engagiertestadt.de/",
)
SITE = Site(
    slug="kaiserslautern", name="Engagierte Stadt Kaiserslautern", homepage="https://ks.example/"
)
POST = Post(
    site="kaiserslautern",
    source="demo",
    external_id="seed",
    title="Gute Rahmenbedingungen für Engagement vor Ort schaffen",
    url="https://ks.example/gute-rahmenbedingungen",
    content_html="<p>Text</p>",
    author="Engagierte Stadt Kaiserslautern",
    categories=("Netzwerk",),
    image=Image(
        url="https://ks.example/plakette.jpg", alt="Das Logo", credit="© Stadt Kaiserslautern"
    ),
    published=datetime(2025, 2, 20, 10, tzinfo=BERLIN),
)


def check_json_feed(feed: dict[str, Any]) -> None:
    """The rules of https://www.jsonfeed.org/version/1.1/ that a reader relies on."""
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert isinstance(feed["title"], str)
    for key in ("home_page_url", "feed_url"):
        assert feed[key].startswith(("http://", "https://"))
    ids = [item["id"] for item in feed["items"]]
    assert len(set(ids)) == len(ids)
    for item in feed["items"]:
        assert isinstance(item["id"], str)
        assert isinstance(item.get("content_html", item.get("content_text")), str)
        for key in ("date_published", "date_modified"):
            assert datetime.fromisoformat(item[key]).tzinfo is not None
        for author in item.get("authors", []):
            assert isinstance(author["name"], str)
        assert all(isinstance(tag, str) for tag in item.get("tags", []))


def test_json_feed_follows_the_spec() -> None:
    entry = post_entry(
        Stored(POST, SEEN, SEEN, 1, 0), site_ref(SITE, Urls("https://feeds.example.org"))
    )
    feed = json.loads(render_json_feed(INFO, [entry]))
    check_json_feed(feed)
    [item] = feed["items"]
    assert item["image"] == "https://ks.example/plakette.jpg"
    assert item["date_published"] == "2025-02-20T10:00:00+01:00"


def test_network_entries_name_their_group() -> None:
    entry = post_entry(
        Stored(POST, SEEN, SEEN, 1, 0), site_ref(SITE, Urls("https://feeds.example.org"))
    )
    atom = ET.fromstring(render_atom(INFO, [entry]))
    ns = {"a": "http://www.w3.org/2005/Atom"}
    source = atom.find("a:entry/a:source", ns)
    assert source is not None
    assert source.findtext("a:title", namespaces=ns) == "Engagierte Stadt Kaiserslautern"
    self_link = source.find("a:link[@rel='self']", ns)
    assert self_link is not None
    assert self_link.get("href") == "https://feeds.example.org/kaiserslautern/news.atom"
    enclosure = atom.find("a:entry/a:link[@rel='enclosure']", ns)
    assert enclosure is not None
    assert (enclosure.get("type"), enclosure.get("title")) == ("image/jpeg", "Das Logo")
    rss = feedparser.parse(render_rss(INFO, [entry]))
    assert not rss.bozo
    assert rss.entries[0].source.title == "Engagierte Stadt Kaiserslautern"
    assert rss.entries[0].id.startswith("urn:uuid:")
    assert rss.entries[0].guidislink is False
    # RSS <author> must be an e-mail address: the name goes in dc:creator.
    assert rss.entries[0].author == POST.author
    assert b"<dc:creator>Engagierte Stadt Kaiserslautern</dc:creator>" in render_rss(INFO, [entry])
    assert rss.namespaces.get("dc") == "http://purl.org/dc/elements/1.1/"


def test_an_empty_feed_is_valid_and_stable() -> None:
    for render in (render_atom, render_rss):
        first, second = render(INFO, []), render(INFO, [])
        assert first == second
        assert not feedparser.parse(first).bozo


def test_kept_vevents_give_the_same_calendar_and_follow_changes() -> None:
    info = CalendarInfo(
        name="Termine", description=None, timezone="Europe/Berlin", refresh=timedelta(minutes=15)
    )
    start = datetime(2025, 3, 8, 20, tzinfo=BERLIN)
    events = [
        Stored(
            Event(
                site="ks",
                source="d",
                external_id=f"e{n}",
                title=f"T{n}",
                start=start + timedelta(days=n),
            ),
            SEEN,
            SEEN,
            n + 1,
            0,
        )
        for n in range(5)
    ]
    memo = BytesMemo()
    plain = render_calendar(info, events)
    assert render_calendar(info, events, memo=memo) == plain
    assert render_calendar(info, events, memo=memo) == plain  # now from the kept bytes
    changed = Stored(
        Event(site="ks", source="d", external_id="e0", title="Neu", start=start),
        SEEN,
        SEEN + timedelta(hours=1),
        9,
        1,
    )
    again = render_calendar(info, [changed, *events[1:]], memo=memo)
    assert b"SUMMARY:Neu\r\n" in again
    assert b"SUMMARY:T0\r\n" not in again
    assert again == render_calendar(info, [changed, *events[1:]])


def test_feedgen_still_drops_entry_link_attributes() -> None:
    # lkiesow/python-feedgen#135, in 1.0.0: an entry link keeps only its href. Our
    # extension (feeds.render.syndication._Entry) sets rel, type and title again; when this
    # test fails, feedgen is fixed and the workaround can go.
    feed = FeedGenerator()
    feed.id("urn:x")
    feed.title("t")
    feed.updated(SEEN)
    entry = feed.add_entry()
    entry.id("urn:y")
    entry.title("t")
    entry.updated(SEEN)
    entry.content("c", type="html")
    entry.link(href="https://example.org/a.jpg", rel="enclosure", type="image/jpeg", length="0")
    link = ET.fromstring(feed.atom_str()).find("{*}entry/{*}link")
    assert link is not None
    assert (link.get("rel"), link.get("type")) == (None, None)


def test_entry_links_keep_rel_type_and_title_despite_feedgen() -> None:
    entry = post_entry(
        Stored(POST, SEEN, SEEN, 1, 0), site_ref(SITE, Urls("https://feeds.example.org"))
    )
    links = ET.fromstring(render_atom(INFO, [entry])).findall("{*}entry/{*}link")
    found = {(link.get("rel"), link.get("type")) for link in links}
    assert ("alternate", "text/html") in found
    assert ("enclosure", "image/jpeg") in found


def test_a_postponed_event_says_so_where_each_format_can() -> None:
    """schema.org's EventPostponed has no word in iCalendar: calendars get TENTATIVE (the
    date is not to be relied on); feed titles, and the event's JSON, say "verschoben"."""
    import icalendar

    from feeds.filters import Scheduled
    from feeds.model import EventStatus
    from feeds.render.entries import event_entry

    start = datetime(2026, 6, 13, 18, tzinfo=ZoneInfo("Europe/Berlin"))
    event = Event(site="s", source="t", external_id="1", title="Sommerfest", start=start,
                  end=start + timedelta(hours=4), status=EventStatus.POSTPONED)  # fmt: skip
    stored = Stored(event, SEEN, SEEN, 1, 0)
    info = CalendarInfo(name="Termine", description=None, timezone="Europe/Berlin",
                        refresh=timedelta(hours=1))  # fmt: skip
    [vevent] = icalendar.Calendar.from_ical(render_calendar(info, [stored])).walk("VEVENT")
    assert str(vevent["STATUS"]) == "TENTATIVE"
    scheduled = Scheduled(stored, event.start_instant(), event.end_instant())
    entry = event_entry(scheduled, None, ZoneInfo("Europe/Berlin"), None)
    assert entry.title.startswith("Verschoben: Sommerfest (")
    feed = json.loads(render_json_feed(INFO, [entry]))
    assert feed["items"][0]["_event"]["status"] == "postponed"


def test_a_price_reaches_every_format_with_its_currency() -> None:
    """The Events Calendar's "3" with its € setting: "3 €" in the calendar's description,
    the feed entry, JSON Feed's `_event` and schema.org's `offers` on the event's page."""
    import icalendar

    from feeds.filters import Scheduled
    from feeds.model import Price
    from feeds.render.entries import event_entry
    from feeds.render.pages import event_detail

    start = datetime(2026, 6, 13, 18, tzinfo=BERLIN)
    price = Price(text="3 €", amount="3", currency="EUR")
    end = start + timedelta(hours=2)
    event = Event(site="s", source="t", external_id="1", title="Konzert", start=start, end=end,
                  price=price, url="https://s.example/k")  # fmt: skip
    stored = Stored(event, SEEN, SEEN, 1, 0)
    info = CalendarInfo(name="Termine", description=None, timezone="Europe/Berlin",
                        refresh=timedelta(hours=1))  # fmt: skip
    [vevent] = icalendar.Calendar.from_ical(render_calendar(info, [stored])).walk("VEVENT")
    assert "Eintritt: 3 €" in str(vevent["DESCRIPTION"])
    scheduled = Scheduled(stored, event.start_instant(), event.end_instant())
    entry = event_entry(scheduled, None, BERLIN, None)
    assert "Eintritt: 3 €" in (entry.content_html or "")
    item = json.loads(render_json_feed(INFO, [entry]))["items"][0]
    assert item["_event"]["price"] == {"text": "3 €", "amount": "3", "currency": "EUR",
                                       "free": False}  # fmt: skip
    detail = event_detail(scheduled, [], BERLIN, Urls("https://f.example"), group="G",
                          group_homepage=None)  # fmt: skip
    assert detail.price == "3 €"
    assert detail.jsonld["offers"]["price"] == "3"
    assert detail.jsonld["offers"]["priceCurrency"] == "EUR"
