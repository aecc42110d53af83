"""ActivityPub documents as Mastodon, GoToSocial, Friendica and Akkoma read them: actors,
WebFinger and NodeInfo answers, and the activities the service sends. Pure: data and
addresses in, JSON-ready dictionaries out.

What the receivers do with them decides their shape: Mastodon shows an actor of type
`Service` as automated ("Bot"), which these accounts are; it renders `summary` as HTML;
it finds the key under `publicKey` (security/v1) and shared inboxes under `endpoints`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape as _escape
from typing import Any
from zoneinfo import ZoneInfo

from feeds.model import Event, EventStatus, Location, Post, Stored
from feeds.render.entries import STATUS_PREFIX, UNTITLED
from feeds.render.when import describe
from feeds.sanitize import html_to_text, plain_text
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


# --- posts and events as objects, and what is done with them ---------------------------

SUMMARY_CHARACTERS = 480  # of a post's text in a Note: Mastodon shows 500 characters


@dataclass(frozen=True, slots=True)
class Addressed:
    """Who an object is from, and for whom: public, with the actor's followers in cc."""

    actor: str
    followers: str


def note(stored: Stored[Post], urls: Urls, by: Addressed) -> Document:
    """A post as a Note: title, text and link in its content. No `summary`: Mastodon
    shows a Note's summary as a content warning, hiding the post behind it."""
    post = stored.item
    text = plain_text(html_to_text(post.summary or post.content_html or ""))
    if len(text) > SUMMARY_CHARACTERS:
        text = text[: SUMMARY_CHARACTERS - 1].rstrip() + "…"
    link = post.url or urls.post_page(post.site, post.uuid)
    content = f"<p><strong>{_escape(post.title or UNTITLED)}</strong></p>"
    if text:
        content += f"<p>{_escape(text)}</p>"
    content += f'<p><a href="{_escape(link)}">{_escape(_shown(link))}</a></p>'
    published = post.published or stored.first_seen
    document: Document = {
        "@context": AS,
        "id": urls.object(post.site, post.uuid),
        "type": "Note",
        "attributedTo": by.actor,
        "content": content,
        "contentMap": {"de": content},
        "url": link,
        "published": _iso(published),
        "to": [PUBLIC],
        "cc": [by.followers],
        "sensitive": False,
        "tag": _hashtags(post.categories, urls),
    }
    if stored.sequence > 0:  # changed since it was first sent
        document["updated"] = _iso(max(stored.changed, published))
    return document


def event_object(stored: Stored[Event], urls: Urls, by: Addressed, zone: ZoneInfo) -> Document:
    """An event as an Event. Mastodon shows only its name, its summary and its link, and
    drops the content: the summary names the day, the time and the place in German."""
    event = stored.item
    start, end = event.start_instant(), event.end_instant()
    when = describe(start, end, all_day=event.all_day, zone=zone)
    if event.rrule or event.rdates:
        when += " (und weitere Termine)"
    place = event.location.label() if event.location else None
    flag = {EventStatus.CANCELLED: "ABGESAGT", EventStatus.POSTPONED: "VERSCHOBEN"}
    summary = " · ".join(filter(None, [flag.get(event.status), when, place]))
    page = urls.event_page(event.site, event.uuid)
    description = plain_text(html_to_text(event.description or ""))
    content = f"<p>{_escape(summary)}</p>"
    if description:
        content += f"<p>{_escape(description[:2000])}</p>"
    document: Document = {
        "@context": AS,
        "id": urls.object(event.site, event.uuid),
        "type": "Event",
        "attributedTo": by.actor,
        "name": f"{STATUS_PREFIX.get(event.status, '')}{event.title or UNTITLED}",
        "summary": summary,
        "content": content,
        "startTime": start.astimezone(zone).isoformat(),
        "endTime": end.astimezone(zone).isoformat(),
        "url": page,
        "published": _iso(stored.first_seen),
        "to": [PUBLIC],
        "cc": [by.followers],
        "tag": _hashtags(event.categories, urls),
    }
    if event.location is not None:
        document["location"] = _place(event.location)
    if stored.sequence > 0:
        document["updated"] = _iso(stored.changed)
    return document


def cancellation(stored: Stored[Event], urls: Urls, by: Addressed, zone: ZoneInfo) -> Document:
    """A short Note for a cancelled event: Mastodon ignores an Update of an Event, so
    followers would never learn of it otherwise."""
    event = stored.item
    when = describe(event.start_instant(), event.end_instant(), all_day=event.all_day, zone=zone)
    page = urls.event_page(event.site, event.uuid)
    content = (
        f"<p>ABGESAGT: {_escape(event.title or UNTITLED)} am {_escape(when)}</p>"
        f'<p><a href="{_escape(page)}">{_escape(_shown(page))}</a></p>'
    )
    return {
        "@context": AS,
        "id": urls.object(event.site, event.uuid) + "/abgesagt",
        "type": "Note",
        "attributedTo": by.actor,
        "content": content,
        "contentMap": {"de": content},
        "url": page,
        "published": _iso(stored.changed),
        "to": [PUBLIC],
        "cc": [by.followers],
    }


def activity(kind: str, activity_id: str, by: Addressed, target: Document | str,
             published: datetime) -> Document:  # fmt: skip
    """Create, Update, Delete or Announce of an object, addressed as the object is."""
    return {
        "@context": AS,
        "id": activity_id,
        "type": kind,
        "actor": by.actor,
        "published": _iso(published),
        "to": [PUBLIC],
        "cc": [by.followers],
        "object": target,
    }


def tombstone(object_id: str) -> Document:
    return {"@context": AS, "id": object_id, "type": "Tombstone"}


def collection(collection_id: str, total: int, first: Document | str | None = None) -> Document:
    document: Document = {
        "@context": AS,
        "id": collection_id,
        "type": "OrderedCollection",
        "totalItems": total,
    }
    if first is not None:
        document["first"] = first
    return document


def collection_page(page_id: str, part_of: str, items: list[Document],
                    next_page: str | None) -> Document:  # fmt: skip
    document: Document = {
        "@context": AS,
        "id": page_id,
        "type": "OrderedCollectionPage",
        "partOf": part_of,
        "orderedItems": items,
    }
    if next_page:
        document["next"] = next_page
    return document


def _place(location: Location) -> Document:
    place: Document = {"type": "Place", "name": location.name or location.address or ""}
    if location.address:
        place["address"] = location.address
    if location.geo is not None:
        place["latitude"], place["longitude"] = location.geo
    return place


def _hashtags(categories: tuple[str, ...], urls: Urls) -> list[Document]:
    tags = []
    for category in categories[:5]:
        word = "".join(part.capitalize() if i else part for i, part in
                       enumerate(re.split(r"[^\w]+", category)) if part)  # fmt: skip
        if word:
            tags.append({"type": "Hashtag", "name": f"#{word}", "href": urls.network_page()})
    return tags


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
