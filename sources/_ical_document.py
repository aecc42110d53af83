"""An iCalendar document read as far as it can be: its VEVENTs, and what was wrong with it.

icalendar refuses a whole document for one bad value in one component (a VALARM's
"PT-2H", a VTIMEZONE without TZID or with two, an offset of "+5328"), and raises more
than ValueError when it does. Then each top-level component is given to icalendar on its
own: a broken VTIMEZONE is left out (its TZID is then read by name), a broken VEVENT is
skipped and named, alarms (never republished) are dropped, and everything else is read.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

import icalendar
import x_wr_timezone

from sources.base import SourceError, what_came

CRLF = "\r\n"
_forget_zones: Any = icalendar.use_zoneinfo  # untyped in icalendar 7
_BEGIN_VEVENT = re.compile(r"^BEGIN:VEVENT[ \t]*\r?$", re.M | re.I)
_END_VEVENT = re.compile(r"^END:VEVENT[ \t]*\r?$", re.M | re.I)
_END_CALENDAR = re.compile(r"END:VCALENDAR\s*$", re.I)
# A line that is neither a content line ("NAME;PARAM=…:value") nor folded onto one.
_STRAY = re.compile(r"^(?![ \t]|[A-Za-z0-9_.-]+[;:])[^\r\n]*\S[^\r\n]*\r?$", re.M)
STRAYS_NAMED = 3
# Components this service reads; the rest (VTODO, VJOURNAL, VFREEBUSY, …) are left alone.
_READ = {"VEVENT", "VTIMEZONE"}


@dataclass(frozen=True, slots=True)
class ReadCalendar:
    vevents: list[tuple[Any, int | None]]  # each VEVENT and the line it starts on
    skipped: list[str]  # VEVENTs icalendar could not read at all
    warnings: list[str]
    whole: bool = True  # False when the document was cut off: events may be missing


def read_calendar(body: bytes, url: str) -> ReadCalendar:
    """The VEVENTs of a document; SourceError only when it is no iCalendar document."""
    warnings: list[str] = []
    skipped: list[str] = []
    # icalendar keeps each VTIMEZONE it meets by TZID for the whole process, and the first
    # one wins: Exchange names every custom zone "Customized Time Zone", so one group's
    # zone would place another's times. Choosing the provider again (public API) empties
    # that cache; a worker parses one document at a time.
    _forget_zones()
    text = _decode(body, warnings).lstrip("\ufeff \t\r\n")
    start = text[:15].upper()
    if start.startswith("BEGIN:VEVENT"):
        warnings.append("the events are not inside BEGIN:VCALENDAR … END:VCALENDAR; read anyway")
        text = f"BEGIN:VCALENDAR{CRLF}VERSION:2.0{CRLF}{text.rstrip()}{CRLF}END:VCALENDAR{CRLF}"
    elif not start.startswith("BEGIN:VCALENDAR"):
        raise SourceError(
            f"{url}: not an iCalendar file (no BEGIN:VCALENDAR); it is"
            f" {what_came(text.encode(), url)}"
        )
    _stray_lines(text, warnings)
    before = len(warnings)
    text = _complete(text, warnings)
    whole = len(warnings) == before
    try:
        calendars = icalendar.Calendar.from_ical(text, multiple=True)
    except Exception as exc:
        calendars = _salvage(text, skipped, warnings, _reason(exc))
    vevents = [event for calendar in calendars for event in _standard(calendar, warnings)]
    lines = _line_numbers(text)
    numbers: list[int | None] = list(lines) if len(lines) == len(vevents) else [None] * len(vevents)
    return ReadCalendar(list(zip(vevents, numbers, strict=True)), skipped, warnings, whole)


def _line_numbers(text: str) -> list[int]:
    """The line each BEGIN:VEVENT is on, counted in one pass (counting from the start for
    each event took 944 s for a calendar of 250,000 events)."""
    numbers, line, counted = [], 1, 0
    for match in _BEGIN_VEVENT.finditer(text):
        line += text.count("\n", counted, match.start())
        counted = match.start()
        numbers.append(line)
    return numbers


def _decode(body: bytes, warnings: list[str]) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        # RFC 5545 says UTF-8; older Outlook and PHP exports send Windows-1252.
        warnings.append(f"the calendar is not UTF-8 ({exc.reason} at byte {exc.start}); read as")
        warnings[-1] += " Windows-1252"
        return body.decode("cp1252", "replace")


def _stray_lines(text: str, warnings: list[str]) -> None:
    """Lines that are no iCalendar at all (a PHP notice, a hand-edit) are left out by the
    parser without a word; the warning says where, so the group can mend its export."""
    strays = list(islice(_STRAY.finditer(text), STRAYS_NAMED + 1))
    if not strays:
        return
    named, counted, line = [], 0, 1
    for match in strays[:STRAYS_NAMED]:
        line += text.count("\n", counted, match.start())
        counted = match.start()
        named.append(f"line {line} ({match[0].strip()[:40]!r})")
    more = " and more" if len(strays) > STRAYS_NAMED else ""
    warnings.append(f"not iCalendar, left out: {', '.join(named)}{more}")


def _complete(text: str, warnings: list[str]) -> str:
    """A calendar cut off in transfer keeps its complete events; the partial one goes."""
    if _END_CALENDAR.search(text[-200:]):
        return text
    ends = list(_END_VEVENT.finditer(text))
    kept = text[: ends[-1].end()] if ends else text.split("BEGIN:VEVENT", 1)[0].rstrip()
    warnings.append(
        f"the calendar breaks off before END:VCALENDAR; read its {len(ends)} complete"
        " events, the one cut off is left out"
    )
    return f"{kept.rstrip()}{CRLF}END:VCALENDAR{CRLF}"


def _standard(calendar: Any, warnings: list[str]) -> list[Any]:
    """Google's X-WR-TIMEZONE calendars turned into standard ones, where that works."""
    if calendar.name == "VEVENT":
        return [calendar]
    try:
        calendar = x_wr_timezone.to_standard(calendar)
    except Exception as exc:
        warnings.append(f"X-WR-TIMEZONE could not be applied ({_reason(exc)}); times read as given")
    events: list[Any] = calendar.walk("VEVENT")
    return events


@dataclass
class _Block:
    name: str
    line: int
    lines: list[str]

    def text(self) -> str:
        return CRLF.join(self.lines)

    def property(self, name: str) -> str | None:
        for line in self.lines[1:]:
            key = re.split(r"[;:]", line, maxsplit=1)[0].upper()
            if key == name:
                return line.split(":", 1)[-1].strip()
        return None


def _salvage(text: str, skipped: list[str], warnings: list[str], reason: str) -> list[Any]:
    """Each component given to icalendar on its own; what it refuses is left out and named."""
    header, blocks = _blocks(text)
    header = [line for line in header if _parses(_wrap([line]))]
    zones = []
    for block in (b for b in blocks if b.name == "VTIMEZONE"):
        if _parses(_wrap([*header, block.text()])):
            zones.append(block.text())
        else:
            error = _error(_wrap([*header, block.text()]))
            warnings.append(
                f"VTIMEZONE {block.property('TZID')!r} (line {block.line}) is unreadable"
                f" ({error}); left out, its TZID is read by name"
            )
    events = []
    for block in (b for b in blocks if b.name == "VEVENT"):
        document = _wrap([*header, *zones, block.text()])
        if _parses(document):
            events.append(block.text())
        else:
            summary = block.property("SUMMARY") or block.property("UID") or "without title"
            skipped.append(
                f"VEVENT {summary[:60]!r} (line {block.line}): unreadable ({_error(document)})"
            )
    if not header and not zones and not events and blocks:
        raise SourceError(f"invalid iCalendar data: {reason}")
    calendars: list[Any] = icalendar.Calendar.from_ical(
        _wrap([*header, *zones, *events]), multiple=True
    )
    return calendars


def _blocks(text: str) -> tuple[list[str], list[_Block]]:
    """Calendar properties, and each top-level component read (alarms left out)."""
    header: list[str] = []
    blocks: list[_Block] = []
    stack: list[str] = []
    current: _Block | None = None
    skipping = 0  # depth inside a subcomponent that is left out (VALARM)
    for number, line in _logical_lines(text):
        upper = line.upper()
        if upper.startswith("BEGIN:"):
            name = upper[6:].strip()
            stack.append(name)
            if len(stack) == 2 and name in _READ:
                current = _Block(name, number, [line])
            elif current is not None and (skipping or name == "VALARM"):
                skipping += 1
            elif current is not None:
                current.lines.append(line)
            continue
        if upper.startswith("END:") and stack:
            stack.pop()
            if skipping:
                skipping -= 1
            elif current is not None:
                current.lines.append(line)
                if len(stack) == 1:
                    blocks.append(current)
                    current = None
            continue
        if skipping:
            continue
        if current is not None:
            current.lines.append(line)
        elif len(stack) == 1 and line.strip() and upper.split(":")[0] not in ("VERSION",):
            header.append(line)
    return header, blocks


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Unfolded content lines (RFC 5545 3.1) with the number of the line each starts on."""
    number, current = 0, None
    for index, raw in enumerate(text.splitlines(), 1):
        if raw[:1] in (" ", "\t") and current is not None:
            current += raw[1:]
            continue
        if current is not None:
            yield number, current
        number, current = index, raw
    if current is not None:
        yield number, current


def _wrap(parts: list[str]) -> str:
    body = CRLF.join(part for part in parts if part)
    return f"BEGIN:VCALENDAR{CRLF}VERSION:2.0{CRLF}{body}{CRLF}END:VCALENDAR{CRLF}"


def _parses(document: str) -> bool:
    return _error(document) is None


def _error(document: str) -> str | None:
    try:
        icalendar.Calendar.from_ical(document, multiple=True)
    except Exception as exc:
        return _reason(exc)
    return None


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
    return text or type(exc).__name__
