"""The wordpress adapter against a local server playing a WordPress site's REST API."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from sources.base import Fetched, NotModified, SourceContext, SourceError, Validators
from sources.wordpress import WordPressSource
from tests.upstream import Upstream

POSTS = "/wp-json/wp/v2/posts"


def adapter(base: str) -> WordPressSource:
    context = SourceContext(
        site="kaiserslautern",
        source="wp",
        timezone="Europe/Berlin",
        homepage=None,
        config_dir=Path(),
    )
    return WordPressSource.from_config(context, {"url": base, "per_page": 2})


async def fetch(
    source: WordPressSource, validators: Validators = Validators()
) -> Fetched | NotModified:
    async with aiohttp.ClientSession() as session:
        return await source.fetch(session, validators)


async def test_posts_over_two_pages_with_embedded_author_image_and_terms(
    upstream: Upstream,
) -> None:
    upstream.file(POSTS, "wordpress/posts-1.json", query={"page": "1"})
    upstream.file(POSTS, "wordpress/posts-2.json", query={"page": "2"})
    result = await fetch(adapter(upstream.base))
    assert isinstance(result, Fetched)
    assert [p.external_id for p in result.posts] == ["4711", "4702", "4650"]
    seed = result.posts[0]
    assert seed.title == "Kaiserslautern – Gute Rahmenbedingungen für Engagement vor Ort schaffen"
    assert (
        seed.summary
        == "Initiative „Engagierte Stadt Kaiserslautern“ wird mit ersten Aktionen sichtbar […]"
    )
    assert seed.author == "Ehrenamtskoordination Kaiserslautern"
    assert seed.categories == ("Netzwerk",)
    assert seed.published == datetime(2025, 2, 20, 9, tzinfo=UTC)
    assert seed.updated == datetime(2025, 2, 21, 8, 30, tzinfo=UTC)
    assert seed.image is not None
    assert seed.image.url.endswith("_engagierte_stadt_plakette_asz.jpg")
    assert seed.image.alt == "Das Logo der Engagierten Stadt an der Stadtteilwerkstatt des ASZ"
    assert (
        seed.image.credit
        == "Das Logo der Engagierten Stadt an der Stadtteilwerkstatt des ASZ © Stadt Kaiserslautern"
    )
    content = seed.content_html or ""
    assert (
        'src="https://www.engagierte-stadt-ks.example/wp-content/uploads/2025/02/plakette.jpg"'
        in content
    )
    assert "<script" not in content
    assert "onclick" not in content
    assert "„Engagierte Stadt Kaiserslautern“" in content
    assert result.posts[1].title == "Demokratie-Café & Austausch in der Königstraße"
    assert result.posts[1].categories == ("Demokratie & Teilhabe",)
    assert result.posts[1].image is None
    # The item without a title is reported and left out; the rest is harvested.
    assert result.skipped == ("post 4649: missing 'title'",)
    assert result.validators.etag == '"wp-posts-8c2f"'


async def test_an_unchanged_site_is_not_modified(upstream: Upstream) -> None:
    upstream.file(POSTS, "wordpress/posts-1.json", query={"page": "1"})
    upstream.file(POSTS, "wordpress/posts-2.json", query={"page": "2"})
    first = await fetch(adapter(upstream.base))
    assert isinstance(first, Fetched)
    again = await fetch(adapter(upstream.base), first.validators)
    assert isinstance(again, NotModified)
    assert upstream.requests[-1][1]["If-None-Match"] == '"wp-posts-8c2f"'
    # Page 2 was not asked for again: page 1 said nothing changed.
    assert sum("&page=2" in path for path, _ in upstream.requests) == 1


@pytest.mark.parametrize(
    ("name", "status", "message"),
    [
        ("wordpress/no-route.json", 404, "answered 404"),
        ("wordpress/maintenance.html", 200, "expected JSON, got an HTML page"),
    ],
)
async def test_a_broken_site_is_a_source_error_that_says_what(
    upstream: Upstream, name: str, status: int, message: str
) -> None:
    upstream.file(POSTS, name, status=status)
    with pytest.raises(SourceError, match=message) as caught:
        await fetch(adapter(upstream.base))
    assert upstream.base in str(caught.value)


async def test_a_route_error_in_json_names_the_code(upstream: Upstream) -> None:
    upstream.file(POSTS, "wordpress/no-route.json", status=200)
    with pytest.raises(SourceError, match="rest_no_route"):
        await fetch(adapter(upstream.base))


def test_options_are_checked() -> None:
    context = SourceContext(
        site="s", source="wp", timezone="Europe/Berlin", homepage=None, config_dir=Path()
    )
    with pytest.raises(ValueError, match="url: expected an http"):
        WordPressSource.from_config(context, {"url": "example.org"})
    with pytest.raises(ValueError, match="per_page: expected a whole number from 1 to 100"):
        WordPressSource.from_config(context, {"url": "https://example.org", "per_page": 500})
    source = WordPressSource.from_config(context, {"api": "https://example.org/?rest_route=/"})
    assert source.page_url(1).startswith("https://example.org/?rest_route=/wp/v2/posts&_embed=1")
