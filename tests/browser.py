"""Debian's Chromium, driven by Playwright for Python (no browser download)."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator

import pytest

CANDIDATES = ("chromium", "chromium-browser")


def chromium_path() -> str:
    """The browser's path; a visible skip where it is missing, a failure under CI."""
    path = os.environ.get("FEEDS_CHROMIUM") or next(
        (found for name in CANDIDATES if (found := shutil.which(name))), None
    )
    if path is None:
        message = "Chromium is not installed (make test installs Debian's package as root)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI must run the browser tests")
        pytest.skip(f"{message}: browser tests skipped")
    return path


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    path = chromium_path()
    async with async_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        launched = await playwright.chromium.launch(executable_path=path, args=["--no-sandbox"])
        yield launched
        await launched.close()
