"""The operator's side: /status before and after a harvest, POST /admin/harvest, logs."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from feeds.config import Config, Settings
from feeds.harvest import Harvester
from feeds.store import open_store
from feeds.web.app import create_app
from feeds.web.guard import MAX_WAITING, TokenGuard
from tests.conftest import Serve
from tests.helpers import LOCAL, get

TOKEN = "s3cret-token-for-tests"


async def post(
    http: aiohttp.ClientSession, url: str, **headers: str
) -> tuple[int, dict[str, str], bytes]:
    async with http.post(url, headers=headers) as response:
        return response.status, dict(response.headers), await response.read()


@pytest.fixture
async def base(settings: Settings, demo_config: Config, serve: Serve) -> str:
    with_token = Settings(
        config_path=settings.config_path, database_url=settings.database_url, admin_token=TOKEN
    )
    return await serve(create_app(with_token, demo_config, harvest=False, revision_poll=0.01))


async def test_status_before_and_after_an_admin_harvest(
    base: str, http: aiohttp.ClientSession
) -> None:
    _, headers, body = await get(http, f"{base}/status.json")
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert headers["Cache-Control"] == "no-cache"
    report = json.loads(body)
    assert report["counts"] == {"ok": 0, "failing": 0, "gone": 0, "waiting": 2}
    _, _, page = await get(http, f"{base}/status")
    assert "noch nicht gelesen" in page.decode()

    status, _, body = await post(
        http, f"{base}/admin/harvest?site=kaiserslautern", Authorization=f"Bearer {TOKEN}"
    )
    assert status == 200
    assert json.loads(body) == [
        {
            "site": "kaiserslautern",
            "source": "demo",
            "status": "ok",
            "new": 7,
            "changed": 0,
            "error": None,
        }
    ]
    _, _, body = await get(http, f"{base}/status", Accept="application/json")
    rows = {row["site"]: row for row in json.loads(body)["sources"]}
    assert rows["kaiserslautern"]["health"] == "ok"
    assert rows["kaiserslautern"]["items"] == 7
    assert rows["kaiserslautern"]["upstream_items"] == 7
    assert rows["kaiserslautern"]["next_run"] is not None
    assert rows["musterstadt"]["health"] == "waiting"
    # The harvested items are served right away (the revision moved in this process).
    _, _, feed = await get(http, f"{base}/kaiserslautern/events.ics")
    assert b"SUMMARY:Rock Rising" in feed


async def test_admin_harvest_needs_the_token(base: str, http: aiohttp.ClientSession) -> None:
    status, headers, body = await post(http, f"{base}/admin/harvest")
    assert (status, headers["WWW-Authenticate"]) == (401, 'Bearer realm="admin"')
    status, _, _ = await post(http, f"{base}/admin/harvest", Authorization="Bearer wrong")
    assert status == 401
    status, _, body = await post(
        http, f"{base}/admin/harvest?site=atlantis", Authorization=f"Bearer {TOKEN}"
    )
    assert status == 404
    assert b"atlantis" in body
    async with http.get(f"{base}/admin/harvest") as response:
        assert response.status == 405


async def test_admin_harvest_is_off_without_a_token(
    settings: Settings, demo_config: Config, serve: Serve, http: aiohttp.ClientSession
) -> None:
    base = await serve(create_app(settings, demo_config, harvest=False))
    status, _, body = await post(http, f"{base}/admin/harvest", Authorization="Bearer anything")
    assert status == 403
    assert b"FEEDS_ADMIN_TOKEN" in body


async def test_each_harvest_logs_one_structured_line(
    settings: Settings, demo_config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    store = await open_store(settings.database_url)
    try:
        with caplog.at_level(logging.INFO, logger="feeds.harvest"):
            await Harvester(
                store, demo_config.network, demo_config.sources, outbound=LOCAL
            ).run_once()
    finally:
        await store.close()
    records = [r for r in caplog.records if hasattr(r, "harvest")]
    assert len(records) == 2
    fields = records[0].harvest
    assert {"site", "source", "status", "new", "seconds", "next_in"} <= set(fields)
    assert (
        "site='kaiserslautern'" in records[0].getMessage()
        or "site='musterstadt'" in records[0].getMessage()
    )


async def test_wrong_tokens_are_logged_and_slowed(
    base: str, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    """A guesser gets one try at a time, each after a doubling delay (it had 6,900 a
    second), and every wrong token is in the log."""
    began = time.perf_counter()
    with caplog.at_level(logging.WARNING, logger="feeds.web.guard"):
        answers = await asyncio.gather(
            *(
                post(http, f"{base}/admin/harvest", Authorization=f"Bearer guess{n}")
                for n in range(6)
            )
        )
    assert [status for status, _, _ in answers] == [401] * 6
    assert time.perf_counter() - began >= 0.1 + 0.2 + 0.4 + 0.8 + 1.6
    refused = [r for r in caplog.records if "admin token refused" in r.getMessage()]
    assert len(refused) == 6
    assert "guess" not in " ".join(r.getMessage() for r in refused)  # tokens are not logged
    # The operator who knows the token still gets in (after the delay).
    status, _, _ = await post(
        http, f"{base}/admin/harvest?site=atlantis", Authorization=f"Bearer {TOKEN}"
    )
    assert status == 404


async def test_tries_piling_up_from_one_address_are_turned_away() -> None:
    guard = TokenGuard(first_delay=0.05, max_delay=0.05)
    request = make_mocked_request("POST", "/admin/harvest")
    guard.failed("203.0.113.9", request)

    async def attempt() -> int:
        try:
            async with guard.turn("203.0.113.9"):
                return 401
        except web.HTTPTooManyRequests:
            return 429

    results = await asyncio.gather(*(attempt() for _ in range(MAX_WAITING + 4)))
    assert results.count(429) == 4
    assert guard.delay("198.51.100.1") == 0.0  # another address is not slowed
