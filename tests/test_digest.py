"""The weekly digest, as a newsletter tool reads it (feedparser): one item per week with
that week's events, pasteable HTML (no script, absolute links), a guid per week that a
harvest does not change, published on the Monday before."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import aiohttp
import feedparser
import lxml.html

from feeds.config import Config, Settings
from feeds.model import Event, Location, Network, Site, Validators
from feeds.store import open_store
from feeds.web.app import create_app
from tests.conftest import Serve
from tests.helpers import get

BERLIN = ZoneInfo("Europe/Berlin")
NETWORK = Network(
    name="Engagierte Stadt",
    sites=(
        Site(slug="seestadt", name="Bürgerstiftung Seestadt", region="Sachsen"),
        Site(slug="bergdorf", name="Freiwilligenagentur Bergdorf", region="Bayern"),
    ),
)


def monday(weeks: int) -> date:
    today = datetime.now(BERLIN).date()
    return today - timedelta(days=today.weekday()) + timedelta(weeks=weeks)


def at(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), BERLIN)


def event(site: str, key: str, title: str, start: datetime, **more: object) -> Event:
    return Event(site=site, source="termine", external_id=key, title=title, start=start,
                 end=start + timedelta(hours=2), **more)  # type: ignore[arg-type]  # fmt: skip


async def test_the_digest_has_one_item_a_week(
    settings: Settings, serve: Serve, http: aiohttp.ClientSession
) -> None:
    store = await open_store(settings.database_url)
    now = datetime.now(UTC)
    seestadt = [
        event("seestadt", "a", "Repair-Café", at(monday(0) + timedelta(days=2), 14),
              location=Location(name="Stadtteilbüro", address="Markt 1, Seestadt")),
        event("seestadt", "b", "Lesepaten-Treffen", at(monday(1) + timedelta(days=3), 18)),
        event("seestadt", "c", "Chorprobe", at(monday(-2), 19), rrule="FREQ=WEEKLY;COUNT=5"),
        event("seestadt", "d", "Vor langer Zeit", at(monday(-12), 10)),
    ]  # fmt: skip
    bergdorf = [event("bergdorf", "x", "Dorffest", at(monday(1) + timedelta(days=5), 11))]
    await store.save_batch("seestadt", "termine", [], seestadt, Validators(), now)
    await store.save_batch("bergdorf", "termine", [], bergdorf, Validators(), now)
    await store.close()
    app = create_app(settings, Config(NETWORK, {}), harvest=False, revision_poll=0.01)
    base = await serve(app)

    _, headers, body = await get(http, f"{base}/seestadt/digest.rss")
    assert headers["Content-Type"] == "application/rss+xml; charset=utf-8"
    parsed = feedparser.parse(body)
    assert not parsed.bozo, parsed.get("bozo_exception")
    weeks = {entry.title.rsplit("(KW ", 1)[1].rstrip(")"): entry for entry in parsed.entries}
    numbers = [str(monday(n).isocalendar()[1]) for n in (-2, -1, 0, 1)]
    # The weekly series in each of its weeks; next week's item is out once its Monday
    # before has come (this Monday, 06:00); nothing older than four weeks.
    out = numbers if datetime.now(BERLIN) >= at(monday(0), 6) else numbers[:3]
    assert list(weeks) == out[::-1]
    if len(out) < 4:  # Monday, before six: the rest is for later today
        return
    titles = {
        week: [a.text_content() for a in lxml.html.fromstring(e.content[0].value).cssselect("li a")]
        for week, e in weeks.items()
    }  # fmt: skip
    assert titles[numbers[0]] == ["Chorprobe"]
    assert titles[numbers[2]] == ["Chorprobe", "Repair-Café"]
    assert titles[numbers[3]] == ["Chorprobe", "Lesepaten-Treffen"]
    this_week = weeks[numbers[2]]
    html = this_week.content[0].value
    assert "<script" not in html
    assert all(href.startswith(base) for href in lxml.html.fromstring(html).xpath("//a/@href"))
    assert "14:00–16:00 Uhr · Stadtteilbüro, Markt 1, Seestadt" in html
    published = datetime(*this_week.published_parsed[:6], tzinfo=UTC)
    assert published.astimezone(BERLIN) == at(monday(-1), 6)  # the Monday before
    guids = {e.id for e in parsed.entries}

    # The network's names each event's group; a changed event changes its week's item,
    # not its guid.
    _, _, body = await get(http, f"{base}/network/digest.rss")
    network = feedparser.parse(body)
    [next_week] = [e for e in network.entries if e.title.endswith(f"(KW {numbers[3]})")]
    assert "Dorffest" in next_week.content[0].value
    assert "Freiwilligenagentur Bergdorf" in next_week.content[0].value
    store = await open_store(settings.database_url)
    seestadt[0] = event("seestadt", "a", "Repair-Café (mit Fahrradwerkstatt)",
                        at(monday(0) + timedelta(days=2), 14))  # fmt: skip
    await store.save_batch("seestadt", "termine", [], seestadt, Validators(), now)
    await store.close()
    await asyncio.sleep(0.2)  # the service follows the store's revision
    _, _, body = await get(http, f"{base}/seestadt/digest.rss")
    again = feedparser.parse(body)
    assert {e.id for e in again.entries} == guids
    [changed] = [e for e in again.entries if e.title == this_week.title]
    assert "Fahrradwerkstatt" in changed.content[0].value
