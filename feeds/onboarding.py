"""Adding groups to the configuration: from what `feeds discover` found on a website, or
from an OPML list of groups' feeds. The file is written only if the whole configuration
still loads, so a mistake never leaves a half-written `sites.toml`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from feeds.config import ConfigError, load_config
from feeds.sanitize import safe_url
from sources.base import toml_string

_TRANSLITERATION = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})


@dataclass(frozen=True, slots=True)
class NewGroup:
    slug: str
    name: str
    region: str | None
    homepage: str | None
    sources_toml: str  # one or more [[sites.sources]] blocks

    def toml(self) -> str:
        lines = [
            "[[sites]]",
            f"slug = {toml_string(self.slug)}",
            f"name = {toml_string(self.name)}",
        ]
        if self.region:
            lines.append(f"region = {toml_string(self.region)}")
        if self.homepage:
            lines.append(f"homepage = {toml_string(self.homepage)}")
        return "\n".join(lines) + "\n\n" + self.sources_toml


def slug_of(name: str) -> str:
    """An address-safe short name: "Bad Homburg vor der Höhe" -> "bad-homburg-vor-der-hoehe"."""
    text = name.lower().translate(_TRANSLITERATION)
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:60] or "gruppe"


def append(path: Path, groups: list[NewGroup]) -> None:
    """Append the groups; raises ConfigError (and leaves the file as it was) when the
    result would not load."""
    before = path.read_text(encoding="utf-8") if path.exists() else ""
    tables = "\n".join(group.toml() for group in groups)
    candidate = path.with_name(path.name + ".new")
    candidate.write_text(before.rstrip("\n") + "\n\n" + tables, encoding="utf-8")
    try:
        load_config(candidate)
    except ConfigError:
        candidate.unlink()
        raise
    candidate.replace(path)


@dataclass(frozen=True, slots=True)
class Outline:
    title: str
    feed: str
    homepage: str | None
    folder: str | None  # the enclosing outline's text: often the region


def read_opml(body: bytes) -> Iterator[Outline]:
    """Every feed in an OPML file (outlines with an xmlUrl), with its folder."""
    if b"<!ENTITY" in body:
        # No list of feeds needs its own entities; "billion laughs" files use them to
        # explode, and libxml2 expands them in attribute values whatever it is told.
        raise ValueError("not an OPML file we read: it declares XML entities (<!ENTITY>)")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"not an OPML file ({exc})") from exc
    for outline in root.iter("outline"):
        feed = safe_url(outline.get("xmlUrl"))
        if feed is None:
            continue
        parent = outline.getparent()
        folder = parent.get("text") or parent.get("title") if parent.tag == "outline" else None
        title = (outline.get("title") or outline.get("text") or "").strip()
        yield Outline(title or feed, feed, safe_url(outline.get("htmlUrl")), folder or None)


def groups_from_opml(body: bytes, taken: set[str]) -> tuple[list[NewGroup], list[str]]:
    """A group with a `feed` source per feed in the list; slugs already taken are skipped
    and named."""
    groups, skipped = [], []
    for outline in read_opml(body):
        slug = slug_of(outline.title)
        if slug in taken:
            skipped.append(f"{outline.title} ({slug}): a group of that name exists")
            continue
        taken.add(slug)
        source = (
            f'[[sites.sources]]\nname = "feed"\nkind = "feed"\nurl = {toml_string(outline.feed)}\n'
        )
        groups.append(NewGroup(slug, outline.title, outline.folder, outline.homepage, source))
    return groups, skipped
