"""A generated network of 112 groups at real German towns (tests/data/network/towns.csv),
each publishing on a local test server in one of the ways groups do: an RSS feed, an ICS
calendar, a page with schema.org JSON-LD, WordPress's REST API or The Events Calendar's.
Three groups carry the same regional event (the same UID); two others have a "Stammtisch"
at the same hour without a place, which must stay two events."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from aiohttp import web

from feeds.config import Config
from feeds.model import Network, Site, SourceConfig
from sources import build_source
from sources.base import SourceContext
from tests.upstream import Handler, Upstream

BERLIN = ZoneInfo("Europe/Berlin")
TOWNS = Path(__file__).parent / "data" / "network" / "towns.csv"
KINDS = ("feed", "ical", "jsonld", "wordpress", "tribe_events")
POSTING = {"feed", "jsonld", "wordpress"}
EVENTS = {"ical", "jsonld", "tribe_events"}


@dataclass(frozen=True, slots=True)
class Town:
    slug: str
    name: str
    state: str
    geo: tuple[float, float]
    kind: str


def towns() -> list[Town]:
    lines = [line for line in TOWNS.read_text(encoding="utf-8").splitlines() if line[:1] != "#"]
    rows = list(csv.DictReader(lines))
    return [
        Town(
            row["slug"],
            row["name"],
            row["state"],
            (float(row["latitude"]), float(row["longitude"])),
            KINDS[index % len(KINDS)],
        )
        for index, row in enumerate(rows)
    ]


def shared() -> tuple[str, ...]:
    """Three groups (calendars) carrying "Landesweiter Aktionstag" under one UID."""
    return tuple(t.slug for t in towns() if t.kind == "ical")[:3]


def stammtisch() -> tuple[str, ...]:
    """Two groups with a "Stammtisch" at the same hour and no place: two events."""
    return tuple(t.slug for t in towns() if t.kind == "ical")[3:5]


def start(index: int) -> datetime:
    return datetime(2027, 3, 1, 18, tzinfo=BERLIN) + timedelta(days=index)


def posts_of(town: Town) -> list[str]:
    return [f"Neues aus {town.name} ({n})" for n in (1, 2)] if town.kind in POSTING else []


def events_of(town: Town, index: int) -> list[tuple[str, str, datetime, str | None]]:
    """(uid, title, start, place) of a group's events."""
    if town.kind not in EVENTS:
        return []
    events: list[tuple[str, str, datetime, str | None]] = [
        (f"{town.slug}-treffen@test", f"Treffen in {town.name}", start(index), town.name)
    ]
    if town.slug in shared():
        events.append(("aktionstag-2027@land", "Landesweiter Aktionstag", start(200), None))
    if town.slug in stammtisch():
        events.append((f"{town.slug}-stammtisch@test", "Stammtisch", start(300), None))
    return events


def serve_network(upstream: Upstream) -> Config:
    """Every group's website on `upstream`, and the configuration that reads them."""
    sites, sources = [], {}
    for index, town in enumerate(towns()):
        path = f"/{town.slug}/"
        body, content_type = _document(town, index)
        where = {
            "wordpress": f"{path}wp-json/wp/v2/posts",
            "tribe_events": f"{path}wp-json/tribe/events/v1/events",
        }.get(town.kind, path)
        upstream.add(where, _answer(body, content_type))
        config = SourceConfig(name="web", kind=town.kind, options=(("url", upstream.base + path),))
        sites.append(
            Site(
                slug=town.slug,
                name=f"Engagierte Stadt {town.name}",
                region=town.state,
                geo=town.geo,
                sources=(config,),
            )
        )
        context = SourceContext(
            site=town.slug, source="web", timezone="Europe/Berlin", homepage=None,
            config_dir=Path(),
        )  # fmt: skip
        sources[town.slug, "web"] = build_source(town.kind, context, config.options_dict)
    return Config(Network(name="Engagierte Stadt", sites=tuple(sites)), sources)


def _answer(body: str, content_type: str) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=body, content_type=content_type)

    return handler


def _document(town: Town, index: int) -> tuple[str, str]:
    if town.kind == "wordpress":  # the REST API's posts, as WordPress gives them
        posts = [
            {"id": n, "date_gmt": f"2027-02-0{n}T09:00:00", "link": f"https://example.org/{n}",
             "title": {"rendered": title}, "content": {"rendered": "<p>Text</p>"}}
            for n, title in enumerate(posts_of(town), 1)
        ]  # fmt: skip
        return json.dumps(posts, ensure_ascii=False), "application/json"
    if town.kind == "tribe_events":  # The Events Calendar's REST API
        found = [
            {"id": n, "title": title, "start_date": f"{when:%Y-%m-%d %H:%M:%S}",
             "end_date": f"{when + timedelta(hours=2):%Y-%m-%d %H:%M:%S}",
             "timezone": "Europe/Berlin", "venue": {"venue": place} if place else []}
            for n, (_, title, when, place) in enumerate(events_of(town, index), 1)
        ]  # fmt: skip
        page = {"events": found, "total": len(found), "total_pages": 1}
        return json.dumps(page, ensure_ascii=False), "application/json"
    if town.kind == "feed":
        items = "".join(
            f"<item><title>{title}</title><guid>{town.slug}-{n}</guid>"
            f"<pubDate>Mon, 0{n} Feb 2027 10:00:00 +0100</pubDate>"
            f"<description>Text</description></item>"
            for n, title in enumerate(posts_of(town), 1)
        )
        return (
            f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
            f"<title>{town.name}</title><link>https://example.org/</link>"
            f"<description>d</description>{items}</channel></rss>",
            "application/rss+xml",
        )
    if town.kind == "ical":
        vevents = "".join(
            f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20270101T000000Z\r\n"
            f"DTSTART;TZID=Europe/Berlin:{when:%Y%m%dT%H%M%S}\r\n"
            f"DTEND;TZID=Europe/Berlin:{when + timedelta(hours=2):%Y%m%dT%H%M%S}\r\n"
            f"SUMMARY:{title}\r\n" + (f"LOCATION:{place}\r\n" if place else "") + "END:VEVENT\r\n"
            for uid, title, when, place in events_of(town, index)
        )
        return (
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//network//DE\r\n"
            + vevents
            + "END:VCALENDAR\r\n",
            "text/calendar",
        )
    graph: list[dict[str, object]] = [
        {
            "@type": "Event",
            "@id": uid,
            "name": title,
            "startDate": when.isoformat(),
            "endDate": (when + timedelta(hours=2)).isoformat(),
            **({"location": {"@type": "Place", "name": place}} if place else {}),
        }
        for uid, title, when, place in events_of(town, index)
    ]
    graph += [
        {"@type": "NewsArticle", "@id": f"{town.slug}-{n}", "headline": title,
         "datePublished": f"2027-02-0{n}T10:00:00+01:00"}
        for n, title in enumerate(posts_of(town), 1)
    ]  # fmt: skip
    data = json.dumps({"@context": "https://schema.org", "@graph": graph}, ensure_ascii=False)
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{town.name}</title>'
        f'<script type="application/ld+json">{data}</script></head><body></body></html>',
        "text/html",
    )
