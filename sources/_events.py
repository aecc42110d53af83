"""Helpers for adapters that read events."""

from __future__ import annotations

import re

from feeds.model import EventStatus

# Volunteers mark a cancelled event by its title ("ABGESAGT: Rock Rising", "Abgesagt – …")
# where their tool has no status field, as The Events Calendar's REST API has none.
_CANCELLED = re.compile(
    r"^\s*[\[(]?\s*(abgesagt|entfällt|fällt aus|cancell?ed|canceled)\s*[\])]?\s*[:!–—-]*\s*",
    re.IGNORECASE,
)


def status_from_title(title: str) -> tuple[str, EventStatus]:
    """The title without a cancellation mark, and the status that mark means."""
    match = _CANCELLED.match(title)
    if match and match.end() < len(title):
        return title[match.end() :].strip(), EventStatus.CANCELLED
    return title, EventStatus.CONFIRMED
