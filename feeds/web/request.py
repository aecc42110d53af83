"""A request as one value: what it asks for, parsed once; its answer is kept by it."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field, replace
from datetime import timedelta

from aiohttp import web

from feeds.filters import Filters
from feeds.scope import Scope, resolve_scope
from feeds.taxonomy import expand
from feeds.urls import Urls
from feeds.web.app_keys import configured_key, settings_key
from feeds.web.parameters import QueryError, excerpt, parse_filters


@dataclass(frozen=True, slots=True)
class Asked:
    """What a route was asked for. Answers without links (the QR code's picture) have no
    `urls`; calendars have: they name our copies of the groups' images."""

    view: str  # names the render in the cache and in the metrics
    scope: Scope | None = field(default=None, compare=False)  # known by `site` in the key
    filters: Filters = field(default_factory=Filters)
    urls: Urls | None = None
    fmt: str | None = None
    item_id: str | None = None

    @property
    def key(self) -> tuple[Hashable, ...]:
        """Everything the answer depends on besides the store's revision."""
        site = self.scope.slug if self.scope else None
        return (self.view, site, self.filters, self.urls, self.fmt, self.item_id)


def shareable(key: tuple[Hashable, ...]) -> bool:
    """Whether a view's render is worth sharing with the other processes and instances
    (feeds/web/shared.py): the popular ones, without filters or an item (`Asked.key`'s
    filters and item are its third and last parts). What clients vary stays local."""
    return len(key) == 6 and key[2] == NO_FILTERS and key[5] is None


NO_FILTERS = Filters()


def urls_of(request: web.Request) -> Urls:
    """Addresses under the public address: FEEDS_BASE_URL wins over what the request says."""
    return Urls(request.app[settings_key].base_url or f"{request.scheme}://{request.host}")


def scope_of(request: web.Request) -> Scope:
    """The group (or the network) in the path; a name no group has is a 404."""
    scope = resolve_scope(request.app[configured_key].network, request.match_info["site"])
    if scope is None:
        raise web.HTTPNotFound(text=f"no group named {excerpt(request.match_info['site'])}\n")
    return scope


def filters_of(request: web.Request) -> Filters:
    """The query's filters; a `site` that names no group is a 400 that lists them. A
    network category asks for every group category it covers (feeds/taxonomy.py)."""
    filters = parse_filters(request.query)
    network = request.app[configured_key].network
    if network.taxonomy and filters.categories:
        filters = replace(filters, categories=expand(network.taxonomy, filters.categories))
    unknown = [slug for slug in filters.sites if network.site(slug) is None]
    if unknown:
        known = ", ".join(s.slug for s in network.sites[:20])
        more = " …" if len(network.sites) > 20 else ""
        raise QueryError("site", f"no group is named {excerpt(unknown[0])}; groups: {known}{more}")
    return filters


def page_of(scope: Scope, filters: Filters, links: Urls) -> str:
    """The page for people of what a view shows: the group's, the network's page of the
    one region asked for, or the network's."""
    if not scope.is_network:
        return links.group_page(scope.slug)
    return links.network_page(region=filters.regions[0] if len(filters.regions) == 1 else None)


def region_named(request: web.Request, asked: str) -> str | None:
    """The region `asked` names, as the configuration spells it; None if no group is in it."""
    region: str | None = request.app[configured_key].regions.get(asked.strip().casefold())
    return region


def region_of(request: web.Request) -> str | None:
    """The `region` asked for, as the configuration spells it; one no group is in is a 404."""
    asked = request.query.get("region")
    if asked is None:
        return None
    region = region_named(request, asked)
    if region is None:
        raise web.HTTPNotFound(text=f"no group is in a region named {excerpt(asked)}\n")
    return region


def harvest_interval(request: web.Request) -> timedelta:
    """The shortest harvest interval: how often calendars ask again."""
    interval: timedelta = request.app[configured_key].interval
    return interval


def max_age(request: web.Request) -> int:
    # Half the harvest interval: a reader sees a change within one interval at worst.
    return max(60, int(harvest_interval(request).total_seconds() // 2))
