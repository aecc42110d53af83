"""Shared fixtures: real SQLite files, the real app on a real port, a copy of the demo."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from feeds.config import Config, Settings, load_config

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture
def demo_dir(tmp_path: Path) -> Path:
    """A private copy of the shipped demo config and files, safe to edit."""
    target = tmp_path / "demo-network"
    target.mkdir()
    shutil.copy(ROOT / "sites.toml", target / "sites.toml")
    shutil.copytree(ROOT / "demo", target / "demo")
    return target


@pytest.fixture
def demo_config(demo_dir: Path) -> Config:
    return load_config(demo_dir / "sites.toml")


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'feeds.sqlite3'}"


@pytest.fixture
def settings(demo_dir: Path, database_url: str) -> Settings:
    return Settings(config_path=demo_dir / "sites.toml", database_url=database_url)


Serve = Callable[[web.Application], Awaitable[str]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Start an app on 127.0.0.1, a free port; returns its base URL. Stops them all after."""
    runners: list[web.AppRunner] = []

    async def start(app: web.Application) -> str:
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = runner.addresses[0][1]
        return f"http://127.0.0.1:{port}"

    yield start
    for runner in reversed(runners):
        await runner.cleanup()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    # auto_decompress off so tests see exactly the bytes and headers on the wire.
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        yield session
