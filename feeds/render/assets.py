"""The pages' own stylesheet and scripts, read once from the package, each with a version
(a hash of its bytes) so that its address changes when it does and browsers may keep it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from feeds.urls import Urls

TYPES = {
    ".css": "text/css",
    ".js": "text/javascript",
    ".svg": "image/svg+xml",
    ".png": "image/png",  # for whom SVG will not do: fediverse avatars
}


@dataclass(frozen=True, slots=True)
class Asset:
    name: str
    body: bytes
    content_type: str
    version: str


@cache
def assets() -> dict[str, Asset]:
    folder = resources.files("feeds.render") / "static"
    found = {}
    for entry in folder.iterdir():
        suffix = "." + entry.name.rpartition(".")[2]
        if suffix in TYPES:
            body = entry.read_bytes()
            version = hashlib.blake2b(body, digest_size=6).hexdigest()
            found[entry.name] = Asset(entry.name, body, TYPES[suffix], version)
    return found


def asset_url(urls: Urls, name: str) -> str:
    return urls.static(name, assets()[name].version)
