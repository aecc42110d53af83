"""The programme to print, as the noticeboard gets it: 30 events of a group over four
weeks as `programm.pdf`, read with pdftotext (every title, in order, with German dates, on
at most two pages) and its QR code read with zxing from the rendered page."""

from __future__ import annotations

import asyncio
import itertools
import shutil
import subprocess
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import lxml.html
import pytest
import zxingcpp
from babel.dates import format_date
from PIL import Image

from feeds.config import Config, Settings
from feeds.model import Event, EventStatus, Location, Network, Site, Validators
from feeds.store import open_store
from feeds.web.app import create_app
from tests.conftest import Serve
from tests.helpers import get

BERLIN = ZoneInfo("Europe/Berlin")
NETWORK = Network(
    name="Engagierte Stadt",
    sites=(Site(slug="seestadt", name="Bürgerstiftung Seestadt", region="Sachsen"),),
)
MONTHS = ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September",
          "Oktober", "November", "Dezember"]  # fmt: skip

needs_poppler = pytest.mark.skipif(
    shutil.which("pdftotext") is None, reason="pdftotext (poppler-utils) is not installed"
)


def thirty(today: date) -> list[Event]:
    events = []
    for n in range(30):
        day = today + timedelta(days=1 + n * 26 // 30)
        start = datetime.combine(day, time(9 + n % 10), BERLIN)
        events.append(
            Event(
                site="seestadt", source="termine", external_id=str(n),
                title=f"Termin Nummer {n:02d}",
                start=start, end=start + timedelta(hours=1, minutes=30),
                location=Location(name="Gemeindehaus", address=f"Kirchgasse {n}, Seestadt"),
                status=EventStatus.CANCELLED if n == 7 else EventStatus.CONFIRMED,
            )
        )  # fmt: skip
    return events


def order_on_paper(pdf: Path) -> list[str]:
    """The numbers of "Termin Nummer NN" in reading order of the printed pages: page by
    page, the left column, then the right, top to bottom (pdftotext -bbox: each word with
    its position)."""
    boxes = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True,
                           text=True, check=True).stdout  # fmt: skip
    found = []
    for number, page in enumerate(lxml.html.fromstring(boxes.encode()).iter("page")):
        middle = float(page.get("width")) / 2
        words = list(page.iter("word"))
        for before, word in itertools.pairwise(words):
            if before.text == "Nummer":
                x, y = float(word.get("xmin")), float(word.get("ymin"))
                found.append(((number, x > middle, y), word.text))
    return [text for _, text in sorted(found)]


def german(day: date) -> str:
    return f"{day.day}. {MONTHS[day.month - 1]} {day.year}"


@needs_poppler
async def test_thirty_events_print_on_two_pages_with_a_working_qr_code(
    settings: Settings, serve: Serve, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    today = datetime.now(BERLIN).date()
    events = thirty(today)
    store = await open_store(settings.database_url)
    await store.save_batch("seestadt", "termine", [], events, Validators(), datetime.now(UTC))
    await store.close()
    base = await serve(create_app(settings, Config(NETWORK, {}), harvest=False))

    status, headers, body = await get(http, f"{base}/seestadt/programm.pdf")
    assert status == 200
    assert headers["Content-Type"] == "application/pdf"
    assert headers["Content-Disposition"].startswith("inline;")
    pdf = tmp_path / "programm.pdf"
    pdf.write_bytes(body)
    info = await asyncio.to_thread(subprocess.run, ["pdfinfo", str(pdf)], capture_output=True,
                                   text=True, check=True)  # fmt: skip
    pages = int(
        next(line for line in info.stdout.splitlines() if line.startswith("Pages:")).split()[1]
    )
    assert pages <= 2
    text = (await asyncio.to_thread(subprocess.run, ["pdftotext", str(pdf), "-"],
                                    capture_output=True, text=True, check=True)).stdout  # fmt: skip
    assert order_on_paper(pdf) == [f"{n:02d}" for n in range(30)]  # in order of their dates
    for event in events:
        day = event.start_instant().date()  # type: ignore[union-attr]
        weekday = format_date(day, "EEEE", locale="de_DE")
        assert f"{weekday}, {german(day)}" in text
    assert "Abgesagt: Termin Nummer 07" in text
    assert "Kirchgasse 29, Seestadt" in text
    assert f"{base}/seestadt/events.ics" in text.replace("\n", "")

    # The QR code, as a phone's camera reads the printed page.
    render = ["pdftoppm", "-r", "200", "-png", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "p")]
    await asyncio.to_thread(subprocess.run, render, check=True)
    [page] = await asyncio.to_thread(lambda: list(tmp_path.glob("p*.png")))
    [found] = zxingcpp.read_barcodes(Image.open(page))
    assert found.text == f"webcal://{base.split('://', 1)[1]}/seestadt/events.ics"

    # The same as a page, which links its PDF.
    status, headers, body = await get(http, f"{base}/seestadt/programm")
    assert status == 200
    document = lxml.html.fromstring(body)
    assert document.xpath("//a/@href")[0] == f"{base}/seestadt/programm.pdf"
    assert len(document.cssselect("li")) == 30
