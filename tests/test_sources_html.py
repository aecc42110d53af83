"""The html adapter and German dates: the seed article as a real page."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from sources.base import Fetched, NotModified, OptionError, SourceContext, SourceError, Validators
from sources.german_dates import DateError, parse_span
from sources.html import HTMLSource
from tests.upstream import Upstream

BERLIN = ZoneInfo("Europe/Berlin")
NONE = Validators()
SEED_SELECTORS = {
    "posts": {
        "item": "article.post",
        "title": "h1",
        "summary": ".subtitle",
        "body": ".entry-content",
        "image": ".entry-content figure img",
        "image_caption": ".entry-content figure figcaption",
    },
    "events": {
        "item": ".events li.event",
        "title": ".event-title",
        "link": "a",
        "date": ".event-date",
    },
}
CONTEXT = SourceContext(
    site="kaiserslautern",
    source="website",
    timezone="Europe/Berlin",
    homepage=None,
    config_dir=Path(),
)


def adapter(url: str, **options: object) -> HTMLSource:
    return HTMLSource.from_config(CONTEXT, {"url": url, **SEED_SELECTORS, **options})


async def fetch(source: HTMLSource, validators: Validators = NONE) -> Fetched | NotModified:
    async with aiohttp.ClientSession() as session:
        return await source.fetch(session, validators)


async def test_the_seed_page_becomes_one_post_and_rock_rising(upstream: Upstream) -> None:
    upstream.file("/kaiserslautern/", "html/kaiserslautern.html")
    result = await fetch(adapter(f"{upstream.base}/kaiserslautern/"))
    assert isinstance(result, Fetched)
    [post] = result.posts
    assert post.title == "Kaiserslautern – Gute Rahmenbedingungen für Engagement vor Ort schaffen"
    assert (
        post.summary
        == "Initiative „Engagierte Stadt Kaiserslautern“ wird mit ersten Aktionen sichtbar"
    )
    assert post.image is not None
    assert post.image.url == (
        f"{upstream.base}/wp-content/uploads/2025/02/"
        "fittosize_750_0_a7beb696e5af663c6cb2d4ae22bb3d10_engagierte_stadt_plakette_asz.jpg"
    )
    # The page's alt text is the file name; the caption says what the picture shows.
    assert post.image.alt == "Das Logo der Engagierten Stadt an der Stadtteilwerkstatt des ASZ"
    assert post.image.credit == "© Stadt Kaiserslautern"
    content = post.content_html or ""
    assert "Demokratie-Café in der Königstraße" in content
    assert f'href="{upstream.base}/kaiserslautern"' in content
    assert "<script" not in content
    [rock] = result.events
    assert rock.title == "Rock Rising"
    assert (rock.start, rock.end) == (
        datetime(2025, 3, 8, 20, tzinfo=BERLIN),
        datetime(2025, 3, 8, 23, 59, tzinfo=BERLIN),
    )
    assert rock.url == f"{upstream.base}/events/rock-rising/"
    assert isinstance(
        await fetch(adapter(f"{upstream.base}/kaiserslautern/"), result.validators), NotModified
    )


async def test_a_changed_layout_is_a_clear_error(upstream: Upstream) -> None:
    upstream.file("/kaiserslautern/", "html/kaiserslautern.html")
    moved = adapter(
        f"{upstream.base}/kaiserslautern/",
        posts={"item": "article.beitrag", "title": "h1"},
        events={"item": ".termine li", "title": "a", "date": "time"},
    )
    with pytest.raises(SourceError, match=r"'article\.beitrag' matched nothing.*layout changed"):
        await fetch(moved)


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        (
            "8. März 2025 - 20:00 Uhr bis 23:59 Uhr",
            datetime(2025, 3, 8, 20, tzinfo=BERLIN),
            datetime(2025, 3, 8, 23, 59, tzinfo=BERLIN),
        ),
        ("Sa., 8.3.2025, 20 Uhr", datetime(2025, 3, 8, 20, tzinfo=BERLIN), None),
        ("8.–9. März 2025", date(2025, 3, 8), date(2025, 3, 9)),
        ("20. Februar 2025", date(2025, 2, 20), None),
        ("Samstag, 8. März 2025, 20.00 Uhr", datetime(2025, 3, 8, 20, tzinfo=BERLIN), None),
        (
            "8. März 2025, 20:00 – 23:59 Uhr",
            datetime(2025, 3, 8, 20, tzinfo=BERLIN),
            datetime(2025, 3, 8, 23, 59, tzinfo=BERLIN),
        ),
        (
            "8. März 2025 20 Uhr - 9. März 2025 2 Uhr",
            datetime(2025, 3, 8, 20, tzinfo=BERLIN),
            datetime(2025, 3, 9, 2, tzinfo=BERLIN),
        ),
        ("30. Juni – 2. Juli 2025", date(2025, 6, 30), date(2025, 7, 2)),
        ("8.3.-9.3.2025", date(2025, 3, 8), date(2025, 3, 9)),
        ("Mo, 6. Okt. 2025", date(2025, 10, 6), None),
        ("8. März, 20 Uhr", datetime(2025, 3, 8, 20, tzinfo=BERLIN), None),  # this year
    ],
)
def test_german_dates(text: str, start: date, end: date | None) -> None:
    span = parse_span(text, BERLIN, today=date(2025, 1, 15))
    assert (span.start, span.end) == (start, end)


@pytest.mark.parametrize("text", ["kein Datum", "bald", "9. März 2025 - 8. März 2025"])
def test_unreadable_dates_say_so(text: str) -> None:
    with pytest.raises(DateError, match=text[:4]):
        parse_span(text, BERLIN, today=date(2025, 1, 15))


def test_selectors_are_checked_in_the_config() -> None:
    with pytest.raises(OptionError, match=r"events\.date: is required"):
        HTMLSource.from_config(
            CONTEXT, {"url": "https://x.example/", "events": {"item": "li", "title": "a"}}
        )
    with pytest.raises(OptionError, match=r"posts\.title: invalid CSS selector"):
        HTMLSource.from_config(
            CONTEXT, {"url": "https://x.example/", "posts": {"item": "li", "title": "a[[["}}
        )
    with pytest.raises(OptionError, match="give \\[posts\\] or \\[events\\]"):
        HTMLSource.from_config(CONTEXT, {"url": "https://x.example/"})
