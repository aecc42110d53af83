"""Runs ical.js, the iCalendar parser Thunderbird uses, on our output (tests/js/ics_events.mjs)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

SCRIPT = Path(__file__).parent / "js" / "ics_events.mjs"
MODULE = Path(__file__).parent / "js" / "node_modules" / "ical.js" / "package.json"


def parse_with_icaljs(body: bytes, occurrences: int = 0) -> dict[str, Any]:
    node = shutil.which("node")
    missing = "Node.js is not installed" if node is None else None
    if node and not MODULE.exists():
        missing = "ical.js is not installed (make test installs it with npm)"
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"{missing}; CI must check calendars with ical.js")
        pytest.skip(f"{missing}: calendars are not checked with ical.js here")
    assert node is not None
    result = subprocess.run(
        [node, str(SCRIPT), str(occurrences)],
        input=body,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed
