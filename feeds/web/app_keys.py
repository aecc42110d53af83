"""Typed keys for what the application holds; no module-level singletons."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from aiohttp import web

from feeds.config import Settings
from feeds.harvest import Harvester
from feeds.model import Network
from feeds.store import Store
from feeds.web.caching import BytesMemo, RenderCache, Revision
from feeds.web.guard import TokenGuard
from feeds.web.hot import HotResponses

settings_key = web.AppKey("settings", Settings)
network_key = web.AppKey("network", Network)
store_key = web.AppKey("store", Store)
revision_key = web.AppKey("revision", Revision)
cache_key = web.AppKey("cache", RenderCache)
hot_key = web.AppKey("hot", HotResponses)  # whole responses, for requests seen before
interval_key = web.AppKey("interval", timedelta)  # the shortest harvest interval
vevents_key = web.AppKey("vevents", BytesMemo)  # VEVENT bytes by item revision
harvester_key = web.AppKey("harvester", Harvester)
guard_key = web.AppKey("guard", TokenGuard)  # wrong admin tokens, per address


@dataclass(frozen=True, slots=True)
class Background:
    """What runs beside serving: harvesting, or (a worker harvests) following the revision."""

    task: asyncio.Task[None]
    harvesting: bool


background_key = web.AppKey("background", Background)
