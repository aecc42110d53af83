"""What every news format shows of an item, whatever it was upstream."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from feeds.model import Image, Post, Site
from feeds.store import Stored


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedInfo:
    """The feed as a whole. `id` is stable; the URLs depend on the public address."""

    id: str
    title: str
    subtitle: str | None
    self_url: str
    alternate_url: str
    language: str = "de"
    author: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteRef:
    """Which group an entry comes from, for attribution in network feeds."""

    name: str
    url: str | None  # the group's own website
    feed_id: str  # the group's own news feed, as <source> in Atom and RSS
    feed_url: str
    rss_url: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    id: str  # urn:uuid:…, never the server's address
    title: str
    url: str | None
    content_html: str | None
    summary: str | None
    author: str | None
    categories: tuple[str, ...]
    image: Image | None
    published: datetime
    updated: datetime
    site: SiteRef | None = None


def feed_id(*parts: str) -> str:
    return uuid.uuid5(uuid.NAMESPACE_URL, "engagement-feeds:" + "/".join(parts)).urn


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def feed_updated(entries: Sequence[Entry]) -> datetime:
    """The newest change among the entries; fixed for an empty feed, so ETags stay stable."""
    return max((e.updated for e in entries), default=EPOCH)


def site_ref(site: Site, base_url: str) -> SiteRef:
    return SiteRef(
        name=site.name,
        url=site.homepage,
        feed_id=feed_id(site.slug, "news"),
        feed_url=f"{base_url}/{site.slug}/news.atom",
        rss_url=f"{base_url}/{site.slug}/news.rss",
    )


def post_entry(stored: Stored[Post], site: SiteRef | None) -> Entry:
    post = stored.item
    published = post.published or stored.first_seen
    return Entry(
        id=post.uuid.urn,
        title=post.title,
        url=post.url,
        content_html=post.content_html,
        summary=post.summary,
        author=post.author,
        categories=post.categories,
        image=post.image,
        published=published,
        updated=max(post.updated or published, published),
        site=site,
    )
