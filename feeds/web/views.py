"""Store reads and renders for each route; run behind the render cache."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from feeds.model import Network, Site
from feeds.render.atom import render_atom
from feeds.render.entries import FeedInfo, feed_id, feed_updated, post_entry, site_ref
from feeds.render.html import GroupSummary, render_index
from feeds.render.ics import CalendarInfo, render_calendar
from feeds.render.jsonfeed import render_json_feed
from feeds.render.rss import render_rss
from feeds.store import ItemQuery, Store
from feeds.web.caching import Rendered, make_rendered

NEWS_LIMIT = 50
NEWS_RENDERERS = {
    "atom": (render_atom, "application/atom+xml"),
    "rss": (render_rss, "application/rss+xml"),
    "json": (render_json_feed, "application/feed+json"),
}
NETWORK = "network"


@dataclass(frozen=True, slots=True)
class Scope:
    """One group, or the whole network."""

    slug: str
    title: str
    homepage: str | None
    sites: tuple[Site, ...]

    @property
    def is_network(self) -> bool:
        return self.slug == NETWORK

    @property
    def timezone(self) -> str:
        return self.sites[0].timezone if len(self.sites) == 1 else "Europe/Berlin"


def resolve_scope(network: Network, slug: str) -> Scope | None:
    if slug == NETWORK:
        return Scope(NETWORK, network.name, network.homepage, network.sites)
    site = network.site(slug)
    if site is None:
        return None
    return Scope(site.slug, site.name, site.homepage, (site,))


async def news(store: Store, scope: Scope, fmt: str, base_url: str, revision: int) -> Rendered:
    stored = await store.posts(ItemQuery(sites=[s.slug for s in scope.sites], limit=NEWS_LIMIT))
    refs = {s.slug: site_ref(s, base_url) for s in scope.sites} if scope.is_network else {}
    entries = [post_entry(p, refs.get(p.item.site)) for p in stored]
    info = FeedInfo(
        id=feed_id(scope.slug, "news"),
        title=f"{scope.title}: Neuigkeiten",
        subtitle=None,
        self_url=f"{base_url}/{scope.slug}/news.{fmt}",
        alternate_url=scope.homepage or f"{base_url}/",
        author=None if scope.is_network else scope.title,
    )
    render, content_type = NEWS_RENDERERS[fmt]
    body = await asyncio.to_thread(render, info, entries)
    return make_rendered(body, content_type, feed_updated(entries), revision)


async def calendar(store: Store, scope: Scope, refresh_seconds: int, revision: int) -> Rendered:
    stored = await store.events(ItemQuery(sites=[s.slug for s in scope.sites]))
    info = CalendarInfo(
        name=f"{scope.title}: Termine",
        description=None,
        timezone=scope.timezone,
        refresh=timedelta(seconds=refresh_seconds),
    )
    attribution = {s.slug: s.name for s in scope.sites} if scope.is_network else None
    body = await asyncio.to_thread(render_calendar, info, stored, attribution=attribution)
    changed = max((e.changed for e in stored), default=datetime(1970, 1, 1, tzinfo=UTC))
    return make_rendered(body, "text/calendar", changed, revision)


async def index(store: Store, network: Network, base_url: str, revision: int) -> Rendered:
    counts = await store.item_counts()
    groups = [
        GroupSummary(
            slug=site.slug,
            name=site.name,
            region=site.region,
            homepage=site.homepage,
            posts=counts.get((site.slug, "post"), 0),
            events=counts.get((site.slug, "event"), 0),
        )
        for site in network.sites
    ]
    body = render_index(network, groups, base_url)
    return make_rendered(body, "text/html", datetime.now(UTC), revision)
