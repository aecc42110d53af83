"""The pages for people over HTTP, read with parsers of their own (lxml, extruct,
feedparser): what each page says, where its links go, the schema.org data search engines
read, escaping, and HTTP as for the feeds (validators, 304, a CSP)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
import extruct
import feedparser
import lxml.html
import pytest

from feeds.config import Settings
from feeds.web.app import create_app
from tests.conftest import Serve
from tests.helpers import LOCAL, get
from tests.network import towns
from tests.pages_scenario import GROUP, HOSTILE_TITLE, Scenario, serve_pages
from tests.upstream import Upstream


@pytest.fixture
async def scenario(upstream: Upstream, database_url: str, serve: Serve) -> Scenario:
    return await serve_pages(upstream, database_url, serve)


async def page(http: aiohttp.ClientSession, url: str) -> Any:
    status, headers, body = await get(http, url)
    assert status == 200, (url, body[:200])
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    return lxml.html.fromstring(body.decode(), base_url=url)


async def events_json(http: aiohttp.ClientSession, url: str) -> list[dict[str, Any]]:
    status, _, body = await get(http, url)
    assert status == 200, body
    items: list[dict[str, Any]] = json.loads(body)["items"]
    return items


async def event_url(http: aiohttp.ClientSession, base: str, title: str) -> str:
    items = await events_json(http, f"{base}/{GROUP}/events.json?from=2025-01-01&limit=100")
    [url] = [i["url"] for i in items if i["title"] == title]
    assert isinstance(url, str)
    return url


async def test_network_page_lists_every_group_under_its_state(
    scenario: Scenario, http: aiohttp.ClientSession
) -> None:
    doc = await page(http, f"{scenario.base}/")
    section = doc.get_element_by_id("gruppen").getparent()
    listed: dict[str, set[str]] = {}
    for heading in section.findall("h3"):
        names = {a.text_content() for a in heading.getnext().iterfind(".//a")}
        listed[heading.text_content()] = names
    expected: dict[str, set[str]] = {}
    for town in towns():
        expected.setdefault(town.state, set()).add(f"Engagierte Stadt {town.name}")
    assert listed == expected
    assert list(listed) == sorted(listed)  # states in order, to be found
    links = {a.get("href") for a in section.iterfind(".//a")}
    # Each group's page, and each state's (its heading).
    states = {f"{scenario.base}/?{urlencode({'region': t.state})}" for t in towns()}
    assert links == {f"{scenario.base}/{t.slug}/" for t in towns()} | states
    # Upcoming events of all groups, with their group named.
    events = doc.get_element_by_id("termine").getparent()
    assert "Offener Treff" in events.text_content()
    assert "Engagierte Stadt Kaiserslautern" in events.text_content()


async def test_a_large_network_lists_its_states_each_with_a_page(
    scenario: Scenario, http: aiohttp.ClientSession, serve: Serve, database_url: str
) -> None:
    """Past FEEDS_PAGE_GROUPS groups the network's page names each state, how many groups
    it has and a link to its page, which lists them; here 112 groups, listed up to 100."""
    settings = Settings(database_url=database_url, outbound=LOCAL, page_groups=100)
    base = await serve(create_app(settings, scenario.config, harvest=False))
    doc = await page(http, f"{base}/")
    assert "aller 112 Gruppen" in doc.cssselect("p.lead")[0].text_content()
    section = doc.get_element_by_id("gruppen").getparent()
    states = {
        li.find("a").text_content(): (li.find("a").get("href"), li.findtext("span"))
        for li in section.cssselect("ul.regions li")
    }
    expected = Counter(t.state for t in towns())
    assert {name: count for name, (_, count) in states.items()} == {
        state: f"{n} Gruppe" if n == 1 else f"{n} Gruppen" for state, n in expected.items()
    }
    assert not section.cssselect("ul.groups")  # no group listed on it
    # A state's page lists its groups, and offers its calendar and feeds.
    address, _ = states["Bayern"]
    assert address == f"{base}/?region=Bayern"
    bavaria = await page(http, address)
    names = {a.text_content() for a in bavaria.cssselect("ul.groups a")}
    assert names == {f"Engagierte Stadt {t.name}" for t in towns() if t.state == "Bayern"}
    assert len(names) == expected["Bayern"]
    feeds = {a.get("href") for a in bavaria.xpath('//link[@rel="alternate"]')}
    assert f"{base}/network/news.atom?region=Bayern" in feeds
    status, _, body = await get(http, f"{base}/network/news.atom?region=Bayern")
    assert status == 200
    posts = {e.title for e in feedparser.parse(body).entries}
    assert posts  # the state's groups' posts, no other's
    assert all(p.removeprefix("Neues aus ").split(" (")[0] in _bavarian() for p in posts)


def _bavarian() -> set[str]:
    return {t.name for t in towns() if t.state == "Bayern"}


async def test_group_page_shows_what_is_coming_and_how_to_subscribe(
    scenario: Scenario, http: aiohttp.ClientSession
) -> None:
    base = scenario.base
    doc = await page(http, f"{base}/{GROUP}/")
    assert doc.findtext(".//h1") == "Engagierte Stadt Kaiserslautern"
    upcoming = [
        (li.findtext(".//time"), li.find(".//h3").text_content())
        for li in doc.get_element_by_id("termine").getparent().iterfind(".//li")
    ]
    titles = [title for _, title in upcoming]
    assert titles[0] == "Offener Treff"  # soonest first; Rock Rising (2025) is past
    assert "Abgesagt: Flohmarkt" in titles
    assert "Rock Rising" not in titles
    # The calendar, every way: the device, Google, Outlook.com, the address to copy, QR.
    calendar = f"{base}/{GROUP}/events.ics"
    webcal = calendar.replace("http://", "webcal://")
    hrefs = {a.text_content(): a.get("href") for a in doc.cssselect(".subscribe a")}
    assert hrefs["Im Kalender abonnieren"] == webcal
    google = urlsplit(hrefs["Google Kalender"])
    assert (google.netloc, parse_qs(google.query)["cid"]) == ("calendar.google.com", [webcal])
    outlook = parse_qs(urlsplit(hrefs["Outlook.com"]).query)
    assert outlook["url"] == [calendar]
    assert outlook["name"] == ["Engagierte Stadt Kaiserslautern"]
    assert doc.cssselect(".subscribe input")[0].get("value") == calendar
    assert doc.cssselect(".subscribe .qr img")[0].get("src") == f"{base}/{GROUP}/qr.svg"
    # The snippet for the group's own website names the group.
    snippet = doc.get_element_by_id(f"snippet-{GROUP}").get("value")
    assert snippet == f'<script src="{base}/embed.js" data-site="{GROUP}" async></script>'


async def test_every_page_announces_its_feeds_and_itself(
    scenario: Scenario, http: aiohttp.ClientSession
) -> None:
    base = scenario.base
    rock = await event_url(http, base, "Rock Rising")
    post = (await events_json(http, f"{base}/{GROUP}/news.json"))[0]
    pages = [f"{base}/", f"{base}/{GROUP}/", rock, f"{base}/embed"]
    for url in pages:
        doc = await page(http, url)
        feeds = doc.xpath('//link[@rel="alternate"]')
        assert {f.get("type") for f in feeds} >= {"application/atom+xml", "application/rss+xml"}
        for link in feeds:
            status, _, body = await get(http, link.get("href"))
            assert status == 200, link.get("href")
            if link.get("type") == "application/feed+json":
                assert json.loads(body)["version"] == "https://jsonfeed.org/version/1.1"
                continue
            parsed = feedparser.parse(body)
            assert not parsed.bozo, (link.get("href"), parsed.bozo_exception)
            assert parsed.version in ("atom10", "rss20")
        og = {m.get("property"): m.get("content") for m in doc.xpath("//meta[@property]")}
        assert og["og:url"] == url
        assert og["og:title"] == doc.findtext(".//title")
        assert og["og:locale"] == "de_DE"
    # A post's page says where the original is, for people and for search engines.
    assert post["url"].startswith("https://example.org/")  # WordPress gives its link
    ours = f"{base}/{GROUP}/posts/{post['id'].removeprefix('urn:uuid:')}"
    doc = await page(http, ours)
    assert doc.xpath('//link[@rel="canonical"]/@href') == [post["url"]]
    assert doc.findtext(".//h1") == post["title"]
    assert doc.xpath('//a[text()="Auf der Website der Gruppe lesen"]/@href') == [post["url"]]


async def test_event_page_in_german_with_place_and_add_to_calendar(
    scenario: Scenario, http: aiohttp.ClientSession
) -> None:
    url = await event_url(http, scenario.base, "Rock Rising")
    doc = await page(http, url)
    facts = dict(
        zip(
            [dt.text_content() for dt in doc.cssselect(".facts dt")],
            [dd.text_content() for dd in doc.cssselect(".facts dd")],
            strict=True,
        )
    )
    assert facts["Wann"] == "Sa., 8. März 2025, 20:00–23:59 Uhr"
    assert facts["Wo"].startswith("Kammgarn, Schoenstraße 10, 67659 Kaiserslautern")
    assert facts["Veranstalter"] == "Jugendzentrum Kaiserslautern"
    assert facts["Themen"] == "Konzert, Jugend"
    [osm] = doc.xpath('//a[starts-with(text(), "Auf der Karte zeigen")]/@href')
    assert parse_qs(urlsplit(osm).query) == {"mlat": ["49.444700"], "mlon": ["7.769000"]}
    assert "Einlass ab 19:30 Uhr" in doc.cssselect(".text")[0].text_content()
    add = {a.text_content(): a.get("href") for a in doc.cssselect(".add a")}
    assert add["In meinen Kalender eintragen"] == url + ".ics"
    google = parse_qs(urlsplit(add["Google Kalender"]).query)
    assert google["dates"] == ["20250308T190000Z/20250308T225900Z"]  # 20:00–23:59 in Berlin
    assert google["text"] == ["Rock Rising"]
    assert google["location"] == ["Kammgarn, Schoenstraße 10, 67659 Kaiserslautern"]
    outlook = parse_qs(urlsplit(add["Outlook.com"]).query)
    assert (outlook["startdt"], outlook["enddt"]) == (
        ["2025-03-08T19:00:00Z"],
        ["2025-03-08T22:59:00Z"],
    )
    assert doc.xpath('//a[text()="Mehr beim Veranstalter"]/@href') == [
        "https://kammgarn.example/rock-rising"
    ]
    status, headers, _ = await get(http, add["In meinen Kalender eintragen"])
    assert (status, headers["Content-Type"]) == (200, "text/calendar; charset=utf-8")


async def test_event_page_carries_schema_org_event(
    scenario: Scenario, http: aiohttp.ClientSession
) -> None:
    url = await event_url(http, scenario.base, "Rock Rising")
    _, _, body = await get(http, url)
    data = extruct.extract(body.decode(), base_url=url, syntaxes=["json-ld"])["json-ld"]
    [event] = data
    assert event["@type"] == "Event"
    assert event["name"] == "Rock Rising"
    assert event["startDate"] == "2025-03-08T20:00:00+01:00"
    assert event["endDate"] == "2025-03-08T23:59:00+01:00"
    assert event["eventStatus"] == "https://schema.org/EventScheduled"
    assert event["location"]["name"] == "Kammgarn, Schoenstraße 10, 67659 Kaiserslautern"
    assert event["location"]["geo"] == {
        "@type": "GeoCoordinates",
        "latitude": 49.4447,
        "longitude": 7.769,
    }
    assert event["url"] == url
    assert event["organizer"]["name"] == "Jugendzentrum Kaiserslautern"


async def test_series_and_cancelled_and_all_day_event_pages(
    scenario: Scenario, http: aiohttp.ClientSession
) -> None:
    base = scenario.base
    doc = await page(http, await event_url(http, base, "Offener Treff"))
    [when] = doc.xpath('//dt[text()="Wann"]/following-sibling::dd[1]/time/@datetime')
    assert when == scenario.treff_start.isoformat()  # the next date, not the first
    more = doc.xpath('//h2[@id="weitere"]/following-sibling::ul[1]/li/time/@datetime')
    assert len(more) == 10
    assert more[0] == (scenario.treff_start + timedelta(weeks=1)).isoformat()
    doc = await page(http, await event_url(http, base, "Flohmarkt"))
    assert doc.findtext(".//h1") == "Abgesagt: Flohmarkt"
    assert doc.cssselect("section.add") == []  # nothing to put in a calendar
    _, _, body = await get(http, await event_url(http, base, "Flohmarkt"))
    [data] = extruct.extract(body.decode(), syntaxes=["json-ld"])["json-ld"]
    assert data["eventStatus"] == "https://schema.org/EventCancelled"
    _, _, body = await get(http, await event_url(http, base, "Freiwilligentag"))
    [data] = extruct.extract(body.decode(), syntaxes=["json-ld"])["json-ld"]
    # Dates, the last day inclusive (two days: DTEND is exclusive in iCalendar).
    day = scenario.freiwilligentag
    assert (data["startDate"], data["endDate"]) == (
        day.isoformat(),
        (day + timedelta(days=1)).isoformat(),
    )


async def test_upstream_markup_is_text_on_pages(
    scenario: Scenario, http: aiohttp.ClientSession
) -> None:
    base = scenario.base
    url = await event_url(http, base, HOSTILE_TITLE)
    for where in (url, f"{base}/{GROUP}/", f"{base}/"):
        status, _, body = await get(http, where)
        assert status == 200
        text = body.decode()
        assert "<script>window.__pwned" not in text, where
        assert "&lt;script&gt;window.__pwned" in text, where
        assert "<b>Stiftsplatz</b>" not in text
    # The JSON-LD may not close its <script>; parsed, it holds the title as it was.
    _, _, body = await get(http, url)
    [script] = lxml.html.fromstring(body.decode()).xpath('//script[@type="application/ld+json"]')
    assert json.loads(script.text)["name"] == HOSTILE_TITLE


async def test_feed_entries_link_to_the_pages(
    scenario: Scenario, http: aiohttp.ClientSession
) -> None:
    base = scenario.base
    rock = await event_url(http, base, "Rock Rising")
    assert rock.startswith(f"{base}/{GROUP}/events/")
    status, _, body = await get(http, f"{base}/{GROUP}/events.atom?from=2025-01-01")
    assert status == 200
    feed = feedparser.parse(body)
    [entry] = [e for e in feed.entries if e.title.startswith("Rock Rising")]
    links = {(link.rel, link.type): link.href for link in entry.links}
    assert links[("alternate", "text/html")] == rock
    assert links[("related", "text/html")] == "https://kammgarn.example/rock-rising"
    assert links[("related", "text/calendar")] == rock + ".ics"
    items = await events_json(http, f"{base}/{GROUP}/events.json?from=2025-01-01")
    [item] = [i for i in items if i["title"] == "Rock Rising"]
    assert (item["url"], item["external_url"]) == (rock, "https://kammgarn.example/rock-rising")
    # Posts without an address of their own (here: a schema.org page's) link to ours.
    jsonld_group = next(t.slug for t in towns() if t.kind == "jsonld")
    [post] = (await events_json(http, f"{base}/{jsonld_group}/news.json"))[:1]
    assert post["url"] == f"{base}/{jsonld_group}/posts/{post['id'].removeprefix('urn:uuid:')}"
    doc = await page(http, post["url"])
    assert doc.findtext(".//h1") == post["title"]


async def test_pages_are_cached_and_validated_like_feeds(
    scenario: Scenario, http: aiohttp.ClientSession
) -> None:
    base = scenario.base
    rock = await event_url(http, base, "Rock Rising")
    for url in (f"{base}/", f"{base}/{GROUP}/", rock, f"{base}/{GROUP}/qr.svg", f"{base}/embed"):
        status, headers, _ = await get(http, url)
        assert status == 200
        again, _, body = await get(http, url, **{"If-None-Match": headers["ETag"]})
        assert (again, body) == (304, b""), url
        if url.endswith(".svg"):
            assert headers["Content-Type"] == "image/svg+xml"
            continue
        policy = headers["Content-Security-Policy"]
        assert "default-src 'none'" in policy
        assert "script-src 'self'" in policy
        assert "frame-ancestors 'none'" in policy
    status, headers, _ = await get(http, f"{base}/network/widget")
    assert status == 200
    assert "frame-ancestors" not in headers["Content-Security-Policy"]  # made to be framed


@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        ("/kaiserslautern/events/00000000-0000-0000-0000-000000000000", 404, "Diesen Termin"),
        ("/kaiserslautern/posts/00000000-0000-0000-0000-000000000000", 404, "Diesen Beitrag"),
        ("/atlantis/", 404, "Eine Gruppe „atlantis“ gibt es hier nicht."),
        ("/atlantis/events/00000000-0000-0000-0000-000000000000", 404, "„atlantis“"),
        ("/%3Cscript%3E/", 404, "„&lt;script&gt;“"),  # said, escaped
        ("/atlantis/qr.svg", 404, "no group named"),
        ("/network/widget?limit=0", 400, "limit"),
        ("/network/widget?region=%00", 400, "region"),
        ("/static/nothing.css", 404, "no file"),
        ("/static/..%2Fpages.py", 404, "no file"),
    ],
)
async def test_page_requests_that_cannot_be_answered(
    scenario: Scenario, http: aiohttp.ClientSession, path: str, status: int, words: str
) -> None:
    got, _, body = await get(http, scenario.base + path)
    assert got == status, body
    assert words in body.decode()
