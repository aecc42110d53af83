"""Beyond broken websites: a group whose site answers but went still is told once, the
office gets its Monday summary, and every alert also reaches a chat through the webhook.
Real SMTP (aiosmtpd), a real HTTP server as the webhook, real stores."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from aiohttp import web

from feeds.alerts import Alerter, summary_week
from feeds.config import Alerts, Config
from feeds.model import Event, Network, Post, Site, SourceConfig, Validators
from feeds.stillness import stillness
from feeds.store import Activity, HarvestRecord, open_store
from feeds.web.operations import status_rows
from tests.helpers import LOCAL_ENV
from tests.smtp import Inbox
from tests.upstream import Upstream

DAY = timedelta(days=1)
NOW = datetime(2026, 12, 7, 8, 30, tzinfo=UTC)  # a Monday, 09:30 in Berlin


def every(gap: timedelta, count: int, newest: datetime) -> tuple[datetime, ...]:
    return tuple(newest - gap * n for n in range(count))


@pytest.mark.parametrize(
    ("dates", "ongoing", "still"),
    [
        (every(DAY, 11, NOW - 20 * DAY), False, False),  # daily, resting 20 days: a break
        (every(DAY, 11, NOW - 31 * DAY), False, True),  # a month: still
        (every(30 * DAY, 11, NOW - 100 * DAY), False, False),  # monthly: 4 gaps is 120 days
        (every(30 * DAY, 11, NOW - 130 * DAY), False, True),
        (every(120 * DAY, 11, NOW - 370 * DAY), False, True),  # a year is always still
        (every(7 * DAY, 11, NOW - 60 * DAY), True, False),  # a date to come: never still
        (every(7 * DAY, 2, NOW - 80 * DAY), False, False),  # no rhythm yet: 90 days
        (every(7 * DAY, 2, NOW - 91 * DAY), False, True),
        (every(7 * DAY, 11, NOW + 3 * DAY), False, False),  # dated ahead
        ((), False, False),  # nothing to judge
    ],
)
def test_stillness_follows_a_groups_own_rhythm(
    dates: tuple[datetime, ...], ongoing: bool, still: bool
) -> None:
    # One long summer break among weekly posts does not move the usual gap.
    assert (stillness(Activity(dates, ongoing), NOW) is not None) == still


def test_one_long_break_does_not_move_the_rhythm() -> None:
    weekly = every(7 * DAY, 10, NOW - 40 * DAY)
    with_break = (*weekly, weekly[-1] - 70 * DAY)
    found = stillness(Activity(with_break, False), NOW)
    assert found is not None
    assert found.usual == 7 * DAY


def weekly_feed(newest: datetime) -> bytes:
    items = "".join(
        f"<item><title>Wochenrückblick {n}</title>"
        f"<link>https://seestadt.example/rueckblick-{n}/</link>"
        f"<guid>https://seestadt.example/?p={n}</guid>"
        f"<pubDate>{format_datetime(newest - timedelta(days=7 * n))}</pubDate></item>"
        for n in range(11)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        "<title>Bürgerstiftung Seestadt</title><link>https://seestadt.example/</link>"
        f"<description>x</description>{items}</channel></rss>"
    ).encode()


def webhook_receiver(upstream: Upstream) -> list[dict[str, object]]:
    received: list[dict[str, object]] = []

    async def hook(request: web.Request) -> web.Response:
        assert request.content_type == "application/json"
        received.append(await request.json())
        return web.Response(text="ok")

    upstream.add("/hooks/alerts", hook)
    return received


async def test_a_still_website_is_told_once_by_mail_and_to_the_chat(
    upstream: Upstream, inbox: tuple[Inbox, int], tmp_path: Path
) -> None:
    """As a cron job runs `feeds harvest`: the group's feed answers, but its weekly
    posts stopped two months ago."""
    received, smtp_port = inbox
    hooks = webhook_receiver(upstream)
    feed = weekly_feed(datetime.now(UTC) - timedelta(days=60))

    async def news(request: web.Request) -> web.Response:
        return web.Response(body=feed, content_type="application/rss+xml")

    upstream.add("/feed/", news)
    config = tmp_path / "sites.toml"
    config.write_text(
        f"""[network]
name = "Engagierte Stadt"

[alerts]
smtp = "smtp://127.0.0.1:{smtp_port}"
from = "feeds@netzwerk.example"
office = "buero@netzwerk.example"
webhook = "{upstream.base}/hooks/alerts"

[[sites]]
slug = "seestadt"
name = "Bürgerstiftung Seestadt"
contact = "team@seestadt.example"

[[sites.sources]]
name = "news"
kind = "feed"
url = "{upstream.base}/feed/"
""",
        encoding="utf-8",
    )
    env = {**os.environ, **LOCAL_ENV, "DATABASE_URL": f"sqlite:///{tmp_path / 'f.sqlite3'}",
           "FEEDS_BASE_URL": "https://feeds.netzwerk.example"}  # fmt: skip

    def harvest() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "feeds.cli", "harvest", "--config", str(config)],
            env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    ran = await asyncio.to_thread(harvest)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert len(received.mails) == 1
    recipients, mail = received.mails[0]
    assert recipients == ["team@seestadt.example"]
    newest = (datetime.now(UTC) - timedelta(days=60)).astimezone().strftime("%d.%m.%Y")
    assert mail["Subject"] == f"Bürgerstiftung Seestadt: seit {newest} nichts Neues"
    text = mail.get_content()
    assert f"{upstream.base}/feed/" in text
    assert f"Der neueste Beitrag dort ist vom {newest}." in text
    assert "Sonst kam dort etwa alle 7 Tage etwas Neues." in text
    assert "uns bitte die neue Adresse, damit sie auch bei uns wieder erscheinen." in text
    [hook] = hooks
    assert hook["event"] == "still"
    assert hook["group"] == {"slug": "seestadt", "name": "Bürgerstiftung Seestadt"}
    assert hook["address"] == f"{upstream.base}/feed/"
    assert str(hook["text"]).startswith("Bürgerstiftung Seestadt: seit ")

    # The next cron run: still still, nobody is told again.
    ran = await asyncio.to_thread(harvest)
    assert ran.returncode == 0, ran.stderr
    assert len(received.mails) == 1
    assert len(hooks) == 1


SEESTADT = Site(
    slug="seestadt",
    name="Bürgerstiftung Seestadt",
    contact=("team@seestadt.example",),
    sources=(
        SourceConfig(name="termine", kind="ical", options=(("url", "https://see.example/k.ics"),)),
        SourceConfig(name="news", kind="feed", options=(("url", "https://see.example/feed/"),)),
    ),
)
BERGDORF = Site(
    slug="bergdorf",
    name="Freiwilligenagentur Bergdorf",
    sources=(
        SourceConfig(name="news", kind="wordpress", options=(("api", "https://berg.example"),)),
    ),
)


async def test_the_office_gets_its_summary_on_monday_morning(
    inbox: tuple[Inbox, int], store_url: str
) -> None:
    received, smtp_port = inbox
    alerts = Alerts(f"smtp://127.0.0.1:{smtp_port}", "feeds@n.example", ("buero@n.example",))
    config = Config(Network(name="Engagierte Stadt", sites=(SEESTADT, BERGDORF)), {}, alerts)
    store = await open_store(store_url)
    begun = NOW - 20 * DAY
    try:
        # Watched for 20 days. Seestadt's calendar fails since Saturday; its weekly news
        # stopped in September; Bergdorf failed on Wednesday and is read again.
        event = Event(site="seestadt", source="termine", external_id="1", title="Café",
                      start=NOW - 30 * DAY)  # fmt: skip
        await store.save_batch("seestadt", "termine", [], [event], Validators(), begun)
        posts = [
            Post(site="seestadt", source="news", external_id=str(n), title=f"Nr. {n}",
                 published=NOW - 70 * DAY - 7 * DAY * n)
            for n in range(11)
        ]  # fmt: skip
        await store.save_batch("seestadt", "news", posts, [], Validators(), begun)
        berg = Post(site="bergdorf", source="news", external_id="1", title="Hallo",
                    published=NOW - DAY)  # fmt: skip
        await store.save_batch("bergdorf", "news", [berg], [], Validators(), begun)
        for hours in (48, 40, 32, 24):
            at = NOW - timedelta(hours=hours)
            await store.save_failure("seestadt", "termine", "x: the server answered 503",
                                     503, at)  # fmt: skip
        wednesday = NOW - 5 * DAY
        await store.save_failure("bergdorf", "news", "x: the server answered 500", 500, wednesday)
        await store.record_harvest(HarvestRecord("bergdorf", "news", "w", wednesday, wednesday,
                                                 "failed", error="answered 500"))  # fmt: skip
        await store.save_batch("bergdorf", "news", [berg], [], Validators(), NOW - 4 * DAY)

        alerter = Alerter(store, lambda: config, worker="w", status_url="https://f.example/status",
                          slow_every=0)  # fmt: skip
        sunday = NOW - DAY
        await alerter.round(sunday)
        subjects = sorted(str(m["Subject"]) for _, m in received.mails)
        assert subjects == [
            "Bürgerstiftung Seestadt: der Kalender kann nicht mehr gelesen werden",
            "Bürgerstiftung Seestadt: seit 28.09.2026 nichts Neues",
        ]  # no summary on a Sunday
        received.mails.clear()

        await alerter.round(NOW)
        [(recipients, summary)] = received.mails
        assert recipients == ["buero@n.example"]
        assert summary["Subject"] == "Engagierte Stadt: Wochenbericht KW 50 – 1 gestört, 1 still"
        text = summary.get_content().replace("\r\n", "\n")
        assert "so steht es am 07.12.2026 um die 3 Quellen der 2 Gruppen" in text
        assert "Gestört (1):\n  - Bürgerstiftung Seestadt, der Kalender: Der Server" in text
        assert "4-mal nacheinander. Die Gruppe wurde per Mail benachrichtigt." in text
        assert "Still (1):\n  - Bürgerstiftung Seestadt, der Feed: zuletzt am 28.09.2026" in text
        assert "(sonst etwa alle 7 Tage)" in text
        assert "Wieder in Ordnung (1):\n  - Freiwilligenagentur Bergdorf, die Beiträge" in text
        assert "https://f.example/status" in text

        # /status says the same, of the group alone.
        rows = {r.source: r for r in await status_rows(store, config, "seestadt")}
        assert set(rows) == {"termine", "news"}
        assert rows["news"].quiet_since == NOW - 70 * DAY
        assert rows["news"].usual_gap_days == 7
        assert rows["news"].alert == (
            "Die Gruppe wurde per Mail gefragt, ob die Einträge jetzt woanders erscheinen."
        )
        assert rows["termine"].quiet_since is None  # failing, told as such

        await alerter.round(NOW + timedelta(hours=2))
        assert len(received.mails) == 1  # once a week
        await alerter.round(NOW + 7 * DAY)
        assert len(received.mails) == 2
        assert "KW 51" in str(received.mails[1][1]["Subject"])
    finally:
        await store.close()


def test_a_new_service_waits_a_whole_week_before_its_first_summary() -> None:
    assert summary_week(NOW, None) is None
    assert summary_week(NOW, NOW - 3 * DAY) is None
    week = summary_week(NOW, NOW - 8 * DAY)
    assert week is not None
    assert week.key == "summary:2026-W50"
    assert summary_week(NOW - timedelta(hours=2), NOW - 30 * DAY) is None  # Monday, 07:30
    assert summary_week(NOW + timedelta(hours=22), NOW - 30 * DAY) == week  # Tuesday, 07:30
    assert summary_week(NOW + 2 * DAY, NOW - 30 * DAY) is None  # Wednesday: old news
