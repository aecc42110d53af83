"""The files adapter: Markdown and YAML with front matter, local times, bad files skipped."""

from __future__ import annotations

import os
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from feeds.model import EventStatus
from sources.base import Fetched, NotModified, SourceContext, SourceError, Validators
from sources.files import FilesSource

BERLIN = ZoneInfo("Europe/Berlin")
ROOT = Path(__file__).resolve().parent.parent


def adapter(folder: Path, **options: str) -> FilesSource:
    context = SourceContext(
        site="kaiserslautern",
        source="demo",
        timezone="Europe/Berlin",
        homepage="https://www.engagiertestadt.de/kaiserslautern/",
        config_dir=folder.parent,
    )
    return FilesSource.from_config(context, {"path": folder.name, **options})


NONE = Validators()


async def fetch(source: FilesSource, validators: Validators = NONE) -> Fetched | NotModified:
    async with aiohttp.ClientSession() as session:
        return await source.fetch(session, validators)


async def test_the_kaiserslautern_demo() -> None:
    result = await fetch(adapter(ROOT / "demo" / "kaiserslautern"))
    assert isinstance(result, Fetched)
    posts = {p.title: p for p in result.posts}
    post = posts["Gute Rahmenbedingungen für Engagement vor Ort schaffen"]
    assert post.published == datetime(2025, 2, 20, 10, tzinfo=BERLIN)
    assert post.image is not None
    assert post.image.alt == "Das Logo der Engagierten Stadt an der Stadtteilwerkstatt des ASZ"
    assert post.image.credit == "© Stadt Kaiserslautern"
    assert post.image.url.startswith(
        "https://www.engagiertestadt.de/kaiserslautern/fittosize_750_0_"
    )
    assert post.content_html is not None
    assert '<img src="https://www.engagiertestadt.de/kaiserslautern/fittosize' in post.content_html
    events = {e.title: e for e in result.events}
    rock = events["Rock Rising"]
    assert (rock.start, rock.end) == (
        datetime(2025, 3, 8, 20, tzinfo=BERLIN),
        datetime(2025, 3, 8, 23, 59, tzinfo=BERLIN),
    )
    assert events["Demokratie-Café"].status is EventStatus.TENTATIVE
    assert result.skipped == ()


def write(folder: Path, name: str, text: str) -> None:
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")


async def test_dates_all_day_and_zones(tmp_path: Path) -> None:
    folder = tmp_path / "items"
    write(folder, "day.yaml", "title: Fest\nstart: '2025-09-20'\nend: 2025-09-21\n")
    write(
        folder,
        "ny.md",
        "---\ntitle: Call\nstart: 2025-03-08T20:00:00\ntimezone: America/New_York\n---\n",
    )
    write(folder, "utc.md", "---\ntitle: Z\nstart: '2025-03-08T19:00:00Z'\n---\n")
    result = await fetch(adapter(folder))
    assert isinstance(result, Fetched)
    events = {e.title: e for e in result.events}
    assert (events["Fest"].start, events["Fest"].end, events["Fest"].all_day) == (
        date(2025, 9, 20),
        date(2025, 9, 21),
        True,
    )
    assert events["Call"].timezone == "America/New_York"
    assert events["Z"].start_instant() == datetime(2025, 3, 8, 20, tzinfo=BERLIN)


async def test_unchanged_folder_is_not_modified(tmp_path: Path) -> None:
    folder = tmp_path / "items"
    write(folder, "a.md", "---\ntitle: A\n---\nText\n")
    source = adapter(folder)
    first = await fetch(source)
    assert isinstance(first, Fetched)
    assert isinstance(await fetch(source, first.validators), NotModified)
    path = folder / "a.md"
    path.write_text("---\ntitle: A, changed\n---\nText\n", encoding="utf-8")
    os.utime(path, ns=(1, 1))
    changed = await fetch(source, first.validators)
    assert isinstance(changed, Fetched)
    assert changed.posts[0].title == "A, changed"


async def test_a_bad_file_is_skipped_and_named(tmp_path: Path) -> None:
    folder = tmp_path / "items"
    write(folder, "good.md", "---\ntitle: Good\n---\n")
    write(folder, "no-title.md", "---\nauthor: x\n---\n")
    write(folder, "bad-date.md", "---\ntitle: X\nstart: 'next Friday'\n---\n")
    write(
        folder,
        "backwards.md",
        "---\ntitle: Y\nstart: 2025-03-08T20:00:00\nend: 2025-03-08T19:00:00\n---\n",
    )
    write(folder, "scripted.md", "---\ntitle: S\n---\n<script>alert(1)</script>Hallo\n")
    result = await fetch(adapter(folder))
    assert isinstance(result, Fetched)
    assert sorted(p.title for p in result.posts) == ["Good", "S"]
    assert "<script" not in (next(p for p in result.posts if p.title == "S").content_html or "")
    skipped = sorted(result.skipped)
    assert skipped[0].startswith("backwards.md: end")
    assert skipped[1].startswith("bad-date.md: start: expected an ISO date")
    assert skipped[2] == "no-title.md: title: is required"


async def test_a_folder_of_only_bad_files_is_a_source_error(tmp_path: Path) -> None:
    folder = tmp_path / "items"
    write(folder, "broken.yaml", "title: [unclosed\n")
    with pytest.raises(SourceError, match=r"no file could be read: broken\.yaml"):
        await fetch(adapter(folder))


async def test_demo_dates_are_relative_to_the_day_they_are_read(tmp_path: Path) -> None:
    """The demo is never a calendar of the past: "+4d 14:00" is in four days, whenever."""
    folder = tmp_path / "termine"
    folder.mkdir()
    (folder / "a.md").write_text(
        "---\ntitle: Repair-Café\nstart: +4d 14:00\nend: +4d 17:00\n---\n", encoding="utf-8"
    )
    (folder / "b.md").write_text("---\ntitle: Fest\nstart: +10d\n---\n", encoding="utf-8")
    (folder / "c.md").write_text(
        "---\ntitle: Rückblick\npublished: -2d 09:30\n---\nText\n", encoding="utf-8"
    )
    (folder / "d.md").write_text("---\ntitle: Kaputt\nstart: +1d 25:00\n---\n", encoding="utf-8")
    source = adapter(folder)
    result = await fetch(source)
    assert isinstance(result, Fetched)
    today = datetime.now(BERLIN).date()
    events = {e.title: e for e in result.events}
    cafe = events["Repair-Café"]
    assert cafe.start == datetime.combine(today + timedelta(days=4), time(14), BERLIN)
    assert cafe.end == datetime.combine(today + timedelta(days=4), time(17), BERLIN)
    assert events["Fest"].start == today + timedelta(days=10)  # all day
    [post] = result.posts
    assert post.published == datetime.combine(today - timedelta(days=2), time(9, 30), BERLIN)
    assert result.skipped == ("d.md: start: no such time of day in '+1d 25:00'",)
    # Read again the same day: not modified; the day's date is part of what says so.
    assert isinstance(await fetch(source, result.validators), NotModified)
    assert result.validators.etag is not None
    assert result.validators.etag.endswith(today.isoformat())


async def test_pictures_in_the_folder_are_read_from_it(tmp_path: Path) -> None:
    """A folder holds its pictures beside the texts: named relative to it, they get the
    address under `base_url`, and the harvester reads them from the folder."""
    folder = tmp_path / "gruppe"
    (folder / "bilder").mkdir(parents=True)
    (folder / "bilder" / "fest.jpg").write_bytes(b"\xff\xd8 not checked here")
    (tmp_path / "geheim.jpg").write_bytes(b"outside the folder")
    (folder / "fest.md").write_text(
        "---\ntitle: Fest\npublished: 2025-05-01T10:00:00\n"
        "image: {url: bilder/fest.jpg, alt: Ein Fest}\n---\n"
        "Text ![Noch eins](bilder/fest.jpg)\n",
        encoding="utf-8",
    )
    source = adapter(folder, base_url="https://gruppe.example/aktuelles/")
    result = await fetch(source)
    assert isinstance(result, Fetched)
    [post] = result.posts
    assert post.image is not None
    assert post.image.url == "https://gruppe.example/aktuelles/bilder/fest.jpg"
    assert source.local_image(post.image.url) == folder / "bilder" / "fest.jpg"
    # Not in the folder: asked of the server like any other address.
    for elsewhere in [
        "https://gruppe.example/aktuelles/bilder/fehlt.jpg",
        "https://gruppe.example/aktuelles/%2e%2e/geheim.jpg",
        "https://gruppe.example/aktuelles/..%2F..%2Fgeheim.jpg",
        "https://gruppe.example/geheim.jpg",
        "https://andere.example/aktuelles/bilder/fest.jpg",
    ]:
        assert source.local_image(elsewhere) is None, elsewhere
    # A base_url without its final slash names the folder's parent, as links resolve.
    bare = adapter(folder, base_url="https://gruppe.example/aktuelles")
    assert bare.local_image("https://gruppe.example/bilder/fest.jpg") == folder / "bilder/fest.jpg"
