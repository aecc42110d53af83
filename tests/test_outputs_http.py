"""HTTP as feed readers and phones use it, and the query parameters every feed takes."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from zoneinfo import ZoneInfo

import feedparser
import icalendar
import pytest

from feeds.config import Config, Settings
from feeds.model import Event, Location, Network, Post
from feeds.web.app import create_app
from feeds.web.rendered import negotiate
from tests.conftest import SITES, Serve, Service
from tests.feed_rules import atom_problems, rss_problems
from tests.helpers import LOCAL, get
from tests.test_render import check_json_feed

BERLIN = ZoneInfo("Europe/Berlin")
FEEDS = [
    "news.atom",
    "news.rss",
    "news.json",
    "events.atom",
    "events.rss",
    "events.json",
    "events.ics",
]
PARAGRAPH = "<p>Engagierte Städte entstehen dort, wo sich Menschen gemeinsam einsetzen.</p>" * 20


def post(
    external_id: str, published: datetime, site: str = "kaiserslautern", **more: object
) -> Post:
    return Post(
        site=site,
        source="test",
        external_id=external_id,
        title=more.pop("title", external_id),  # type: ignore[arg-type]
        content_html=PARAGRAPH,
        published=published,
        **more,  # type: ignore[arg-type]
    )


def event(
    external_id: str, start: datetime | date, site: str = "kaiserslautern", **more: object
) -> Event:
    end = more.pop("end", start + timedelta(hours=2) if isinstance(start, datetime) else None)
    return Event(
        site=site,
        source="test",
        external_id=external_id,
        title=more.pop("title", external_id),  # type: ignore[arg-type]
        start=start,
        end=end,  # type: ignore[arg-type]
        description=PARAGRAPH,
        **more,  # type: ignore[arg-type]
    )


@pytest.fixture
async def filled(service: Service) -> Service:
    now = datetime.now(UTC).astimezone(BERLIN).replace(microsecond=0)
    await service.save(
        "kaiserslautern",
        posts=(
            post(
                "seed",
                datetime(2025, 2, 20, 10, tzinfo=BERLIN),
                title="Gute Rahmenbedingungen",
                categories=("Netzwerk",),
            ),
            post(
                "old",
                datetime(2024, 6, 1, 10, tzinfo=BERLIN),
                title="Sommerfest",
                categories=("Feste",),
            ),
        ),
        events=(
            event(
                "past",
                datetime(2025, 3, 8, 20, tzinfo=BERLIN),
                title="Rock Rising",
                categories=("Konzert",),
            ),
            event(
                "soon",
                now + timedelta(days=2),
                title="Demokratie-Café",
                location=Location(name="Königstraße"),
            ),
            event(
                "later",
                (now + timedelta(days=40)).date(),
                title="Freiwilligentag",
                categories=("Mitmachen",),
            ),
            event(
                "weekly",
                datetime(2025, 1, 7, 17, tzinfo=BERLIN),
                title="Sprechstunde",
                rrule="FREQ=WEEKLY;BYDAY=TU",
                categories=("Beratung",),
            ),
        ),
    )
    await service.save(
        "musterstadt",
        posts=(
            post(
                "hello",
                datetime(2025, 1, 15, 9, tzinfo=BERLIN),
                site="musterstadt",
                title="Willkommen",
            ),
        ),
        events=(event("ms-soon", now + timedelta(days=3), site="musterstadt", title="Stammtisch"),),
    )
    return service


@pytest.mark.parametrize("path", FEEDS)
async def test_validators_and_304_on_every_feed(filled: Service, path: str) -> None:
    url = f"{filled.base}/kaiserslautern/{path}"
    status, headers, body = await get(filled.http, url, **{"Accept-Encoding": "identity"})
    assert status == 200
    assert body
    etag = headers["ETag"]
    assert etag.startswith('"')  # strong: no W/ prefix
    assert headers["Cache-Control"] == "public, max-age=450"
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert "ETag" in headers["Access-Control-Expose-Headers"]
    assert headers["Vary"] == "Accept-Encoding"
    status, again, body304 = await get(
        filled.http, url, **{"If-None-Match": etag, "Accept-Encoding": "identity"}
    )
    assert (status, body304, again["ETag"]) == (304, b"", etag)
    status, _, _ = await get(filled.http, url, **{"If-Modified-Since": headers["Last-Modified"]})
    assert status == 304
    earlier = format_datetime(datetime(2000, 1, 1, tzinfo=UTC), usegmt=True)
    status, _, _ = await get(filled.http, url, **{"If-Modified-Since": earlier})
    assert status == 200
    # If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2).
    status, _, _ = await get(
        filled.http,
        url,
        **{"If-None-Match": '"other"', "If-Modified-Since": headers["Last-Modified"]},
    )
    assert status == 200


@pytest.mark.parametrize("coding", ["gzip", "br"])
async def test_compressed_responses_decode_to_the_same_bytes(filled: Service, coding: str) -> None:
    url = f"{filled.base}/network/news.atom"
    _, plain_headers, plain = await get(filled.http, url, **{"Accept-Encoding": "identity"})
    status, headers, body = await get(filled.http, url, **{"Accept-Encoding": coding})
    assert (status, headers["Content-Encoding"]) == (200, coding)
    assert body == plain
    assert int(headers["Content-Length"]) < len(plain) / 3
    assert headers["ETag"] != plain_headers["ETag"]  # each representation its own strong tag
    status, _, _ = await get(
        filled.http, url, **{"Accept-Encoding": coding, "If-None-Match": headers["ETag"]}
    )
    assert status == 304


def test_content_negotiation() -> None:
    assert negotiate("gzip, deflate, br") == "br"
    assert negotiate("gzip") == "gzip"
    assert negotiate("br;q=0.5, gzip;q=0.8") == "gzip"
    assert negotiate("*") == "br"
    assert negotiate("gzip;q=0, br;q=0") == "identity"
    assert negotiate("") == "identity"
    assert negotiate("identity") == "identity"


async def test_head_answers_headers_only(filled: Service) -> None:
    url = f"{filled.base}/kaiserslautern/events.ics"
    _, get_headers, _ = await get(filled.http, url, **{"Accept-Encoding": "identity"})
    status, headers, body = await get(
        filled.http, url, method="HEAD", **{"Accept-Encoding": "identity"}
    )
    assert (status, body) == (200, b"")
    assert headers["ETag"] == get_headers["ETag"]
    assert headers["Content-Type"] == "text/calendar; charset=utf-8"


async def test_a_changed_item_changes_the_etag(filled: Service) -> None:
    url = f"{filled.base}/kaiserslautern/news.atom"
    _, before, _ = await get(filled.http, url)
    _, same, _ = await get(filled.http, url)
    assert same["ETag"] == before["ETag"]
    await filled.save(
        "kaiserslautern",
        posts=(post("seed", datetime(2025, 2, 20, 10, tzinfo=BERLIN), title="Neu"),),
    )
    status, after, body = await get(filled.http, url, **{"If-None-Match": before["ETag"]})
    assert status == 200
    assert after["ETag"] != before["ETag"]
    assert "Neu" in [e.title for e in feedparser.parse(body).entries]


@pytest.mark.parametrize("path", ["news.atom", "news.rss", "news.json", "events.ics"])
async def test_last_modified_moves_with_every_change_shown(filled: Service, path: str) -> None:
    url = f"{filled.base}/kaiserslautern/{path}"
    _, before, _ = await get(filled.http, url)
    # A reader that sends only If-Modified-Since (no ETag) must see what changed, even an
    # item dated long before the newest one.
    await asyncio.sleep(1.1)  # HTTP dates have whole seconds
    old = datetime(2020, 1, 1, 10, tzinfo=BERLIN)
    await filled.save(
        "kaiserslautern",
        posts=(post("late", old, title="Nachgetragen"),),
        events=(event("late", old),),
    )
    status, after, body = await get(
        filled.http, url, **{"If-Modified-Since": before["Last-Modified"]}
    )
    assert status == 200
    assert parsedate_to_datetime(after["Last-Modified"]) > parsedate_to_datetime(
        before["Last-Modified"]
    )
    assert b"Nachgetragen" in body or b"late" in body
    status, _, _ = await get(filled.http, url, **{"If-Modified-Since": after["Last-Modified"]})
    assert status == 304


@pytest.mark.parametrize("path", ["network/events.atom", "network/news.atom", "network/events.ics"])
async def test_validators_are_the_same_after_a_restart(
    filled: Service, database_url: str, serve: Serve, path: str
) -> None:
    # Links carry the public address: both instances are told it, as in production.
    config = Config(Network(name="Engagierte Stadt", sites=SITES), {})
    settings = Settings(database_url=database_url, base_url="https://feeds.example", outbound=LOCAL)
    before = await serve(create_app(settings, config, harvest=False))
    _, first, _ = await get(filled.http, f"{before}/{path}")
    await asyncio.sleep(1.1)
    after = await serve(create_app(settings, config, harvest=False))
    _, second, _ = await get(filled.http, f"{after}/{path}")
    assert (second["ETag"], second["Last-Modified"]) == (first["ETag"], first["Last-Modified"])


@pytest.mark.parametrize(
    ("query", "parameter", "hint"),
    [
        ("from=8.3.2025", "from", "YYYY-MM-DD"),
        ("to=2025-13-01", "to", "YYYY-MM-DD"),
        ("from=2025-03-09&to=2025-03-08", "to", "before from=2025-03-09"),
        ("limit=0", "limit", "from 1 to 1000"),
        ("limit=ten", "limit", "whole number"),
        ("limit=5000", "limit", "from 1 to 1000"),
        ("limit=1&limit=2", "limit", "more than once"),
        ("q=", "q", "1 to 200 characters"),
        ("q=" + "x" * 201, "q", "1 to 200 characters"),
        ("category=", "category", "1 to 200 characters"),
        ("region=%20", "region", "1 to 200 characters"),
    ],
)
@pytest.mark.parametrize("path", ["news.atom", "events.json", "events.ics"])
async def test_bad_parameters_are_400_naming_them(
    filled: Service, query: str, parameter: str, hint: str, path: str
) -> None:
    status, headers, body = await get(filled.http, f"{filled.base}/network/{path}?{query}")
    assert status == 400
    assert headers["Content-Type"].startswith("text/plain")
    message = body.decode()
    assert f"query parameter {parameter!r}" in message
    assert hint in message


async def test_unknown_parameters_are_ignored(filled: Service) -> None:
    _, plain, _ = await get(filled.http, f"{filled.base}/network/news.atom")
    status, busted, _ = await get(filled.http, f"{filled.base}/network/news.atom?_=1700000000")
    assert (status, busted["ETag"]) == (200, plain["ETag"])


async def titles(service: Service, path: str) -> list[str]:
    status, _, body = await get(service.http, f"{service.base}/{path}")
    assert status == 200, body
    if path.split("?")[0].endswith(".ics"):
        return sorted(str(e["SUMMARY"]) for e in icalendar.Calendar.from_ical(body).walk("VEVENT"))
    if path.split("?")[0].endswith(".json"):
        return [item["title"] for item in json.loads(body)["items"]]
    parsed = feedparser.parse(body)
    assert not parsed.bozo, parsed.get("bozo_exception")
    return [e.title for e in parsed.entries]


async def test_news_filters(filled: Service) -> None:
    assert await titles(filled, "network/news.atom") == [
        "Gute Rahmenbedingungen",
        "Willkommen",
        "Sommerfest",
    ]
    assert await titles(filled, "network/news.atom?category=netzwerk") == ["Gute Rahmenbedingungen"]
    assert await titles(filled, "network/news.rss?region=Nordrhein-Westfalen") == ["Willkommen"]
    assert await titles(filled, "network/news.json?from=2025-01-01&to=2025-01-31") == ["Willkommen"]
    assert await titles(filled, "network/news.atom?limit=1") == ["Gute Rahmenbedingungen"]
    assert await titles(filled, "network/news.atom?q=SOMMER") == ["Sommerfest"]
    assert await titles(filled, "kaiserslautern/news.atom?region=Bayern") == []


async def test_event_feeds_list_what_is_to_come(filled: Service) -> None:
    listed = [t.split(" (")[0] for t in await titles(filled, "network/events.atom")]
    # By next occurrence: the weekly Sprechstunde comes within a week, wherever "now" falls;
    # the Freiwilligentag in 40 days comes last; Rock Rising (2025) is over.
    assert sorted(listed) == ["Demokratie-Café", "Freiwilligentag", "Sprechstunde", "Stammtisch"]
    assert listed.index("Demokratie-Café") < listed.index("Stammtisch")
    assert listed[-1] == "Freiwilligentag"
    status, _, body = await get(filled.http, f"{filled.base}/kaiserslautern/events.json")
    feed = json.loads(body)
    cafe = next(i for i in feed["items"] if i["title"].startswith("Demokratie-Café"))
    assert "Königstraße" in cafe["summary"]
    assert cafe["attachments"][0]["mime_type"] == "text/calendar"
    status, _, _ = await get(filled.http, cafe["attachments"][0]["url"])
    assert status == 200


@pytest.mark.parametrize("scope", ["network", "kaiserslautern"])
@pytest.mark.parametrize("what", ["news", "events"])
async def test_atom_and_rss_keep_the_feed_validators_rules(
    filled: Service, scope: str, what: str
) -> None:
    for fmt, check in (("atom", atom_problems), ("rss", rss_problems)):
        status, _, body = await get(filled.http, f"{filled.base}/{scope}/{what}.{fmt}")
        assert status == 200
        assert check(body) == []
        parsed = feedparser.parse(body)
        assert not parsed.bozo, parsed.get("bozo_exception")
        assert parsed.entries


async def test_json_feed_events_carry_their_own_title_and_data(filled: Service) -> None:
    status, _, body = await get(filled.http, f"{filled.base}/network/events.json")
    assert status == 200
    items = {item["title"]: item for item in json.loads(body)["items"]}
    assert set(items) == {"Demokratie-Café", "Freiwilligentag", "Sprechstunde", "Stammtisch"}
    cafe = items["Demokratie-Café"]["_event"]
    start = datetime.fromisoformat(cafe["start"])
    assert start.utcoffset() is not None  # RFC 3339 with its offset
    assert datetime.fromisoformat(cafe["end"]) - start == timedelta(hours=2)
    assert (cafe["all_day"], cafe["timezone"], cafe["status"]) == (
        False,
        "Europe/Berlin",
        "confirmed",
    )
    assert cafe["location"] == {"name": "Königstraße", "address": None, "geo": None}
    assert cafe["group"]["slug"] == "kaiserslautern"
    assert cafe["ics"].endswith(".ics")
    day = items["Freiwilligentag"]["_event"]
    assert day["all_day"] is True
    assert date.fromisoformat(day["start"]) > datetime.now(UTC).date()
    weekly = datetime.fromisoformat(items["Sprechstunde"]["_event"]["start"])
    assert (weekly.weekday(), weekly.hour) == (1, 17)  # the next Tuesday, 17:00 Berlin time
    status, _, body = await get(filled.http, f"{filled.base}/kaiserslautern/events.json")
    assert all("group" not in item["_event"] for item in json.loads(body)["items"])


async def test_calendars_keep_the_past_and_filter_by_occurrence(filled: Service) -> None:
    everything = await titles(filled, "kaiserslautern/events.ics")
    assert everything == ["Demokratie-Café", "Freiwilligentag", "Rock Rising", "Sprechstunde"]
    # The weekly series matches a week long after its first date, by its occurrences.
    assert await titles(filled, "kaiserslautern/events.ics?from=2025-06-02&to=2025-06-08") == [
        "Sprechstunde"
    ]
    # A Monday-only window has no Tuesday occurrence.
    assert await titles(filled, "kaiserslautern/events.ics?from=2025-06-02&to=2025-06-02") == []
    assert await titles(filled, "kaiserslautern/events.ics?from=2025-03-08&to=2025-03-08") == [
        "Rock Rising"
    ]
    # The network's calendar starts 180 days back unless `from` reaches further.
    assert await titles(filled, "network/events.ics?category=Konzert") == []
    assert await titles(filled, "network/events.ics?category=Konzert&from=2025-01-01") == [
        "Rock Rising"
    ]
    assert await titles(filled, "network/events.ics?q=königstraße") == ["Demokratie-Café"]
    assert await titles(filled, "network/events.ics?region=nordrhein-westfalen") == ["Stammtisch"]


async def test_unknown_group_and_format(filled: Service) -> None:
    for path in ("atlantis/news.atom", "kaiserslautern/news.xml", "kaiserslautern/events/nope.ics"):
        status, _, _ = await get(filled.http, f"{filled.base}/{path}")
        assert status == 404, path


@pytest.mark.parametrize(
    "path", ["network/news.json", "network/events.json", "kaiserslautern/events.json"]
)
async def test_json_feeds_follow_the_spec(filled: Service, path: str) -> None:
    status, headers, body = await get(filled.http, f"{filled.base}/{path}")
    assert (status, headers["Content-Type"]) == (200, "application/feed+json; charset=utf-8")
    feed = json.loads(body)
    check_json_feed(feed)
    assert feed["items"]
