"""Adding groups to the configuration: from what `feeds discover` found on a website, or
from an OPML list of groups' feeds. The file is written only if the whole configuration
still loads, so a mistake never leaves a half-written `sites.toml`."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import tomlkit
from lxml import etree

from feeds.config import ConfigError, load_config
from feeds.model import DEFAULT_TIMEZONE, Network
from feeds.sanitize import safe_url
from feeds.store import SourceState
from feeds.urls import RESERVED_SLUGS
from sources.base import toml_string

_TRANSLITERATION = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})


@dataclass(frozen=True, slots=True)
class NewGroup:
    slug: str
    name: str
    region: str | None
    homepage: str | None
    sources_toml: str  # one or more [[sites.sources]] blocks
    feed: str = ""  # the address it came with (an OPML list's feed)
    contact: tuple[str, ...] = ()  # who is told when its website breaks

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
        if self.contact:
            lines.append(f"contact = [{', '.join(toml_string(c) for c in self.contact)}]")
        return "\n".join(lines) + "\n\n" + self.sources_toml


def slug_of(name: str) -> str:
    """An address-safe name: "Bad Homburg vor der Höhe" -> "bad-homburg-vor-der-hoehe"."""
    text = name.lower().translate(_TRANSLITERATION)
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:60] or "gruppe"


# What the names of civic groups share, and so what says nothing about which group it is:
# "Engagierte Stadt Zwickau", "Bürgerstiftung Seestadt", "Freiwilligenagentur Halle e.V.".
_SHARED_WORDS = {
    "buergernetzwerk", "buergerstiftung", "buergerverein", "die", "ehrenamt",
    "ehrenamtsagentur", "ehrenamtsboerse", "engagement", "engagierte", "engagiertes",
    "freiwilligenagentur", "freiwilligenzentrum", "initiative", "netzwerk", "stadt",
    "stiftung", "verein",
}  # fmt: skip
_LEGAL_FORMS = {"e-v", "ev", "ggmbh", "gmbh", "eg", "ug"}


def short_slug(name: str, taken: set[str]) -> str:
    """The short name a group goes by in addresses: its name less the words all groups
    share and its legal form, mostly its place ("Engagierte Stadt Zwickau" -> "zwickau").
    Where that is taken (two Bürgerstiftungen in one town) or nothing is left, the whole
    name; then a number."""
    whole = slug_of(name)
    words = whole.replace("e-v", "e_v").split("-")
    while words and words[0] in _SHARED_WORDS:
        words.pop(0)
    while words and words[-1].replace("_", "-") in _LEGAL_FORMS:
        words.pop()
    for slug in ("-".join(words), whole.removesuffix("-e-v")):
        if slug and slug not in taken:
            return slug
    number = 2
    while f"{whole}-{number}" in taken:
        number += 1
    return f"{whole}-{number}"


def address_key(url: str) -> str:
    """An address as compared for duplicates: without scheme, "www.", default port,
    fragment and trailing slash, host in lower case (webcal://x/k.ics is http://x/k.ics)."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower().removeprefix("www.")
    port = f":{parts.port}" if parts.port and parts.port not in (80, 443) else ""
    query = f"?{parts.query}" if parts.query else ""
    return f"{host}{port}{parts.path.rstrip('/')}{query}"


def already_there(network: Network, name: str, urls: list[str]) -> str | None:
    """Why a group with this name or these sources' addresses is there already, or None."""
    wanted = {address_key(url) for url in urls}
    for site in network.sites:
        if site.name.casefold() == name.casefold():
            return f"a group of that name is there already: {site.slug} ({site.name})"
        for source in site.sources:
            address = source.options_dict.get("url")
            if isinstance(address, str) and address_key(address) in wanted:
                return f"{address} is read already, for {site.slug} ({site.name})"
    return None


def append(path: Path, groups: list[NewGroup]) -> None:
    """Append the groups; raises ConfigError (and leaves the file as it was) when the
    result would not load."""
    before = path.read_text(encoding="utf-8") if path.exists() else ""
    tables = "\n".join(group.toml() for group in groups)
    write(path, before.rstrip("\n") + "\n\n" + tables)


def remove(path: Path, slug: str) -> str:
    """Take the group `slug` out of the file, keeping every other line as it was (and
    the comments); its name. Raises ConfigError when there is no such group."""
    text = path.read_text(encoding="utf-8")
    document = tomlkit.parse(text)
    sites = document.get("sites")
    index = next((n for n, site in enumerate(sites or []) if site.get("slug") == slug), None)
    if sites is None or index is None:
        raise ConfigError(path, "sites", f"there is no group {slug!r} (feeds list shows them)")
    name = str(sites[index].get("name", slug))
    del sites[index]
    write(path, tomlkit.dumps(document))
    return name


SETTABLE = ("name", "region", "homepage", "contact", "timezone")


def settle(path: Path, slug: str, key: str, value: str) -> str | None:
    """Set one of a group's SETTABLE keys (an empty value takes it out), keeping every
    other line; the value it had. Raises ConfigError (the file left as it was) when there
    is no such group or the result would not load."""
    if key not in SETTABLE:
        raise ConfigError(path, key, f"not a key feeds set changes (it sets {', '.join(SETTABLE)})")
    document = tomlkit.parse(path.read_text(encoding="utf-8"))
    sites = document.get("sites")
    index = next((n for n, site in enumerate(sites or []) if site.get("slug") == slug), None)
    if sites is None or index is None:
        raise ConfigError(path, "sites", f"there is no group {slug!r} (feeds list shows them)")
    site = sites[index]
    before = site.get(key)
    if not value.strip():
        if key in site:
            del site[key]
    elif key == "contact":  # "a@x.de, b@y.de": one address or several
        site[key] = [address.strip() for address in value.split(",") if address.strip()]
    else:
        site[key] = value.strip()
    write(path, tomlkit.dumps(document))
    if before is None:
        return None
    return ", ".join(map(str, before)) if isinstance(before, list) else str(before)


def write(path: Path, text: str) -> None:
    """Replace the configuration with `text` if, and only if, it loads; errors name
    `path` and the line, as for the file itself."""
    load_config(path, text)
    candidate = path.with_name(f".{path.name}.new")
    candidate.write_text(text, encoding="utf-8")
    candidate.replace(path)  # atomic: a running service reads the old file or the new


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


def groups_from_opml(body: bytes, network: Network | None) -> tuple[list[NewGroup], list[str]]:
    """A group with a `feed` source per feed in the list; groups already there (by name
    or feed address), and feeds listed twice, are skipped and named."""
    groups: list[NewGroup] = []
    skipped: list[str] = []
    sites = network.sites if network is not None else ()
    taken = {site.slug for site in sites} | set(RESERVED_SLUGS)
    listed = Network(name="", sites=sites)
    for outline in read_opml(body):
        why = already_there(listed, outline.title, [outline.feed])
        if why is None and any(address_key(g.feed) == address_key(outline.feed) for g in groups):
            why = "listed twice in the file"
        if why is None and any(g.name.casefold() == outline.title.casefold() for g in groups):
            why = "a group of that name is listed before it"
        if why is not None:
            skipped.append(f"{outline.title} ({outline.feed}): {why}")
            continue
        slug = short_slug(outline.title, taken)
        taken.add(slug)
        source = (
            f'[[sites.sources]]\nname = "feed"\nkind = "feed"\nurl = {toml_string(outline.feed)}\n'
        )
        groups.append(
            NewGroup(slug, outline.title, outline.folder, outline.homepage, source, outline.feed)
        )
    return groups, skipped


def listing(network: Network, states: Mapping[tuple[str, str], SourceState]) -> Iterator[str]:
    """`feeds list`: each group, then each of its sources with how its harvest goes."""
    for site in network.sites:
        region = f" ({site.region})" if site.region else ""
        yield f"{site.slug}: {site.name}{region}"
        for source in site.sources:
            state = states.get((site.slug, source.name))
            yield f"  {source.name} [{source.kind}] {source.address}"
            yield f"    {health(state)}"


def health(state: SourceState | None) -> str:
    if state is None or state.last_attempt is None:
        return "not harvested yet"
    if state.failures:
        since = f", last read {_when(state.last_success)}" if state.last_success else ""
        times = "once" if state.failures == 1 else f"{state.failures} times in a row"
        return f"FAILING {times}{since}: {state.last_error}"
    return f"ok, {state.items} items, last read {_when(state.last_success)}"


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "never"
    return moment.astimezone(ZoneInfo(DEFAULT_TIMEZONE)).strftime("%Y-%m-%d %H:%M")
