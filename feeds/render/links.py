"""Addresses that put a calendar or an event into people's calendars in one tap.

None of these services documents its link format; what they accept is what calendar
links across the web use (collected in InteractionDesignFoundation/add-event-to-calendar-docs).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

GOOGLE_RENDER = "https://calendar.google.com/calendar/render"
OUTLOOK_SUBSCRIBE = "https://outlook.live.com/calendar/0/addfromweb"
OUTLOOK_COMPOSE = "https://outlook.live.com/calendar/0/deeplink/compose"
DESCRIPTION_CHARS = 1000  # links grow with the text; browsers and services cap URLs


def webcal(url: str) -> str:
    """The same address with the scheme that asks the device to subscribe, not download."""
    scheme, sep, rest = url.partition("://")
    return f"webcal://{rest}" if sep and scheme in ("http", "https") else url


@dataclass(frozen=True, slots=True, kw_only=True)
class CalendarLinks:
    """Every way to subscribe to one calendar."""

    https: str  # for programs that ask for an address
    webcal: str  # the device's own calendar (iOS, macOS, Outlook, Thunderbird)
    google: str
    outlook: str


def calendar_links(url: str, name: str) -> CalendarLinks:
    return CalendarLinks(
        https=url,
        webcal=webcal(url),
        # Google takes the subscription as `cid`; a webcal address is what it recognizes.
        google=f"{GOOGLE_RENDER}?cid={quote(webcal(url), safe='')}",
        outlook=f"{OUTLOOK_SUBSCRIBE}?{urlencode({'url': url, 'name': name})}",
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class EventLinks:
    ics: str
    google: str
    outlook: str


def event_links(
    *,
    ics: str,
    title: str,
    start: datetime,
    end: datetime,
    all_day: bool,
    zone_name: str,
    place: str | None,
    details: str | None,
) -> EventLinks:
    """ "Add to calendar" for one occurrence; all-day ends are exclusive instants, as stored."""
    details = (details or "")[:DESCRIPTION_CHARS]
    if all_day:
        first = _local_day(start, zone_name)
        after = _local_day(end, zone_name)
        after = max(after, first + timedelta(days=1))
        google_dates = f"{first:%Y%m%d}/{after:%Y%m%d}"
        outlook_times = {
            "startdt": first.isoformat(),
            "enddt": after.isoformat(),
            "allday": "true",
        }
    else:
        google_dates = f"{_utc(start)}/{_utc(end)}"
        outlook_times = {
            "startdt": start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "enddt": end.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "allday": "false",
        }
    google = {"action": "TEMPLATE", "text": title, "dates": google_dates, "ctz": zone_name}
    outlook = {
        "path": "/calendar/action/compose",
        "rru": "addevent",
        "subject": title,
        **outlook_times,
    }
    if details:
        google["details"] = details
        outlook["body"] = details
    if place:
        google["location"] = place
        outlook["location"] = place
    return EventLinks(
        ics=ics,
        google=f"{GOOGLE_RENDER}?{urlencode(google)}",
        outlook=f"{OUTLOOK_COMPOSE}?{urlencode(outlook)}",
    )


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _local_day(value: datetime, zone_name: str) -> date:
    return value.astimezone(ZoneInfo(zone_name)).date()
