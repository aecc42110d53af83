"""A network's calendar stays one a phone takes at any size: at most
FEEDS_NETWORK_CALENDAR_EVENTS events, what is to come first (soonest), then the most
recent past as far as room is left; it says so in its description when it was cut."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import aiohttp
import icalendar

from feeds.config import Settings, load_config
from feeds.harvest import Harvester
from feeds.store import open_store
from feeds.web.app import create_app
from tests.conftest import Serve
from tests.helpers import LOCAL, get

COMING = [3, 5, 8, 13, 21, 34, 55, 89]  # days ahead, two groups taking turns
PAST = [-3, -30, -90]


def network(folder: Path) -> Path:
    for slug in ("nord", "sued"):
        (folder / slug).mkdir(parents=True)
    for n, days in enumerate(COMING + PAST):
        slug = ("nord", "sued")[n % 2]
        (folder / slug / f"t{n}.md").write_text(
            f"---\nid: t{n}\ntitle: Termin {days:+d}\nstart: {days:+d}d 18:00\n"
            f"end: {days:+d}d 20:00\n---\nText\n",
            encoding="utf-8",
        )
    config = folder / "sites.toml"
    config.write_text(
        '[network]\nname = "Netz"\n'
        + "".join(
            f'\n[[sites]]\nslug = "{slug}"\nname = "{slug.title()}"\nregion = "Bayern"\n'
            f'[[sites.sources]]\nname = "termine"\nkind = "files"\npath = "{slug}"\n'
            for slug in ("nord", "sued")
        ),
        encoding="utf-8",
    )
    return config


def titles(body: bytes) -> tuple[list[str], str | None]:
    calendar = icalendar.Calendar.from_ical(body)
    events = sorted(calendar.walk("VEVENT"), key=lambda e: e["DTSTART"].dt)
    # An X- property comes back as written: its commas still escaped (RFC 5545 3.3.11).
    said = str(calendar.get("X-WR-CALDESC") or "").replace("\\,", ",") or None
    return [str(e["SUMMARY"]) for e in events], said


async def test_the_network_calendar_is_bounded(
    tmp_path: Path, settings: Settings, serve: Serve, http: aiohttp.ClientSession
) -> None:
    config = load_config(network(tmp_path / "netz"))
    store = await open_store(settings.database_url)
    outcomes = await Harvester(store, config.network, config.sources, outbound=LOCAL).run_once()
    assert {o.status for o in outcomes} == {"ok"}
    await store.close()
    coming = [f"Termin {d:+d}" for d in COMING]
    seen = {}
    for most in (5, 10, 20):
        bounded = replace(settings, config_path=tmp_path / "netz" / "sites.toml")
        base = await serve(create_app(replace(bounded, network_calendar_events=most), config))
        status, _, body = await get(http, f"{base}/network/events.ics")
        assert status == 200
        seen[most] = titles(body)
    # Room for five: the five soonest to come; said in the calendar's description.
    assert seen[5] == (coming[:5], "Die nächsten 5 Termine. Alle Termine einer Region,"
                       " eines Themas oder einer Gruppe: deren eigene Kalender.")  # fmt: skip
    # Room for ten: all eight to come, and the two most recent past ones.
    assert seen[10][0] == ["Termin -30", "Termin -3", *coming]
    assert seen[10][1] is not None
    # Room for all: nothing cut, nothing said.
    assert seen[20] == (["Termin -90", "Termin -30", "Termin -3", *coming], None)


async def test_from_and_a_region_are_bounded_too(
    tmp_path: Path, settings: Settings, serve: Serve, http: aiohttp.ClientSession
) -> None:
    config = load_config(network(tmp_path / "netz"))
    store = await open_store(settings.database_url)
    await Harvester(store, config.network, config.sources, outbound=LOCAL).run_once()
    await store.close()
    base = await serve(create_app(replace(settings, network_calendar_events=4), config))
    early = date(datetime.now(UTC).year - 1, 1, 1)
    _, _, body = await get(http, f"{base}/network/events.ics?from={early.isoformat()}")
    found, said = titles(body)
    assert found == ["Termin -90", "Termin -30", "Termin -3", "Termin +3"]  # from `from` on
    assert said is not None
    _, _, body = await get(http, f"{base}/network/events.ics?region=Bayern")
    assert titles(body)[0] == [f"Termin {d:+d}" for d in COMING[:4]]
    # A group's own calendar is all of it: no bound.
    _, _, body = await get(http, f"{base}/nord/events.ics")
    assert len(titles(body)[0]) == 6
