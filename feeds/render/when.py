"""Dates and times as German readers expect them, via Babel's CLDR data."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time

LOCALE = "de_DE"
DAY = "EEE, d. MMMM y"


def describe(start: datetime, end: datetime, *, all_day: bool, zone: ZoneInfo) -> str:
    """'Sa., 8. März 2025, 20:00–23:59 Uhr'; all-day ends are exclusive instants."""
    if all_day:
        first = start.astimezone(zone).date()
        last = (end.astimezone(zone) - timedelta(seconds=1)).date()
        if last <= first:
            return _day(first)
        return f"{_day(first)} – {_day(last)}"
    local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    if local_end <= local_start:
        return f"{_day(local_start.date())}, {_time(local_start)} Uhr"
    if local_end.date() == local_start.date():
        return f"{_day(local_start.date())}, {_time(local_start)}–{_time(local_end)} Uhr"
    return (
        f"{_day(local_start.date())}, {_time(local_start)} Uhr – "
        f"{_day(local_end.date())}, {_time(local_end)} Uhr"
    )


def describe_day(value: datetime, zone: ZoneInfo) -> str:
    """'Sa., 8. März 2025': the local day of an instant."""
    return _day(value.astimezone(zone).date())


def _day(value: date) -> str:
    return format_date(value, DAY, locale=LOCALE)


def _time(value: datetime) -> str:
    return format_time(value, "HH:mm", locale=LOCALE)


def hours(start: datetime, end: datetime, *, all_day: bool, zone: ZoneInfo) -> str:
    """The time of day alone, where the day is said already: '20:00–23:59 Uhr'."""
    if all_day:
        return "ganztägig"
    local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    if local_end <= local_start:
        return f"{_time(local_start)} Uhr"
    if local_end.date() == local_start.date():
        return f"{_time(local_start)}–{_time(local_end)} Uhr"
    return f"{_time(local_start)} Uhr – {_day(local_end.date())}, {_time(local_end)} Uhr"
