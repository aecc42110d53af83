"""A folder of Markdown or YAML files with front matter: for groups without a CMS, and the demo.

A file with `start` in its front matter is an event, any other a post. The Markdown body
becomes the post's content or the event's description. Times without a zone are local to
the site (or to the file's `timezone`). A date may be given relative to the day it is
read: `+3d 19:00` (in three days at 19:00), `-2d 09:30`, `+10d` (all day): the demo's
events are always to come, whenever it is started.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, Self
from urllib.parse import unquote, urljoin, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import frontmatter
import yaml
from aiohttp import ClientSession
from dateutil.parser import isoparse
from markdown_it import MarkdownIt

from feeds.model import Coverage, Event, EventStatus, Image, Location, ModelError, Post
from feeds.sanitize import plain_text, safe_url, sanitize_html
from sources.base import (
    Fetched,
    NotModified,
    OptionError,
    SourceContext,
    SourceError,
    Validators,
    option_str,
    reject_unknown,
)

log = logging.getLogger(__name__)

SUFFIXES = {".md", ".markdown", ".yaml", ".yml"}
_markdown = MarkdownIt("commonmark", {"html": True}).enable("table")


class ItemError(ValueError):
    """One file cannot become an item; the message names the key."""


@dataclass(frozen=True, slots=True)
class FilesOptions:
    path: Path
    base_url: str | None


@dataclass(frozen=True, slots=True)
class FilesSource:
    kind: ClassVar[str] = "files"
    context: SourceContext
    options: FilesOptions

    @classmethod
    def from_config(cls, context: SourceContext, options: Mapping[str, Any]) -> Self:
        reject_unknown(options, {"path", "base_url"})
        path = (context.config_dir / option_str(options, "path")).resolve()
        if not path.is_dir():
            raise OptionError("path", f"{path} is not a folder")
        base_url = options.get("base_url", context.homepage)
        return cls(context, FilesOptions(path=path, base_url=base_url))

    async def fetch(self, session: ClientSession, validators: Validators) -> Fetched | NotModified:
        return await asyncio.to_thread(self._read, validators)

    def _read(self, validators: Validators) -> Fetched | NotModified:
        if not self.options.path.is_dir():
            raise SourceError(f"{self.options.path}: the folder is missing")
        try:
            files = sorted(p for p in self.options.path.rglob("*") if p.suffix in SUFFIXES)
            fingerprint = _fingerprint(self.options.path, files)
        except OSError as exc:
            raise SourceError(f"{self.options.path}: cannot read the folder ({exc})") from exc
        # Relative dates move with the day: the folder is read again on a new one.
        today = datetime.now(ZoneInfo(self.context.timezone)).date()
        current = Validators(etag=f"{fingerprint}:{today.isoformat()}")
        if validators.etag == current.etag:
            return NotModified(current)
        posts: list[Post] = []
        events: list[Event] = []
        skipped: list[str] = []
        for file in files:
            name = file.relative_to(self.options.path).as_posix()
            try:
                item = self.parse_file(name, file.read_text(encoding="utf-8"))
            except (ItemError, ModelError, OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
                log.warning(
                    "%s/%s: skipped %s: %s", self.context.site, self.context.source, name, exc
                )
                skipped.append(f"{name}: {exc}")
                continue
            (events if isinstance(item, Event) else posts).append(item)  # type: ignore[arg-type]
        if files and not posts and not events:
            raise SourceError(f"{self.options.path}: no file could be read: {skipped[0]}")
        # The folder holds every event of the group: a file taken away is an event gone.
        coverage = None if skipped else Coverage()
        return Fetched(tuple(posts), tuple(events), current, tuple(skipped), coverage=coverage)

    def local_image(self, url: str) -> Path | None:
        """An image named relative to the folder (its address: `base_url` and the name),
        read from the folder: the demo's photos come without a network."""
        if not self.options.base_url:
            return None
        base = urljoin(self.options.base_url, ".")  # what relative names are resolved against
        if not url.startswith(base):
            return None
        name = unquote(urlsplit(url[len(base) :]).path)
        path = (self.options.path / name).resolve()
        if not path.is_relative_to(self.options.path) or not path.is_file():
            return None  # not in the folder (no '..' out of it): asked of the server
        return path

    def parse_file(self, name: str, text: str) -> Post | Event:
        """One file's text to an item; `name` (the path in the folder) is the default id."""
        if name.endswith((".yaml", ".yml")):
            meta = yaml.safe_load(text) or {}
            if not isinstance(meta, dict):
                raise ItemError("the file must hold a mapping of keys")
            body = str(meta.pop("body", "") or "")
        else:
            document = frontmatter.loads(text)
            meta, body = dict(document.metadata), document.content
        fields = _Fields(meta, self.context.timezone)
        html = sanitize_html(_markdown.render(body), base_url=self.options.base_url) or None
        common: dict[str, Any] = {
            "site": self.context.site,
            "source": self.context.source,
            "external_id": fields.text("id") or name.rsplit(".", 1)[0],
            "title": fields.required_text("title"),
            "url": safe_url(fields.text("url"), self.options.base_url),
            "categories": fields.texts("categories"),
            "image": self._image(fields.raw("image")),
        }
        if "start" in meta:
            return self._event(fields, common, html)
        return Post(
            **common,
            summary=fields.text("summary"),
            content_html=html,
            author=fields.text("author"),
            published=fields.moment("published"),
            updated=fields.moment("updated"),
        )

    def _event(self, fields: _Fields, common: dict[str, Any], html: str | None) -> Event:
        start = fields.when("start")
        assert start is not None
        status = fields.text("status") or EventStatus.CONFIRMED.value
        try:
            event_status = EventStatus(status.lower())
        except ValueError:
            raise ItemError(
                f"status: expected confirmed, tentative, postponed or cancelled, got {status!r}"
            ) from None
        return Event(
            **common,
            start=start,
            end=fields.when("end"),
            uid=fields.text("uid"),
            description=html,
            location=_location(fields.raw("location")),
            rrule=fields.text("rrule"),
            exdates=tuple(fields.whens("exdates")),
            status=event_status,
            organizer=fields.text("organizer"),
        )

    def _image(self, value: Any) -> Image | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = {"url": value}
        if not isinstance(value, dict) or not value.get("url"):
            raise ItemError("image: expected a URL or a mapping with url, alt, credit")
        url = safe_url(str(value["url"]), self.options.base_url)
        if url is None:
            raise ItemError("image: expected an http(s) URL, or a file name and `base_url`")
        return Image(url=url, alt=_opt_str(value.get("alt")), credit=_opt_str(value.get("credit")))


_RELATIVE = re.compile(r"([+-]\d{1,4})d(?:\s+(\d{1,2}):(\d{2}))?")


class _Fields:
    """Typed access to front matter, with errors that name the key."""

    def __init__(self, meta: dict[str, Any], default_zone: str) -> None:
        self.meta = meta
        zone_name = meta.get("timezone") or default_zone
        try:
            self.zone = ZoneInfo(str(zone_name))
        except (ZoneInfoNotFoundError, ValueError):
            raise ItemError(f"timezone: unknown zone {zone_name!r}") from None

    def raw(self, key: str) -> Any:
        return self.meta.get(key)

    def text(self, key: str) -> str | None:
        value = _opt_str(self.meta.get(key))
        return plain_text(value) or None if value is not None else None

    def required_text(self, key: str) -> str:
        value = self.text(key)
        if value is None:
            raise ItemError(f"{key}: is required")
        return value

    def texts(self, key: str) -> tuple[str, ...]:
        value = self.meta.get(key) or ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list | tuple):
            raise ItemError(f"{key}: expected a list of words")
        return tuple(plain_text(str(v)) for v in value if plain_text(str(v)))

    def when(self, key: str) -> datetime | date | None:
        return self._convert(key, self.meta.get(key))

    def whens(self, key: str) -> list[datetime | date]:
        values = self.meta.get(key) or []
        if not isinstance(values, list):
            values = [values]
        return [w for w in (self._convert(key, v) for v in values) if w is not None]

    def moment(self, key: str) -> datetime | None:
        value = self.when(key)
        if value is not None and not isinstance(value, datetime):
            return datetime(value.year, value.month, value.day, tzinfo=self.zone)
        return value

    def _convert(self, key: str, value: Any) -> datetime | date | None:
        if value is None or value == "":
            return None
        if isinstance(value, str) and (relative := _RELATIVE.fullmatch(value.strip())):
            day = datetime.now(self.zone).date() + timedelta(days=int(relative[1]))
            if relative[2] is None:
                return day
            hour, minute = int(relative[2]), int(relative[3])
            if hour > 23 or minute > 59:
                raise ItemError(f"{key}: no such time of day in {value!r}")
            return datetime(day.year, day.month, day.day, hour, minute, tzinfo=self.zone)
        if isinstance(value, str):
            text = value.strip()
            try:
                parsed = isoparse(text)
            except ValueError:
                raise ItemError(f"{key}: expected an ISO date or date-time, got {text!r}") from None
            # isoparse gives a datetime even for "2025-03-08": a bare date means all day.
            if len(text) == 10:
                return parsed.date()
            value = parsed
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=self.zone)
        if isinstance(value, date):
            return value
        raise ItemError(f"{key}: expected a date or date-time, got {value!r}")


def _location(value: Any) -> Location | None:
    if value is None:
        return None
    if isinstance(value, str):
        return Location(name=value)
    if not isinstance(value, dict):
        raise ItemError("location: expected a name or a mapping with name, address, geo")
    geo = value.get("geo")
    if geo is not None:
        if not (isinstance(geo, list) and len(geo) == 2):
            raise ItemError("location.geo: expected [latitude, longitude]")
        geo = (float(geo[0]), float(geo[1]))
    return Location(
        name=_opt_str(value.get("name")), address=_opt_str(value.get("address")), geo=geo
    )


def _opt_str(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _fingerprint(root: Path, files: list[Path]) -> str:
    digest = hashlib.sha256()
    for file in files:
        stat = file.stat()
        digest.update(f"{file.relative_to(root)}\0{stat.st_mtime_ns}\0{stat.st_size}\n".encode())
    return digest.hexdigest()


__all__ = ["FilesSource", "ItemError"]
