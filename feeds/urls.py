"""Every address the service answers and every address it writes, in one place.

A path is written once, as a template: the web layer registers its route with it
(`NEWS.route`), and the builders fill it in (`Urls(base).news("kaiserslautern")`). Renderers
receive a `Urls` and never spell a path; the slugs no group may take follow from the
fixed paths here. Below web and render: it imports nothing of the service.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from urllib.parse import urlencode
from uuid import UUID

NETWORK = "network"  # the scope of every group at once: /network/events.ics


@dataclass(frozen=True, slots=True)
class Format:
    """A format a feed is served in: its extension, media type and name for people."""

    extension: str
    media_type: str
    label: str


# Feed formats, in the order pages offer them.
FEEDS = MappingProxyType(
    {
        "atom": Format("atom", "application/atom+xml", "Atom"),
        "rss": Format("rss", "application/rss+xml", "RSS"),
        "json": Format("json", "application/feed+json", "JSON Feed"),
    }
)
CALENDAR = Format("ics", "text/calendar", "iCalendar")
OPML = Format("opml", "text/x-opml", "OPML")

# What a placeholder may match, where a path must tell one route from another.
_PATTERNS = {
    "fmt": "|".join(FEEDS),
    "item_id": "[0-9a-f-]{36}",
    "event_id": "[0-9a-f-]{36}",
}
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True, slots=True)
class Path:
    """A path template such as `/{site}/news.{fmt}`."""

    template: str

    @property
    def route(self) -> str:
        """The template as aiohttp registers it, each placeholder with what it matches."""
        return _PLACEHOLDER.sub(
            lambda m: f"{{{m[1]}:{_PATTERNS[m[1]]}}}" if m[1] in _PATTERNS else m[0],
            self.template,
        )

    def __call__(self, **parts: str) -> str:
        return self.template.format(**parts)


# --- what the service answers -----------------------------------------------------------

NETWORK_PAGE = Path("/")
OPML_FILE = Path("/opml")
EMBED_GUIDE = Path("/embed")
EMBED_SCRIPT = Path("/embed.js")
STATIC = Path("/static/{name}")
IMAGE = Path("/images/{name}")  # our copies of the groups' images (feeds/images.py)
STATUS = Path("/status")
STATUS_JSON = Path("/status.json")
HEALTHZ = Path("/healthz")
METRICS = Path("/metrics")
ADMIN_HARVEST = Path("/admin/harvest")
# The fediverse (feeds/web/fediverse.py): discovery, and the inbox all actors share.
WEBFINGER = Path("/.well-known/webfinger")
HOST_META = Path("/.well-known/host-meta")
NODEINFO_LINKS = Path("/.well-known/nodeinfo")
NODEINFO = Path("/nodeinfo/2.1")
SHARED_INBOX = Path("/inbox")
# A group's (or, as `network`, every group's); after the fixed paths, which they would match.
GROUP_PAGE = Path("/{site}/")
GROUP_WITHOUT_SLASH = Path("/{site}")
NEWS = Path("/{site}/news.{fmt}")
EVENTS_FEED = Path("/{site}/events.{fmt}")
EVENTS_CALENDAR = Path("/{site}/events.ics")
DIGEST = Path("/{site}/digest.rss")
PROGRAMME = Path("/{site}/programm")  # to print: the next weeks on A4
PROGRAMME_PDF = Path("/{site}/programm.pdf")
EVENT_CALENDAR = Path("/{site}/events/{event_id}.ics")
EVENT_PAGE = Path("/{site}/events/{item_id}")
POST_PAGE = Path("/{site}/posts/{item_id}")
WIDGET = Path("/{site}/widget")
QR_CODE = Path("/{site}/qr.svg")
# A group's (or the network's) ActivityPub actor and its posts and events as objects;
# pages name them (rel=alternate), so a page's address pasted into Mastodon finds them.
ACTOR = Path("/{site}/actor")
OBJECT = Path("/{site}/objects/{item_id}")
ACTOR_INBOX = Path("/{site}/inbox")
ACTOR_OUTBOX = Path("/{site}/outbox")
ACTOR_FOLLOWERS = Path("/{site}/followers")

FIXED = (
    NETWORK_PAGE, OPML_FILE, EMBED_GUIDE, EMBED_SCRIPT, STATIC, IMAGE, STATUS, STATUS_JSON,
    HEALTHZ, METRICS, ADMIN_HARVEST, WEBFINGER, HOST_META, NODEINFO_LINKS, NODEINFO,
    SHARED_INBOX,
)  # fmt: skip
# A group named like a fixed path's first segment would be unreachable; `network` is taken.
RESERVED_SLUGS = frozenset(
    {NETWORK} | {p.template.split("/")[1].split(".")[0] for p in FIXED if p.template.split("/")[1]}
) - {""}  # "/.well-known" is no slug's


# --- what the service writes ------------------------------------------------------------


def with_query(address: str, query: Mapping[str, str | int]) -> str:
    """`address` asking for `query` (a region's feeds and calendar: `?region=Bayern`)."""
    return f"{address}?{urlencode(query)}" if query else address


@dataclass(frozen=True, slots=True)
class Urls:
    """Absolute addresses under the service's public address (`base`, no slash at the end)."""

    base: str

    def network_page(self, region: str | None = None) -> str:
        """The network's page, or with `region` the page of its groups in one state."""
        return with_query(self.base + NETWORK_PAGE(), {"region": region} if region else {})

    def group_page(self, site: str) -> str:
        return self.base + GROUP_PAGE(site=site)

    def news(self, site: str, fmt: str = "atom") -> str:
        return self.base + NEWS(site=site, fmt=fmt)

    def events_feed(self, site: str, fmt: str = "atom") -> str:
        return self.base + EVENTS_FEED(site=site, fmt=fmt)

    def programme(self, site: str) -> str:
        return self.base + PROGRAMME(site=site)

    def programme_pdf(self, site: str) -> str:
        return self.base + PROGRAMME_PDF(site=site)

    def digest(self, site: str) -> str:
        return self.base + DIGEST(site=site)

    def calendar(self, site: str) -> str:
        return self.base + EVENTS_CALENDAR(site=site)

    def event_calendar(self, site: str, event_id: UUID) -> str:
        return self.base + EVENT_CALENDAR(site=site, event_id=str(event_id))

    def event_page(self, site: str, item_id: UUID) -> str:
        return self.base + EVENT_PAGE(site=site, item_id=str(item_id))

    def post_page(self, site: str, item_id: UUID) -> str:
        return self.base + POST_PAGE(site=site, item_id=str(item_id))

    def widget(self, site: str, **query: str | int) -> str:
        return with_query(self.base + WIDGET(site=site), query)

    def qr_code(self, site: str) -> str:
        return self.base + QR_CODE(site=site)

    def opml(self) -> str:
        return self.base + OPML_FILE()

    def embed_guide(self) -> str:
        return self.base + EMBED_GUIDE()

    def embed_script(self) -> str:
        return self.base + EMBED_SCRIPT()

    def image(self, name: str) -> str:
        return self.base + IMAGE(name=name)

    def static(self, name: str, version: str) -> str:
        # The version is in the address: a changed file has a new one, and may be kept long.
        return f"{self.base}{STATIC(name=name)}?v={version}"

    # --- the fediverse ---------------------------------------------------------------

    def actor(self, site: str) -> str:
        return self.base + ACTOR(site=site)

    def key_id(self, site: str) -> str:
        return self.actor(site) + "#main-key"

    def object(self, site: str, item_id: UUID | str) -> str:
        return self.base + OBJECT(site=site, item_id=str(item_id))

    def inbox(self, site: str) -> str:
        return self.base + ACTOR_INBOX(site=site)

    def outbox(self, site: str) -> str:
        return self.base + ACTOR_OUTBOX(site=site)

    def followers(self, site: str) -> str:
        return self.base + ACTOR_FOLLOWERS(site=site)

    def shared_inbox(self) -> str:
        return self.base + SHARED_INBOX()

    def webfinger(self) -> str:
        return self.base + WEBFINGER()

    def nodeinfo(self) -> str:
        return self.base + NODEINFO()

    def status(self, group: str | None = None) -> str:
        """Every source's state, or (with `group`) one group's."""
        address = self.base + STATUS()
        return f"{address}?{urlencode({'group': group})}" if group else address
