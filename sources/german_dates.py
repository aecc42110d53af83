"""German dates and date ranges as websites write them, read with dateutil.

"8. März 2025 - 20:00 Uhr bis 23:59 Uhr", "Sa., 8.3.2025, 20 Uhr", "8.–9. März 2025",
"20. Februar 2025". dateutil does the reading, with German month and weekday names;
this module only splits a range into its ends and says which end inherits what.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

from dateutil import parser


class GermanParserInfo(parser.parserinfo):
    # dateutil takes any number of spellings per month; its stubs allow only 2 or 3.
    MONTHS = cast(
        Any,
        [
            # English too: The Events Calendar's default templates write "March 8 @ 8:00 pm".
            ("Jan", "Januar", "Jän", "Jänner", "January"),
            ("Feb", "Februar", "February"),
            ("Mär", "März", "Mrz", "Maerz", "Mar", "March"),
            ("Apr", "April"),
            ("Mai", "May"),
            ("Jun", "Juni", "June"),
            ("Jul", "Juli", "July"),
            ("Aug", "August"),
            ("Sep", "Sept", "September"),
            ("Okt", "Oktober", "Oct", "October"),
            ("Nov", "November"),
            ("Dez", "Dezember", "Dec", "December"),
        ],
    )
    WEEKDAYS = cast(
        Any,
        [
            ("Mo", "Montag"),
            ("Di", "Dienstag"),
            ("Mi", "Mittwoch"),
            ("Do", "Donnerstag"),
            ("Fr", "Freitag"),
            ("Sa", "Samstag", "Sonnabend"),
            ("So", "Sonntag"),
        ],
    )
    JUMP = [*parser.parserinfo.JUMP, "um", "den", "ab", "von", "vom", "@"]  # noqa: RUF012

    def __init__(self) -> None:
        super().__init__(dayfirst=True)


GERMAN = GermanParserInfo()
_UHR = re.compile(r"\b(\d{1,2})(?:[:.](\d{2}))?\s*Uhr\b", re.IGNORECASE)
_SEPARATORS = re.compile(r"\s+bis\s+|\s*[–—]\s*|\s+-\s+|(?<=\.)-(?=\d)", re.IGNORECASE)
_TIME_ONLY = re.compile(r"^\d{1,2}(:\d{2})?\s*([ap]\.?m\.?)?$", re.IGNORECASE)
_HAS_TIME = re.compile(r"\b\d{1,2}:\d{2}\b|\b\d{1,2}\s*[ap]\.?m\b", re.IGNORECASE)
_HAS_YEAR = re.compile(r"\b\d{4}\b|\.\d{2}\b")
_HAS_MONTH = re.compile(r"[A-Za-zÄÖÜäöü]{3}|\d\.\d")


class DateError(ValueError):
    """Text that is no date this module can read."""


@dataclass(frozen=True, slots=True)
class Span:
    start: date | datetime  # a date means all day
    end: date | datetime | None


def parse_span(text: str, zone: ZoneInfo, *, today: date) -> Span:
    """A date or a range; times are local to `zone`; a missing year is this year's."""
    cleaned = _UHR.sub(lambda m: f"{int(m[1]):02d}:{m[2] or '00'}", " ".join(text.split()))
    parts = [p.strip(" ,") for p in _SEPARATORS.split(cleaned) if p.strip(" ,")]
    if not parts:
        raise DateError(f"no date in {text!r}")
    # A time standing alone belongs to the date before it ("8. März 2025 - 20:00").
    segments: list[str] = []
    for part in parts:
        if segments and _TIME_ONLY.match(part) and not _HAS_TIME.search(segments[-1]):
            segments[-1] = f"{segments[-1]} {part}"
        else:
            segments.append(part)
    if len(segments) > 2:
        raise DateError(f"more than a start and an end in {text!r}")
    timed = any(_HAS_TIME.search(s) for s in segments)
    # dateutil fills what the text leaves out from a naive default; the zone comes after.
    fallback = datetime(today.year, today.month, today.day)  # noqa: DTZ001
    last = _read(segments[-1], fallback, text)
    if len(segments) == 1:
        return Span(_localize(last, timed, zone), None)
    first_text = segments[0]
    # "8.–9. März 2025": the start takes month and year from the end.
    first = _read(first_text, last if not _HAS_YEAR.search(first_text) else fallback, text)
    if _TIME_ONLY.match(segments[1]):  # "20:00 bis 23:59": the end is on the start's day
        last = datetime.combine(first.date(), last.time())
    if not _HAS_MONTH.search(first_text) and not _HAS_TIME.search(first_text):
        first = first.replace(month=last.month, year=last.year)
    start, end = _localize(first, timed, zone), _localize(last, timed, zone)
    if end < start:
        raise DateError(f"the end comes before the start in {text!r}")
    return Span(start, end)


def _read(segment: str, default: datetime, whole: str) -> datetime:
    # "8.3." is day and month; dateutil reads it without the closing dot.
    if re.fullmatch(r"\d{1,2}\.\d{1,2}\.", segment):
        segment = segment[:-1]
    try:
        return parser.parse(segment, parserinfo=GERMAN, default=default, fuzzy=True)
    except (ValueError, OverflowError) as exc:
        raise DateError(f"cannot read {segment!r} in {whole!r} as a date") from exc


def _localize(value: datetime, timed: bool, zone: ZoneInfo) -> date | datetime:
    return value.replace(tzinfo=zone) if timed else value.date()
