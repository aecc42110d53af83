"""When a source that answers has gone still: its group published nothing for far longer
than it usually leaves between two items.

A source's rhythm is read from the dates of its newest items (a post's publication, an
event's start; feeds/store/activity.py): the usual gap is the median of the gaps between
the newest eleven, which one long summer break or one busy week does not move. A source
is still when its newest item is older than four usual gaps, but never before 30 days
(a group that posts daily may rest a month) and always after a year. With fewer than
three items there is no rhythm to go by, and 90 days of quiet count as still. A calendar
with an event still to come, or a series without end, is never still.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise

from feeds.store import Activity

TIMES_USUAL = 4
FLOOR = timedelta(days=30)
CEILING = timedelta(days=365)
WITHOUT_RHYTHM = timedelta(days=90)
FEWEST = 3  # items, for a usual gap


@dataclass(frozen=True, slots=True)
class Still:
    last: datetime  # the date of its newest item
    usual: timedelta | None  # its usual gap between items; None: too few to say
    quiet_for: timedelta


def stillness(activity: Activity, now: datetime) -> Still | None:
    if activity.ongoing or not activity.dates:
        return None
    dates = sorted(activity.dates, reverse=True)
    quiet = now - dates[0]
    usual = None
    limit = WITHOUT_RHYTHM
    if len(dates) >= FEWEST:
        gaps = [(newer - older).total_seconds() for newer, older in pairwise(dates)]
        usual = timedelta(seconds=statistics.median(gaps))
        limit = min(max(TIMES_USUAL * usual, FLOOR), CEILING)
    return Still(dates[0], usual, quiet) if quiet > limit else None
