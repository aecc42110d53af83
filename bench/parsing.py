"""The cost of reading a calendar, by size: linear, and bounded by what a source may deliver.

Per event at 5,000, 20,000 and 40,000 events (the first is the baseline: a line that
grows with size is quadratic somewhere), and how fast calendars past the 50,000-event
limit are refused unread.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from sources.base import MAX_EVENTS, SourceContext, SourceError
from sources.ical import parse_calendar
from tests.helpers import synthetic_calendar

CONTEXT = SourceContext(
    site="bench", source="ics", timezone="Europe/Berlin", homepage=None, config_dir=Path()
)


def measure() -> None:
    print("reading a calendar, per event (goal: flat from 5,000 to 40,000 events)")
    baseline = None
    for count in (5_000, 20_000, 40_000):
        body = synthetic_calendar(count)
        began = time.perf_counter()
        result = parse_calendar(body, CONTEXT, url="bench")
        seconds = time.perf_counter() - began
        per_event = seconds / len(result.events)
        baseline = baseline or per_event
        print(
            f"  {count:6,} events {len(body) / 1e6:5.1f} MB  {seconds:6.2f} s"
            f"  {per_event * 1e6:6.1f} µs/event  {per_event / baseline:4.2f}x"
        )
    for count in (80_000, 120_000):
        body = synthetic_calendar(count)
        began = time.perf_counter()
        with contextlib.suppress(SourceError):
            parse_calendar(body, CONTEXT, url="bench")
        print(
            f"  {count:6,} events {len(body) / 1e6:5.1f} MB  refused unread in"
            f" {(time.perf_counter() - began) * 1e3:.0f} ms (over the {MAX_EVENTS:,} limit)"
        )


if __name__ == "__main__":
    measure()
