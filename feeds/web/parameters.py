"""Query parameters parsed strictly: a bad value is a 400 that names it and says what fits."""

from __future__ import annotations

import re
from datetime import date

from multidict import MultiMapping

from feeds.filters import MAX_LIMIT, Filters

KNOWN = ("category", "region", "site", "from", "to", "limit", "q", "near", "radius")
MAX_RADIUS_KM = 1000
MAX_TEXT = 200
# Calendars hold what a group plans or did; years outside this are typos, and the edges of
# Python's dates (year 1, 9999) overflow as soon as a day is added.
FIRST_YEAR, LAST_YEAR = 1900, 2100
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_WHOLE_NUMBER = re.compile(r"[0-9]{1,7}")  # ASCII digits only: "²".isdigit() is True
# No name or text we keep has control characters (the adapters drop them), and databases
# treat some as the end of a string (FTS5) or refuse them (PostgreSQL: NUL).
_CONTROL = re.compile("[\x00-\x1f\x7f]")


def excerpt(value: str, length: int = 40) -> str:
    """A value as echoed in an error: quoted, and short, however long it came."""
    shown = value if len(value) <= length else value[: length - 1] + "…"
    more = f" ({len(value)} characters)" if len(value) > length else ""
    return f"{shown!r}{more}"


class QueryError(ValueError):
    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"query parameter {parameter!r}: {message}")
        self.parameter = parameter


def parse_filters(query: MultiMapping[str]) -> Filters:
    """Unknown parameters are ignored: readers add cache-busters such as `?_=1700000000`."""
    for name in ("from", "to", "limit", "q", "near", "radius"):
        if len(query.getall(name, [])) > 1:
            raise QueryError(name, "given more than once; give it once")
    start = _date(query, "from")
    end = _date(query, "to")
    if start and end and end < start:
        raise QueryError("to", f"{end.isoformat()} is before from={start.isoformat()}")
    near = _near(query)
    radius = _radius(query)
    if radius is not None and near is None:
        raise QueryError("radius", "give near=latitude,longitude too, such as near=49.44,7.77")
    return Filters(
        categories=_words(query, "category"),
        regions=_words(query, "region"),
        start=start,
        end=end,
        limit=_limit(query),
        text=_text(query),
        sites=_words(query, "site"),
        near=near,
        radius_km=radius if radius is not None else Filters().radius_km,
    )


_DEGREES = re.compile(r"-?[0-9]{1,3}(?:\.[0-9]{1,10})?")


def _near(query: MultiMapping[str]) -> tuple[float, float] | None:
    value = query.get("near")
    if value is None:
        return None
    parts = [p.strip() for p in value.split(",")]
    wanted = (
        f"expected latitude,longitude in degrees, such as near=49.44,7.77; got {excerpt(value)}"
    )
    if len(parts) != 2 or not all(_DEGREES.fullmatch(p) for p in parts):
        raise QueryError("near", wanted)
    latitude, longitude = float(parts[0]), float(parts[1])
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise QueryError("near", wanted)
    return latitude, longitude


def _radius(query: MultiMapping[str]) -> float | None:
    value = query.get("radius")
    if value is None:
        return None
    text = value.strip()
    if not re.fullmatch(r"[0-9]{1,4}(?:\.[0-9]{1,3})?", text) or not (
        0 < float(text) <= MAX_RADIUS_KM
    ):
        raise QueryError(
            "radius",
            f"expected kilometres, more than 0 and at most {MAX_RADIUS_KM}, such as radius=30;"
            f" got {excerpt(value)}",
        )
    return float(text)


def _date(query: MultiMapping[str], name: str) -> date | None:
    value = query.get(name)
    if value is None:
        return None
    wanted = (
        f"expected a date as YYYY-MM-DD from {FIRST_YEAR} to {LAST_YEAR}, such as 2025-03-08;"
        f" got {excerpt(value)}"
    )
    if not _ISO_DATE.fullmatch(value.strip()):
        raise QueryError(name, wanted)
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise QueryError(name, wanted) from None
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise QueryError(name, wanted)
    return day


def _limit(query: MultiMapping[str]) -> int | None:
    value = query.get("limit")
    if value is None:
        return None
    if not _WHOLE_NUMBER.fullmatch(value.strip()) or not 1 <= int(value) <= MAX_LIMIT:
        raise QueryError(
            "limit", f"expected a whole number from 1 to {MAX_LIMIT}; got {excerpt(value)}"
        )
    return int(value)


def _words(query: MultiMapping[str], name: str) -> tuple[str, ...]:
    values = []
    for value in query.getall(name, []):
        word = value.strip()
        if not word or len(word) > MAX_TEXT or _CONTROL.search(word):
            raise QueryError(
                name,
                f"expected a name of 1 to {MAX_TEXT} characters, without control characters;"
                f" got {excerpt(value)}",
            )
        values.append(word)
    return tuple(sorted(set(values)))


def _text(query: MultiMapping[str]) -> str | None:
    value = query.get("q")
    if value is None:
        return None
    text = value.strip()
    if not text or len(text) > MAX_TEXT or _CONTROL.search(text):
        raise QueryError(
            "q",
            f"expected 1 to {MAX_TEXT} characters to search for, without control characters;"
            f" got {excerpt(value)}",
        )
    return text
