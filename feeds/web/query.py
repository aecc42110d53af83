"""Query parameters parsed strictly: a bad value is a 400 that names it and says what fits."""

from __future__ import annotations

from datetime import date

from multidict import MultiMapping

from feeds.filters import MAX_LIMIT, Filters

KNOWN = ("category", "region", "from", "to", "limit", "q")
MAX_TEXT = 200


class QueryError(ValueError):
    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"query parameter {parameter!r}: {message}")
        self.parameter = parameter


def parse_filters(query: MultiMapping[str]) -> Filters:
    """Unknown parameters are ignored: readers add cache-busters such as `?_=1700000000`."""
    for name in ("from", "to", "limit", "q"):
        if len(query.getall(name, [])) > 1:
            raise QueryError(name, "given more than once; give it once")
    start = _date(query, "from")
    end = _date(query, "to")
    if start and end and end < start:
        raise QueryError("to", f"{end.isoformat()} is before from={start.isoformat()}")
    return Filters(
        categories=_words(query, "category"),
        regions=_words(query, "region"),
        start=start,
        end=end,
        limit=_limit(query),
        text=_text(query),
    )


def _date(query: MultiMapping[str], name: str) -> date | None:
    value = query.get(name)
    if value is None:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise QueryError(
            name, f"expected a date as YYYY-MM-DD, such as 2025-03-08; got {value!r}"
        ) from None


def _limit(query: MultiMapping[str]) -> int | None:
    value = query.get("limit")
    if value is None:
        return None
    if not value.strip().isdigit() or not 1 <= int(value) <= MAX_LIMIT:
        raise QueryError("limit", f"expected a whole number from 1 to {MAX_LIMIT}; got {value!r}")
    return int(value)


def _words(query: MultiMapping[str], name: str) -> tuple[str, ...]:
    values = []
    for value in query.getall(name, []):
        word = value.strip()
        if not word or len(word) > MAX_TEXT:
            raise QueryError(name, f"expected a name of 1 to {MAX_TEXT} characters; got {value!r}")
        values.append(word)
    return tuple(sorted(set(values)))


def _text(query: MultiMapping[str]) -> str | None:
    value = query.get("q")
    if value is None:
        return None
    text = value.strip()
    if not text or len(text) > MAX_TEXT:
        raise QueryError("q", f"expected 1 to {MAX_TEXT} characters to search for; got {value!r}")
    return text
