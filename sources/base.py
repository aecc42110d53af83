"""The contract every source adapter keeps: fetch and normalize, never touch the store."""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, Self, TypeVar, runtime_checkable
from urllib.parse import urlsplit

import tomlkit
from aiohttp import ClientSession

from feeds.model import Coverage, Event, Post

# Records the store keeps too: they live in the model, and belong to the source contract.
from feeds.model import Notes as Notes
from feeds.model import Validators as Validators

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Fetched:
    posts: tuple[Post, ...] = ()
    events: tuple[Event, ...] = ()
    validators: Validators = field(default_factory=Validators)
    skipped: tuple[str, ...] = ()  # one line per bad item that was left out
    moved_to: str | None = None  # the new address, after a permanent redirect
    warnings: tuple[str, ...] = ()  # one line per flaw read around
    # Set when the read holds every event of the source (from a date on): the events it
    # lacks are gone upstream (feeds/store/presence.py). None: a partial read.
    coverage: Coverage | None = None

    @property
    def notes(self) -> Notes:
        return Notes(self.skipped, self.warnings)


@dataclass(frozen=True, slots=True)
class NotModified:
    validators: Validators  # a 304 may carry a newer Last-Modified
    moved_to: str | None = None


class SourceError(Exception):
    """The source is broken; the message says what a human should check."""

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class OptionError(ValueError):
    """A source option in the configuration is missing or wrong."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceContext:
    """What an adapter knows of where it sits: the site, its zone, the config's folder."""

    site: str
    source: str
    timezone: str
    homepage: str | None
    config_dir: Path


class Source(Protocol):
    kind: ClassVar[str]

    @classmethod
    def from_config(cls, context: SourceContext, options: Mapping[str, Any]) -> Self: ...

    async def fetch(
        self, session: ClientSession, validators: Validators
    ) -> Fetched | NotModified: ...


@runtime_checkable
class LocalImages(Protocol):
    """A source that holds some of its items' images itself (the files adapter's folder):
    the harvester reads those from there instead of asking a server."""

    def local_image(self, url: str) -> Path | None:
        """The file holding the image of this address, if the source has it."""
        ...


def option_str(options: Mapping[str, Any], key: str, *, default: str | None = None) -> str:
    value = options.get(key, default)
    if value is None:
        raise OptionError(key, "is required (a string)")
    if not isinstance(value, str) or not value.strip():
        raise OptionError(key, f"must be a non-empty string, got {value!r}")
    return value


def reject_unknown(options: Mapping[str, Any], known: set[str]) -> None:
    unknown = sorted(set(options) - known)
    if unknown:
        raise OptionError(
            unknown[0], f"is not an option of this kind (known: {', '.join(sorted(known))})"
        )


def option_url(options: Mapping[str, Any], key: str) -> str:
    value = option_str(options, key).strip()
    if not value.startswith(("http://", "https://")):
        raise OptionError(key, f"expected an http:// or https:// address, got {value!r}")
    return value


def option_int(options: Mapping[str, Any], key: str, *, default: int, low: int, high: int) -> int:
    value = options.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise OptionError(key, f"expected a whole number from {low} to {high}, got {value!r}")
    return value


def source_kind(source: Source) -> str:
    return getattr(source, "kind", type(source).__name__)


def host_of(source: Source) -> str | None:
    """The host a source fetches from (its `url`, or its options' `api`), if it has one."""
    address = getattr(source, "url", None) or getattr(getattr(source, "options", None), "api", None)
    return urlsplit(address).hostname if isinstance(address, str) else None


# What a bad item inside a good response can raise while being read; anything else is a bug.
ITEM_ERRORS: tuple[type[Exception], ...] = (KeyError, TypeError, ValueError, AttributeError)


def read_each(
    raws: Iterable[R],
    build: Callable[[R], T],
    label: Callable[[R], str],
    context: SourceContext,
) -> tuple[list[T], list[str]]:
    """Build an item from each raw one; a bad one is logged and reported, not fatal."""
    items: list[T] = []
    skipped: list[str] = []
    for raw in raws:
        try:
            items.append(build(raw))
        except ITEM_ERRORS as exc:
            message = f"{_safe_label(label, raw)}: {describe(exc)}"
            log.warning("%s/%s: skipped %s", context.site, context.source, message)
            skipped.append(message)
        except Exception as exc:  # a bug met on this item: it costs the item, not the document
            message = f"{_safe_label(label, raw)}: could not be read ({type(exc).__name__}: {exc})"
            log.exception("%s/%s: skipped %s", context.site, context.source, message)
            skipped.append(message)
    return items, skipped


def _safe_label(label: Callable[[R], str], raw: R) -> str:
    try:
        return label(raw)
    except Exception:
        return "an item"


def require_some(items: Sequence[object], skipped: Sequence[str], url: str, what: str) -> None:
    """A source fails only when every item failed: then it says why the first one did."""
    if skipped and not items:
        raise SourceError(f"{url}: no {what} could be read: {skipped[0]}")


def describe(exc: Exception) -> str:
    """An item error in words: a KeyError says which key was missing."""
    if isinstance(exc, KeyError) and exc.args:
        return f"missing {exc.args[0]!r}" if isinstance(exc.args[0], str) else str(exc.args[0])
    return str(exc)


# What one source may deliver in one read. A group's calendar holds hundreds of events and
# its feed tens of entries; past these a document is a mistake or an attack, and reading it
# would cost minutes of a core (a 20 MB calendar of 250,000 events) for nothing anyone reads.
MAX_EVENTS = 50_000
MAX_ENTRIES = 10_000


def refuse_over(count: int, limit: int, what: str, url: str) -> None:
    """A SourceError in words when a document holds more than a source may deliver."""
    if count > limit:
        raise SourceError(
            f"{url}: {count:,} {what}: more than the {limit:,} one source may deliver; refused"
            " unread, its earlier items are kept"
        )


def toml_string(value: str) -> str:
    """`value` as a TOML string, written by a TOML library: UTF-8 as it is (umlauts and
    emoji as text, never a surrogate pair, which TOML refuses), escapes where TOML wants
    them."""
    text: str = tomlkit.string(value).as_string()
    return text


def load_json(body: bytes, url: str) -> Any:
    """Decoded JSON, or a SourceError that says what came instead."""
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        came = what_came(body, url)
        if came == "JSON":
            raise SourceError(f"{url}: the JSON is broken or cut off ({exc})") from exc
        raise SourceError(f"{url}: expected JSON, got {came} ({exc})") from exc
    except RecursionError:
        raise SourceError(
            f"{url}: the JSON is nested deeper than any feed or API answer: refused"
        ) from None


def what_came(body: bytes, url: str) -> str:
    """What a document that is not what was asked for looks like, in words.

    Never its bytes: /status is public, and an upstream could have been led to answer with
    something that is not for the public. The start goes to the log, for the operator.
    """
    log.warning("%s: unexpected answer, it starts %r", url, body[:60])
    head = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:512].lower()
    if not head:
        return "nothing but white space"
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head:
        return "an HTML page"
    if head.startswith(b"<"):
        return "other XML or markup"
    if head.startswith((b"{", b"[")):
        return "JSON"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in head:
        return "binary data (or text in UTF-16)"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return "binary data"
    return "plain text"


def wordpress_api(options: Mapping[str, Any]) -> str:
    """The REST root of a WordPress site: `api` as given, or `url` + /wp-json/."""
    api = (
        option_url(options, "api")
        if "api" in options
        else option_url(options, "url").rstrip("/") + "/wp-json/"
    )
    return api if api.endswith("/") else api + "/"


def later_page_failed(number: int, exc: SourceError) -> str:
    """The warning for a failed later page: pages shift while a harvest reads them (a post
    published, an event deleted), and the pages read before stay good."""
    return f"page {number} could not be read ({exc}); kept the pages before it"


def finite_geo(latitude: Any, longitude: Any) -> tuple[float, float] | None:
    """A position, if both numbers are finite and on the globe."""
    try:
        lat, lon = float(latitude), float(longitude)
    except (TypeError, ValueError):
        return None
    if not (math.isfinite(lat) and math.isfinite(lon)):
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return lat, lon


def digest(*parts: str, length: int = 32) -> str:
    """A stable id from an item's own text, for upstreams that give it none."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:length]
