"""Source adapters, one module per kind, resolved lazily by name."""

from __future__ import annotations

import pkgutil
from collections.abc import Mapping
from typing import Any

from sources.base import OptionError, Source, SourceContext

KINDS: dict[str, str] = {
    "files": "sources.files:FilesSource",
    "wordpress": "sources.wordpress:WordPressSource",
    "tribe_events": "sources.tribe_events:TribeEventsSource",
    "feed": "sources.feed:FeedSource",
    "ical": "sources.ical:ICalSource",
    "html": "sources.html:HTMLSource",
    "jsonld": "sources.jsonld:JsonLdSource",
}


class UnknownKindError(LookupError):
    pass


def source_class(kind: str) -> type[Source]:
    try:
        target = KINDS[kind]
    except KeyError:
        known = ", ".join(sorted(KINDS))
        raise UnknownKindError(f"unknown source kind {kind!r} (known: {known})") from None
    cls: type[Source] = pkgutil.resolve_name(target)
    return cls


def build_source(kind: str, context: SourceContext, options: Mapping[str, Any]) -> Source:
    """The adapter for one configured source; raises UnknownKindError or OptionError."""
    return source_class(kind).from_config(context, options)


__all__ = ["KINDS", "OptionError", "SourceContext", "UnknownKindError", "build_source"]
