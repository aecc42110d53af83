"""What the page tests look at: the generated 112-group network (tests/network.py), and
Kaiserslautern with a second source, a calendar as groups' calendars are: the concert
"Rock Rising" with its place on the map, a weekly series, a cancelled market, an all-day
event and a title with a <script> in it. Dates other than Rock Rising's are relative to
today, so "upcoming" stays upcoming."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path

from aiohttp import web

from feeds.config import Config, Settings
from feeds.harvest import Harvester
from feeds.model import SourceConfig
from feeds.store import open_store
from feeds.web.app import create_app
from sources import build_source
from sources.base import SourceContext
from tests.conftest import Serve
from tests.helpers import LOCAL
from tests.network import BERLIN, serve_network
from tests.upstream import Upstream

GROUP = "kaiserslautern"
ROCK_UID = "rock-rising-2025@kammgarn.example"
PWN = "window.__pwned=(window.__pwned||0)+1"
# Entities in plain iCalendar text are text: this title is "<script>…</script>Sommerfest".
HOSTILE_SUMMARY = f"&lt;script&gt;{PWN}&lt;/script&gt;Sommerfest & Tanz"
HOSTILE_TITLE = f"<script>{PWN}</script>Sommerfest & Tanz"


@dataclass(frozen=True, slots=True)
class Scenario:
    base: str
    config: Config
    upstream: str
    treff_start: datetime  # the weekly series' next date
    fest_start: datetime
    freiwilligentag: date  # all day, two days


def _today() -> date:
    return datetime.now(BERLIN).date()


def _day(days: int, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(_today() + timedelta(days=days), time(hour, minute), BERLIN)


def _local(value: datetime) -> str:
    return f"{value:%Y%m%dT%H%M%S}"


def calendar(treff: datetime, fest: datetime, tag: date) -> str:
    markt = _day(3, 9)
    lines = [
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Kammgarn//Kalender//DE",
        "BEGIN:VEVENT", f"UID:{ROCK_UID}", "DTSTAMP:20250101T000000Z",
        "DTSTART;TZID=Europe/Berlin:20250308T200000", "DTEND;TZID=Europe/Berlin:20250308T235900",
        "SUMMARY:Rock Rising",
        "DESCRIPTION:Drei Bands aus der Region.\\nEinlass ab 19:30 Uhr.",
        "LOCATION:Kammgarn\\, Schoenstraße 10\\, 67659 Kaiserslautern", "GEO:49.4447;7.7690",
        "ORGANIZER;CN=Jugendzentrum Kaiserslautern:mailto:jugend@example.org",
        "URL:https://kammgarn.example/rock-rising", "CATEGORIES:Konzert,Jugend", "END:VEVENT",
        "BEGIN:VEVENT", "UID:offener-treff@kl.example", "DTSTAMP:20250101T000000Z",
        f"DTSTART;TZID=Europe/Berlin:{_local(treff - timedelta(weeks=2))}",
        f"DTEND;TZID=Europe/Berlin:{_local(treff - timedelta(weeks=2) + timedelta(hours=2))}",
        "RRULE:FREQ=WEEKLY", "SUMMARY:Offener Treff", "LOCATION:Stadtteilbüro Grübentälchen",
        "END:VEVENT",
        "BEGIN:VEVENT", "UID:flohmarkt@kl.example", "DTSTAMP:20250101T000000Z",
        f"DTSTART;TZID=Europe/Berlin:{_local(markt)}",
        f"DTEND;TZID=Europe/Berlin:{_local(markt + timedelta(hours=5))}",
        "SUMMARY:Flohmarkt", "STATUS:CANCELLED", "LOCATION:Stiftsplatz", "END:VEVENT",
        "BEGIN:VEVENT", "UID:freiwilligentag@kl.example", "DTSTAMP:20250101T000000Z",
        f"DTSTART;VALUE=DATE:{tag:%Y%m%d}", f"DTEND;VALUE=DATE:{tag + timedelta(days=2):%Y%m%d}",
        "SUMMARY:Freiwilligentag", "END:VEVENT",
        "BEGIN:VEVENT", "UID:fest@kl.example", "DTSTAMP:20250101T000000Z",
        f"DTSTART;TZID=Europe/Berlin:{_local(fest)}",
        f"DTEND;TZID=Europe/Berlin:{_local(fest + timedelta(hours=4))}",
        f"SUMMARY:{HOSTILE_SUMMARY}", "LOCATION:<b>Stiftsplatz</b>", "END:VEVENT",
        "END:VCALENDAR",
    ]  # fmt: skip
    return "\r\n".join(lines) + "\r\n"


def with_calendar(config: Config, url: str) -> Config:
    """The generated network, Kaiserslautern with the calendar as its second source."""
    source = SourceConfig(name="kalender", kind="ical", options=(("url", url),))
    sites = tuple(
        replace(s, sources=(*s.sources, source), homepage="https://kaiserslautern.example/")
        if s.slug == GROUP
        else s
        for s in config.network.sites
    )
    context = SourceContext(
        site=GROUP, source="kalender", timezone="Europe/Berlin", homepage=None, config_dir=Path()
    )
    sources = {**config.sources, (GROUP, "kalender"): build_source("ical", context, {"url": url})}
    return Config(replace(config.network, sites=sites), sources)


async def serve_pages(upstream: Upstream, database_url: str, serve: Serve) -> Scenario:
    treff = _day(1, 17)
    if treff <= datetime.now(BERLIN):
        treff += timedelta(weeks=1)
    fest = _day(5, 16, 30)
    tag = _today() + timedelta(days=10)
    body = calendar(treff, fest, tag)

    async def ics(request: web.Request) -> web.StreamResponse:
        return web.Response(text=body, content_type="text/calendar")

    upstream.add("/kalender.ics", ics)
    config = with_calendar(serve_network(upstream), upstream.base + "/kalender.ics")
    store = await open_store(database_url)
    try:
        outcomes = await Harvester(store, config.network, config.sources, outbound=LOCAL).run_once()
    finally:
        await store.close()
    failed = [(o.site, o.source, o.error) for o in outcomes if o.status != "ok"]
    assert not failed, failed
    app = create_app(Settings(database_url=database_url, outbound=LOCAL), config, harvest=False)
    return Scenario(await serve(app), config, upstream.base, treff, fest, tag)
