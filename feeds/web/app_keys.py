"""Typed keys for what the application holds; no module-level singletons. (What it keeps
of its answers is `answers_key`, in feeds/web/cache.py.)"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from aiohttp import web

from feeds.config import Settings
from feeds.harvest import Harvester
from feeds.model import Network
from feeds.store import Store
from feeds.web.guard import TokenGuard

settings_key = web.AppKey("settings", Settings)
network_key = web.AppKey("network", Network)
store_key = web.AppKey("store", Store)
interval_key = web.AppKey("interval", timedelta)  # the shortest harvest interval
harvester_key = web.AppKey("harvester", Harvester)
guard_key = web.AppKey("guard", TokenGuard)  # wrong admin tokens, per address


@dataclass(frozen=True, slots=True)
class Background:
    """What runs beside serving: harvesting, or (a worker harvests) following the revision."""

    task: asyncio.Task[None]
    harvesting: bool


background_key = web.AppKey("background", Background)
