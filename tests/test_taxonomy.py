"""Network categories: `[taxonomy]` names one topic the groups call three things;
`?category=` takes the network's name on every format, items carry both, and
`feeds check` names what no entry covers."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

import aiohttp
import feedparser
import icalendar

from feeds.config import Settings, load_config
from feeds.harvest import Harvester
from feeds.store import open_store
from feeds.web.app import create_app
from tests.conftest import Serve
from tests.helpers import LOCAL, get

BERLIN = ZoneInfo("Europe/Berlin")
CONFIG = """[network]
name = "Engagierte Stadt"

[taxonomy]
"Umwelt & Klima" = ["Klimaschutz", "umwelt", "Nachhaltigkeit"]
Soziales = "Nachbarschaftshilfe"

[[sites]]
slug = "seestadt"
name = "Bürgerstiftung Seestadt"

[[sites.sources]]
name = "termine"
kind = "files"
path = "termine"

[[sites]]
slug = "bergdorf"
name = "Freiwilligenagentur Bergdorf"

[[sites.sources]]
name = "termine"
kind = "files"
path = "bergdorf"
"""
EVENTS = {
    "termine": [
        ("Baumpflanzaktion", "Klimaschutz"),
        ("Müllsammeln am See", "Umwelt"),
        ("Sport im Park", "Sport"),
    ],
    "bergdorf": [
        ("Tauschbörse", "NACHHALTIGKEIT"),
        ("Einkaufshilfe", "Nachbarschaftshilfe"),
        ("Skatturnier", "Freizeit"),
    ],
}
WANTED = {"Baumpflanzaktion", "Müllsammeln am See", "Tauschbörse"}


def write(tmp_path: Path) -> Path:
    config = tmp_path / "sites.toml"
    config.write_text(CONFIG, encoding="utf-8")
    day = datetime.now(BERLIN).date() + timedelta(days=3)
    for folder, events in EVENTS.items():
        (tmp_path / folder).mkdir()
        for n, (title, category) in enumerate(events):
            (tmp_path / folder / f"{n}.md").write_text(
                f"---\ntitle: {title}\nstart: {day.isoformat()}T{10 + n}:00:00\n"
                f"categories: [{category}]\n---\n",
                encoding="utf-8",
            )
    return config


async def test_a_network_category_finds_what_the_groups_call_it(
    tmp_path: Path, settings: Settings, serve: Serve, http: aiohttp.ClientSession
) -> None:
    path = write(tmp_path)
    config = load_config(path)
    store = await open_store(settings.database_url)
    harvester = Harvester(store, config.network, config.sources, outbound=LOCAL)
    outcomes = await harvester.run_once()
    assert {o.status for o in outcomes} == {"ok"}
    await store.close()
    base = await serve(create_app(settings, config, harvest=False))
    asked = quote("umwelt  &  KLIMA")  # case and spacing are the reader's own

    def atom_titles(body: bytes) -> set[str]:
        return {e.title.split(" (")[0] for e in feedparser.parse(body).entries}

    for fmt in ("atom", "rss"):
        _, _, body = await get(http, f"{base}/network/events.{fmt}?category={asked}")
        assert atom_titles(body) == WANTED, fmt
    _, _, body = await get(http, f"{base}/network/events.json?category={asked}")
    assert {i["title"].split(" (")[0] for i in json.loads(body)["items"]} == WANTED
    _, _, body = await get(http, f"{base}/network/events.ics?category={asked}")
    calendar = icalendar.Calendar.from_ical(body)
    assert {str(e["SUMMARY"]) for e in calendar.walk("VEVENT")} == WANTED
    _, _, body = await get(http, f"{base}/network/digest.rss?category={asked}")
    [week] = feedparser.parse(body).entries
    assert all(title in week.content[0].value for title in WANTED)
    assert "Sport im Park" not in week.content[0].value
    # A group's own category still works, alone.
    _, _, body = await get(http, f"{base}/network/events.atom?category=Klimaschutz")
    assert atom_titles(body) == {"Baumpflanzaktion"}

    # Items carry both: the group's category and the network's.
    _, _, body = await get(http, f"{base}/seestadt/events.atom")
    entries = {e.title.split(" (")[0]: e for e in feedparser.parse(body).entries}
    assert {t.term for t in entries["Baumpflanzaktion"].tags} == {"Klimaschutz", "Umwelt & Klima"}
    assert {t.term for t in entries["Sport im Park"].tags} == {"Sport"}
    _, _, body = await get(http, f"{base}/bergdorf/events.ics")
    calendar = icalendar.Calendar.from_ical(body)
    [help_event] = [e for e in calendar.walk("VEVENT") if str(e["SUMMARY"]) == "Einkaufshilfe"]
    assert [str(c) for c in help_event["CATEGORIES"].cats] == ["Nachbarschaftshilfe", "Soziales"]

    # The office asks what the taxonomy leaves out.
    checked = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "feeds.cli", "check", "--config", str(path)],
        env={**os.environ, "DATABASE_URL": settings.database_url},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr
    assert "categories no [taxonomy] entry covers (2):" in checked.stdout
    assert "  Freizeit (bergdorf)" in checked.stdout
    assert "  Sport (seestadt)" in checked.stdout


def test_a_taxonomy_that_is_not_a_table_of_lists_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "sites.toml"
    config.write_text('[network]\nname = "N"\n\n[taxonomy]\n"Umwelt" = 3\n', encoding="utf-8")
    checked = subprocess.run(
        [sys.executable, "-m", "feeds.cli", "check", str(config)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert checked.returncode == 2
    assert "taxonomy.Umwelt: expected the groups' categories it covers" in checked.stderr
