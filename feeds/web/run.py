"""Running the service: one process serving (and harvesting), for `feeds serve` and for
each process of `feeds serve --workers N` (feeds/workers.py)."""

from __future__ import annotations

import logging
from pathlib import Path

from aiohttp import web

from feeds.config import Config, Settings
from feeds.web.app import create_app
from feeds.web.boundary import SERVER_LIMITS


def run_service(
    settings: Settings,
    config: Config,
    host: str | None,
    port: int | None,
    *,
    harvest: bool,
    access_log: bool,
    reuse_port: bool = False,
    config_path: Path | None = None,
) -> int:
    """Serve until SIGTERM or SIGINT (and harvest, with `harvest`); the exit status.
    Changes of `config_path` are followed while serving."""
    web.run_app(
        create_app(settings, config, harvest=harvest, freeze_heap=True, watch=config_path),
        host=host or settings.host,
        port=port or settings.port,
        access_log=logging.getLogger("aiohttp.access") if access_log else None,
        access_log_format='%a "%r" %s %b %Tfs',
        reuse_port=reuse_port,
        **SERVER_LIMITS,
    )
    return 0
