"""A network fed by every kind of source, from a local server playing their websites."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import feedparser
import icalendar
import pytest

from feeds.config import ConfigError, Settings, load_config
from feeds.harvest import Harvester
from feeds.store import open_store
from feeds.web.app import create_app
from tests.conftest import Serve
from tests.helpers import LOCAL, get
from tests.upstream import Upstream

CONFIG = """\
[network]
name = "Engagierte Stadt"

[[sites]]
slug = "kaiserslautern"
name = "Engagierte Stadt Kaiserslautern"
region = "Rheinland-Pfalz"

[[sites.sources]]
name = "wordpress"
kind = "wordpress"
url = "{base}"
per_page = 2

[[sites.sources]]
name = "termine"
kind = "tribe_events"
url = "{base}"
per_page = 2

[[sites.sources]]
name = "website"
kind = "html"
url = "{base}/kaiserslautern/"

[sites.sources.posts]
item = "article.post"
title = "h1"
body = ".entry-content"
image = ".entry-content figure img"
image_caption = ".entry-content figure figcaption"

[sites.sources.events]
item = ".events li.event"
title = ".event-title"
date = ".event-date"

[[sites]]
slug = "musterstadt"
name = "Engagierte Stadt Musterstadt"
region = "Nordrhein-Westfalen"

[[sites.sources]]
name = "blog"
kind = "feed"
url = "{base}/atom.xml"

[[sites.sources]]
name = "kalender"
kind = "ical"
url = "{base}/basic.ics"
"""


@pytest.fixture
def websites(upstream: Upstream) -> Upstream:
    upstream.file("/wp-json/wp/v2/posts", "wordpress/posts-1.json", query={"page": "1"})
    upstream.file("/wp-json/wp/v2/posts", "wordpress/posts-2.json", query={"page": "2"})
    upstream.file("/wp-json/tribe/events/v1/events", "tribe/events-1.json")
    upstream.file("/wp-json/tribe/events/v1/events/", "tribe/events-2.json", query={"page": "2"})
    upstream.file("/kaiserslautern/", "html/kaiserslautern.html")
    upstream.file("/atom.xml", "feed/news.atom")
    upstream.file("/basic.ics", "ical/google.ics")
    return upstream


async def test_every_kind_harvested_and_served(
    websites: Upstream, tmp_path: Path, serve: Serve, http: aiohttp.ClientSession
) -> None:
    config_path = tmp_path / "sites.toml"
    config_path.write_text(CONFIG.format(base=websites.base), encoding="utf-8")
    config = load_config(config_path)
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'feeds.sqlite3'}", outbound=LOCAL)
    store = await open_store(settings.database_url)
    try:
        outcomes = await Harvester(store, config.network, config.sources, outbound=LOCAL).run_once()
        assert {(o.site, o.source): o.status for o in outcomes} == {
            ("kaiserslautern", "wordpress"): "ok",
            ("kaiserslautern", "termine"): "ok",
            ("kaiserslautern", "website"): "ok",
            ("musterstadt", "blog"): "ok",
            ("musterstadt", "kalender"): "ok",
        }
        user_agents = {headers.get("User-Agent", "") for _, headers in websites.requests}
        assert all(agent.startswith("engagement-feeds/") for agent in user_agents)
    finally:
        await store.close()
    base = await serve(create_app(settings, config, harvest=False))
    _, _, body = await get(http, f"{base}/network/news.atom")
    parsed = feedparser.parse(body)
    assert not parsed.bozo
    titles = [e.title for e in parsed.entries]
    assert "Freiwilligentag 2025" in titles  # Atom, Musterstadt
    assert "Neujahrsempfang der Ehrenamtlichen" in titles  # WordPress page 2
    assert (
        titles.count("Kaiserslautern – Gute Rahmenbedingungen für Engagement vor Ort schaffen") == 2
    )
    _, _, body = await get(http, f"{base}/kaiserslautern/events.ics")
    summaries = sorted(str(e["SUMMARY"]) for e in icalendar.Calendar.from_ical(body).walk("VEVENT"))
    assert summaries == [
        "Demokratie-Café",
        "Freiwilligentag",
        "Rock Rising",
        "Rock Rising",
        "Sommerfest",
    ]
    _, _, body = await get(http, f"{base}/musterstadt/events.ics?from=2025-01-20&to=2025-01-26")
    week = [str(e["SUMMARY"]) for e in icalendar.Calendar.from_ical(body).walk("VEVENT")]
    assert sorted(week) == ["Sprechstunde", "Sprechstunde (verlegt)"]


def test_feeds_check_names_the_line_of_a_bad_selector(tmp_path: Path) -> None:
    config_path = tmp_path / "sites.toml"
    text = CONFIG.format(base="https://x.example").replace(
        'title = ".event-title"', 'title = "a[[["'
    )
    config_path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(config_path)
    assert caught.value.key == "sites[0].sources[2].events.title"
    assert caught.value.line == text.splitlines().index('title = "a[[["') + 1
    assert "invalid CSS selector" in str(caught.value)
