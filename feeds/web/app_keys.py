"""Typed keys for what the application holds; no module-level singletons. (What it keeps
of its answers is `answers_key`, in feeds/web/cache.py.)"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from aiohttp import web

from feeds.config import Config, Settings
from feeds.federation.service import Federation
from feeds.harvest import Harvester
from feeds.model import Network
from feeds.store import Store
from feeds.web.guard import TokenGuard


class Configured:
    """The configuration being served. Replaced whole when sites.toml changes
    (feeds/config_watch.py): a request reads one or the other, never half of each."""

    __slots__ = ("config", "interval", "network", "regions")

    def __init__(self, config: Config) -> None:
        self.use(config)

    def use(self, config: Config) -> None:
        intervals = [c.interval for site in config.network.sites for c in site.sources]
        self.config = config
        self.network: Network = config.network
        self.interval = min(intervals, default=timedelta(minutes=15))  # the shortest
        # Each region's name as the configuration spells it, by its case-folded name.
        self.regions = {s.region.casefold(): s.region for s in config.network.sites if s.region}


settings_key = web.AppKey("settings", Settings)
configured_key = web.AppKey("configured", Configured)
store_key = web.AppKey("store", Store)
harvester_key = web.AppKey("harvester", Harvester)
guard_key = web.AppKey("guard", TokenGuard)  # wrong admin tokens, per address
federation_key = web.AppKey("federation", Federation)  # only while FEEDS_FEDERATION is on


@dataclass(frozen=True, slots=True)
class Background:
    """What runs beside serving: harvesting, or (a worker harvests) following the revision."""

    task: asyncio.Task[None]
    harvesting: bool


background_key = web.AppKey("background", Background)
