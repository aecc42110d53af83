"""The feed adapter: RSS, Atom and JSON Feed as groups really publish them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from sources.base import Fetched, NotModified, SourceContext, SourceError, Validators
from sources.feed import FeedSource, read_feed
from tests.helpers import CONTEXT
from tests.upstream import DATA, Upstream

NONE = Validators()


def adapter(url: str) -> FeedSource:
    context = SourceContext(
        site="kaiserslautern",
        source="rss",
        timezone="Europe/Berlin",
        homepage=None,
        config_dir=Path(),
    )
    return FeedSource.from_config(context, {"url": url})


async def fetch(url: str, validators: Validators = NONE) -> Fetched | NotModified:
    async with aiohttp.ClientSession() as session:
        return await adapter(url).fetch(session, validators)


async def test_rss_with_content_encoded_enclosure_and_relative_links(upstream: Upstream) -> None:
    upstream.file("/feed/", "feed/news.rss")
    result = await fetch(f"{upstream.base}/feed/")
    assert isinstance(result, Fetched)
    seed, undated = result.posts
    assert seed.title == "Kaiserslautern – Gute Rahmenbedingungen für Engagement vor Ort schaffen"
    assert seed.external_id == "https://www.engagierte-stadt-ks.example/?p=4711"
    # Relative to the feed's address; tracking parameters kept as given.
    assert (
        seed.url
        == f"{upstream.base}/2025/02/20/gute-rahmenbedingungen/?utm_source=rss&utm_medium=rss"
    )
    assert (
        seed.summary
        == "Initiative „Engagierte Stadt Kaiserslautern“ wird mit ersten Aktionen sichtbar […]"
    )
    content = seed.content_html or ""
    assert f'src="{upstream.base}/wp-content/uploads/2025/02/plakette.jpg"' in content
    assert "<script" not in content
    assert seed.author == "Ehrenamtskoordination"
    assert seed.categories == ("Netzwerk", "Ehrenamt")
    assert seed.published == datetime(2025, 2, 20, 9, tzinfo=UTC)
    assert seed.image is not None
    assert seed.image.url.endswith("/plakette.jpg")
    # No date upstream: none invented; the store's first-seen time stands in.
    assert (undated.published, undated.updated) == (None, None)
    assert undated.external_id == "https://www.engagierte-stadt-ks.example/ohne-datum/"
    assert result.validators.etag == 'W/"rss-1"'
    assert isinstance(await fetch(f"{upstream.base}/feed/", result.validators), NotModified)


async def test_atom_with_xml_base_and_html_title(upstream: Upstream) -> None:
    upstream.file("/atom.xml", "feed/news.atom")
    result = await fetch(f"{upstream.base}/atom.xml")
    assert isinstance(result, Fetched)
    [post] = result.posts
    assert post.title == "Freiwilligentag 2025"
    assert post.url == "https://www.musterstadt.example/blog/freiwilligentag-2025"
    assert 'href="https://www.musterstadt.example/blog/anmeldung"' in (post.content_html or "")
    assert post.image is not None
    assert post.image.url == "https://www.musterstadt.example/blog/bilder/tag.png"
    assert post.updated == datetime(2025, 3, 2, 8, 15, tzinfo=UTC)
    assert result.validators.last_modified == "Sun, 02 Mar 2025 08:15:00 GMT"


async def test_json_feed(upstream: Upstream) -> None:
    upstream.file("/feed.json", "feed/feed.json")
    result = await fetch(f"{upstream.base}/feed.json")
    assert isinstance(result, Fetched)
    post, without_id = result.posts
    assert post.url == f"{upstream.base}/p/7"
    assert post.content_html == "<p>Zeile eins<br>Zeile &lt;zwei&gt;</p>"
    assert (post.author, post.categories) == ("Redaktion", ("Ehrenamt",))
    # JSON Feed 1.0 had no required id, and feeds in the wild leave it out: the URL is one.
    assert (without_id.external_id, without_id.title) == (f"{upstream.base}/p/8", "Ohne id")
    assert result.skipped == ()


async def test_a_cut_off_feed_keeps_its_complete_entries_and_says_so(upstream: Upstream) -> None:
    upstream.file("/cut.rss", "feed/cut-after-one.rss")
    result = await fetch(f"{upstream.base}/cut.rss")
    assert isinstance(result, Fetched)
    assert [p.title for p in result.posts] == ["Erster Beitrag"]
    [warning] = result.warnings
    assert warning.startswith("the feed breaks off before its end")
    assert "read its 1 complete entries, left out the last one" in warning


async def test_a_wrong_declared_charset_still_reads_right(upstream: Upstream) -> None:
    upstream.file("/latin.rss", "feed/latin.rss")
    result = await fetch(f"{upstream.base}/latin.rss")
    assert isinstance(result, Fetched)
    assert result.posts[0].title == "Straßenfest in Kaiserslautern"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("wordpress/maintenance.html", "not a readable feed"),
        ("feed/truncated.rss", "breaks off before its end"),
    ],
)
async def test_broken_feeds_say_what_is_wrong(upstream: Upstream, name: str, message: str) -> None:
    upstream.file("/feed/", name)
    with pytest.raises(SourceError, match=message) as caught:
        await fetch(f"{upstream.base}/feed/")
    assert f"{upstream.base}/feed/" in str(caught.value)


async def test_redirects_are_followed_and_links_resolve_against_the_final_address(
    upstream: Upstream,
) -> None:
    upstream.file("/neu/feed/", "feed/news.rss")

    async def moved(request: web.Request) -> web.StreamResponse:
        raise web.HTTPMovedPermanently("/neu/feed/")

    upstream.add("/feed/", moved)
    result = await fetch(f"{upstream.base}/feed/")
    assert isinstance(result, Fetched)
    assert (
        result.posts[0].url
        == f"{upstream.base}/2025/02/20/gute-rahmenbedingungen/?utm_source=rss&utm_medium=rss"
    )
    assert [path for path, _ in upstream.requests] == ["/feed/", "/neu/feed/"]


def test_feedparser_raising_on_a_nul_in_the_encoding_is_a_source_error() -> None:
    # feedparser 6.0.x raises ValueError ("embedded null character") instead of setting
    # bozo; found by tests/test_sources_properties.py. Pinned: fails if the guard goes.
    body = b'<?xml version="1.0" encoding="\x00tf-8"?><feed xmlns="http://www.w3.org/2005/Atom"/>'
    context = SourceContext(
        site="s", source="f", timezone="Europe/Berlin", homepage=None, config_dir=Path()
    )
    with pytest.raises(SourceError, match="not a readable feed \\(ValueError: embedded null"):
        read_feed(body, context, url="https://example.org/feed")


@pytest.mark.parametrize("declared", ["UTF-16", "UTF-8"])
@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_a_utf16_feed_is_read_whole(declared: str, encoding: str) -> None:
    """A UTF-16 feed with its byte order mark, whatever its declaration says, read whole
    (with a UTF-8 declaration one entry was lost, reported as "breaks off before its end")."""
    text = (DATA / "feed/news.rss").read_text(encoding="utf-8")
    text = text.replace('encoding="UTF-8"', f'encoding="{declared}"')
    body = text.encode("utf-16") if encoding == "utf-16" else b"\xfe\xff" + text.encode(encoding)
    result = read_feed(body, CONTEXT, url="https://example.org/feed")
    assert len(result.posts) == 2
    assert result.warnings == ()
    assert "für Engagement" in result.posts[0].title


def test_json_nested_100000_deep_is_refused_in_words() -> None:
    """It was reported as "a bug in the service" (a RecursionError)."""
    body = b'{"version": "https://jsonfeed.org/version/1.1", "items": '
    body += b"[" * 100_000 + b"]" * 100_000 + b"}"
    with pytest.raises(SourceError, match="nested deeper than any feed or API answer"):
        read_feed(body, CONTEXT, url="https://example.org/feed.json")
