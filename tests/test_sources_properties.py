"""Whatever an adapter meets, it raises only SourceError: recorded documents mangled as the
internet mangles them (cut short, bytes flipped, lines doubled or lost) are read or refused
in words, never with another exception. Each parser is called as its adapter calls it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feeds import codec
from sources.base import SourceContext, SourceError
from sources.feed import read_feed
from sources.html import HTMLSource
from sources.ical import parse_calendar
from sources.jsonld import read_page
from sources.tribe_events import parse_events as parse_tribe_page
from sources.wordpress import parse_posts
from tests.test_sources_html import SEED_SELECTORS
from tests.upstream import DATA

CONTEXT = SourceContext(
    site="kaiserslautern", source="doc", timezone="Europe/Berlin", homepage=None, config_dir=Path()
)
HTML = HTMLSource.from_config(CONTEXT, {"url": "https://example.org/", **SEED_SELECTORS})


def _html(body: bytes) -> Any:
    return HTML.parse(body, url="https://example.org/", today=date(2025, 3, 1))


PARSERS: dict[str, Callable[[bytes], Any]] = {
    "ical": lambda body: parse_calendar(body, CONTEXT, url="u"),
    "feed": lambda body: read_feed(body, CONTEXT, url="https://example.org/feed"),
    "wordpress": lambda body: parse_posts(body, CONTEXT, url="u"),
    "tribe": lambda body: parse_tribe_page(body, CONTEXT, url="u"),
    "html": _html,
    "jsonld": lambda body: read_page(body, CONTEXT, url="https://example.org/"),
}
DOCUMENTS = [
    ("ical", "ical/google.ics"),
    ("ical", "ical/outlook.ics"),
    ("ical", "ical/quirks.ics"),
    ("ical", "ical/salvage.ics"),
    ("feed", "feed/news.rss"),
    ("feed", "feed/news.atom"),
    ("feed", "feed/feed.json"),
    ("wordpress", "wordpress/posts-1.json"),
    ("tribe", "tribe/events-1.json"),
    ("html", "html/kaiserslautern.html"),
    ("jsonld", "jsonld/events.html"),
]


@st.composite
def mangled(draw: st.DrawFn, body: bytes) -> bytes:
    lines = body.splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 4))):
        how = draw(st.sampled_from(["cut", "flip", "double", "drop", "insert"]))
        if not lines:
            break
        at = draw(st.integers(0, len(lines) - 1))
        if how == "cut":
            text = b"".join(lines)
            lines = [text[: draw(st.integers(0, len(text)))]]
        elif how == "flip":
            line = bytearray(lines[at])
            if line:
                line[draw(st.integers(0, len(line) - 1))] = draw(st.integers(0, 255))
            lines[at] = bytes(line)
        elif how == "double":
            lines.insert(at, lines[at])
        elif how == "drop":
            del lines[at]
        else:
            lines.insert(at, draw(st.binary(max_size=40)) + b"\r\n")
    return b"".join(lines)


def _check(kind: str, body: bytes) -> None:
    try:
        result = PARSERS[kind](body)
    except SourceError as exc:
        refusal = str(exc)
        assert refusal.strip(), "a refusal must say what is wrong"
        return
    events = getattr(result, "events", ())
    posts = getattr(result, "posts", ())
    if isinstance(result, tuple):  # parse_posts: (posts, skipped)
        posts = result[0]
    for item in (*posts, *events):
        codec.loads(codec.dumps(item))  # everything read can be stored and read back


@pytest.mark.parametrize(("kind", "name"), DOCUMENTS, ids=[name for _, name in DOCUMENTS])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mangled_documents_raise_only_source_errors(kind: str, name: str, data: Any) -> None:
    body = (DATA / name).read_bytes().replace(b"{{BASE}}", b"https://example.org")
    _check(kind, data.draw(mangled(body)))


@pytest.mark.parametrize("kind", sorted(PARSERS))
@settings(max_examples=40, deadline=None)
@given(body=st.binary(max_size=300))
def test_random_bytes_raise_only_source_errors(kind: str, body: bytes) -> None:
    _check(kind, body)
