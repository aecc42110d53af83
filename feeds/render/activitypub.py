"""ActivityPub documents as Mastodon, GoToSocial, Friendica and Akkoma read them: actors,
WebFinger and NodeInfo answers, and the activities the service sends. Pure: data and
addresses in, JSON-ready dictionaries out.

What the receivers do with them decides their shape: Mastodon shows an actor of type
`Service` as automated ("Bot"), which these accounts are; it renders `summary` as HTML;
it finds the key under `publicKey` (security/v1) and shared inboxes under `endpoints`.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape as _escape
from typing import Any

from feeds.urls import Urls

AS = "https://www.w3.org/ns/activitystreams"
PUBLIC = AS + "#Public"
MEDIA_TYPE = "application/activity+json"
# Mastodon's own terms, so that its servers read `discoverable` and `indexable` as meant.
CONTEXT: list[Any] = [
    AS,
    "https://w3id.org/security/v1",
    {
        "manuallyApprovesFollowers": "as:manuallyApprovesFollowers",
        "toot": "http://joinmastodon.org/ns#",
        "discoverable": "toot:discoverable",
        "indexable": "toot:indexable",
        "schema": "http://schema.org#",
        "PropertyValue": "schema:PropertyValue",
        "value": "schema:value",
    },
]

Document = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ActorInfo:
    """Who an actor is: a group (its slug) or the network."""

    slug: str
    name: str
    summary: str  # plain text; rendered as a paragraph
    homepage: str | None  # the group's own website
    public_key: str  # PEM
    icon: str  # an image's address (PNG: Mastodon takes no SVG avatars)
    published: str | None = None  # ISO 8601: when the actor was made here


def actor(info: ActorInfo, urls: Urls) -> Document:
    actor_id = urls.actor(info.slug)
    summary = f"<p>{_escape(info.summary)}</p>"
    attachments = []
    if info.homepage:
        summary += (
            f'<p>Website: <a href="{_escape(info.homepage)}" rel="nofollow noopener">'
            f"{_escape(_shown(info.homepage))}</a></p>"
        )
        attachments.append(_field("Website", info.homepage))
    attachments.append(_field("Alle Termine und Neuigkeiten", urls.group_page(info.slug)))
    document: Document = {
        "@context": CONTEXT,
        "id": actor_id,
        "type": "Service",
        "preferredUsername": info.slug,
        "name": info.name,
        "summary": summary,
        "url": urls.group_page(info.slug),
        "icon": {"type": "Image", "mediaType": "image/png", "url": info.icon},
        "inbox": urls.inbox(info.slug),
        "outbox": urls.outbox(info.slug),
        "followers": urls.followers(info.slug),
        "endpoints": {"sharedInbox": urls.shared_inbox()},
        "manuallyApprovesFollowers": False,
        "discoverable": True,
        "indexable": True,
        "attachment": attachments,
        "publicKey": {
            "id": urls.key_id(info.slug),
            "owner": actor_id,
            "publicKeyPem": info.public_key,
        },
    }
    if info.published:
        document["published"] = info.published
    return document


def webfinger(subject: str, actor_id: str, page: str) -> Document:
    """The answer to `acct:slug@host` (RFC 7033), as Mastodon looks an account up."""
    return {
        "subject": subject,
        "aliases": [actor_id],
        "links": [
            {"rel": "self", "type": MEDIA_TYPE, "href": actor_id},
            {"rel": "http://webfinger.net/rel/profile-page", "type": "text/html", "href": page},
        ],
    }


def host_meta(webfinger_url: str) -> bytes:
    """XRD pointing to WebFinger (RFC 6415), for the servers that still ask for it."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0">\n'
        f'  <Link rel="lrdd" template="{_escape(webfinger_url)}?resource={{uri}}"/>\n'
        "</XRD>\n"
    ).encode()


def nodeinfo_links(nodeinfo_url: str) -> Document:
    return {
        "links": [{"rel": "http://nodeinfo.diaspora.software/ns/schema/2.1", "href": nodeinfo_url}]
    }


def nodeinfo(version: str, actors: int, items: int, name: str, homepage: str) -> Document:
    """NodeInfo 2.1: what software this is; every actor counts as a user."""
    return {
        "version": "2.1",
        "software": {"name": "engagement-feeds", "version": version, "homepage": homepage},
        "protocols": ["activitypub"],
        "services": {"inbound": [], "outbound": ["atom1.0", "rss2.0"]},
        "openRegistrations": False,
        "usage": {"users": {"total": actors}, "localPosts": items},
        "metadata": {"nodeName": name},
    }


def accept(actor_id: str, follow: Document, accept_id: str) -> Document:
    """The answer to a Follow: its `object` is the Follow as received, as Mastodon wants."""
    return {
        "@context": AS,
        "id": accept_id,
        "type": "Accept",
        "actor": actor_id,
        "object": follow,
    }


def _field(name: str, url: str) -> Document:
    link = f'<a href="{_escape(url)}" rel="nofollow noopener me">{_escape(_shown(url))}</a>'
    return {"type": "PropertyValue", "name": name, "value": link}


def _shown(url: str) -> str:
    return url.removeprefix("https://").removeprefix("http://").rstrip("/")
