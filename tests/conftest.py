"""Shared fixtures: real SQLite files, the real app on a real port, a copy of the demo."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from aiosmtpd.controller import Controller

from feeds.config import Config, Settings, load_config
from feeds.model import Event, Network, Post, Site
from feeds.store import Store, open_store
from feeds.web.app import create_app
from feeds.web.boundary import SERVER_LIMITS
from sources.base import Validators
from tests.helpers import LOCAL
from tests.smtp import Inbox

pytest_plugins = ["tests.upstream", "tests.browser"]

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


@asynccontextmanager
async def fresh_postgres_schema() -> AsyncIterator[str]:
    """A fresh schema on the real PostgreSQL server named by FEEDS_TEST_DATABASE_URL.

    Without that variable the test is skipped and says why; CI sets it, so there it runs.
    """
    server = os.environ.get("FEEDS_TEST_DATABASE_URL")
    if not server:
        if os.environ.get("CI"):
            pytest.fail("CI must run the PostgreSQL tests: .ci/run sets FEEDS_TEST_DATABASE_URL")
        pytest.skip("PostgreSQL tests need FEEDS_TEST_DATABASE_URL=postgresql://user@host/db")
    schema = f"feeds_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(server)
    try:
        await admin.execute(f"CREATE SCHEMA {schema}")
    finally:
        await admin.close()
    joiner = "&" if "?" in server else "?"
    # asyncpg passes unknown URL parameters on as server settings: search_path here.
    yield f"{server}{joiner}search_path={schema}"
    admin = await asyncpg.connect(server)
    try:
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
    finally:
        await admin.close()


@pytest.fixture(params=["sqlite", "postgres"])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """Every store test runs on both backends, on real databases."""
    if request.param == "postgres":
        async with fresh_postgres_schema() as url:
            yield url
    else:
        yield f"sqlite:///{tmp_path / 'store.sqlite3'}"


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    async with fresh_postgres_schema() as url:
        yield url


@pytest.fixture
def settings(demo_dir: Path, database_url: str) -> Settings:
    return Settings(config_path=demo_dir / "sites.toml", database_url=database_url)


Serve = Callable[[web.Application], Awaitable[str]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Start an app on 127.0.0.1, a free port; returns its base URL. Stops them all after."""
    runners: list[web.AppRunner] = []

    async def start(app: web.Application) -> str:
        runner = web.AppRunner(app, **SERVER_LIMITS)
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


SITES = (
    Site(
        slug="kaiserslautern",
        name="Engagierte Stadt Kaiserslautern",
        region="Rheinland-Pfalz",
        homepage="https://www.engagiertestadt.de/kaiserslautern",
    ),
    Site(slug="musterstadt", name="Engagierte Stadt Musterstadt", region="Nordrhein-Westfalen"),
)


@dataclass
class Service:
    """The real app over a real SQLite file, with a second connection to put items in."""

    base: str
    store: Store
    http: aiohttp.ClientSession

    async def save(
        self, site: str, posts: tuple[Post, ...] = (), events: tuple[Event, ...] = ()
    ) -> None:
        await self.store.save_batch(site, "test", posts, events, Validators(), datetime.now(UTC))
        await self.settle()

    async def settle(self) -> None:
        """Wait until the app has seen the store's newest revision."""
        wanted = await self.store.revision()
        for _ in range(500):
            async with self.http.get(f"{self.base}/healthz") as response:
                if (await response.json())["revision"] >= wanted:
                    return
            await asyncio.sleep(0.01)
        raise AssertionError("the app did not see the new revision")


@pytest.fixture
async def service(
    database_url: str, serve: Serve, http: aiohttp.ClientSession
) -> AsyncIterator[Service]:
    store = await open_store(database_url)
    config = Config(Network(name="Engagierte Stadt", sites=SITES), {})
    app = create_app(
        Settings(database_url=database_url, outbound=LOCAL),
        config,
        harvest=False,
        revision_poll=0.01,
    )
    yield Service(await serve(app), store, http)
    await store.close()


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    received = Inbox()
    port = _free_port()
    controller = Controller(received, hostname="127.0.0.1", port=port)
    controller.start()
    yield received, port
    controller.stop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
