"""What followers are told when a harvest (or the office) changed a group's items.

- A new post or event: `Create` from the group to its followers' servers, and `Announce`
  from the network's account to its followers' (a Create from an account nobody there
  follows would be dropped; a boost of it is shown).
- A changed one: `Update`, to both. A cancelled event also gets a short Note
  "ABGESAGT: …", created and announced: Mastodon ignores Updates of events.
- One removed upstream, or hidden by the office: `Delete`, to both.

Each activity goes to each server once (its shared inbox, else the follower's own). A
group's first harvest is no flood: only posts of the last NEWS_DAYS and events still to
come are sent, and at most MOST_NEW per group and plan, the newest; the rest are in its
outbox. Items nobody follows are not recorded, so a later follower's server gets them
as new.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from feeds.federation import NETWORK_ACTOR
from feeds.model import Event, EventStatus, Network, Post, Stored
from feeds.render import activitypub
from feeds.render.activitypub import Addressed, Document
from feeds.store import Delivery, Follower
from feeds.store.federation import Change, Decide, Planned
from feeds.urls import Urls

NEWS_DAYS = timedelta(days=7)
MOST_NEW = 20


def object_of(stored: Stored[Post] | Stored[Event], urls: Urls, network: Network) -> Document:
    """The object an item is, as sent and as served at its id."""
    item = stored.item
    by = addressed(urls, item.site)
    if isinstance(stored.item, Event):
        site = network.site(item.site)
        zone = site.zone if site else ZoneInfo(network.timezone)
        return activitypub.event_object(stored, urls, by, zone)
    assert isinstance(stored.item, Post)
    return activitypub.note(stored, urls, by)


def addressed(urls: Urls, actor: str) -> Addressed:
    return Addressed(urls.actor(actor), urls.followers(actor))


def digest(document: Document) -> str:
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


def decider(urls: Urls, network: Network, now: datetime) -> Decide:
    def decide(changes: list[Change], hidden: list[str], followers: list[Follower]) -> Planned:
        inboxes: dict[str, set[str]] = {}
        for follower in followers:
            inboxes.setdefault(follower.actor, set()).add(follower.delivery_inbox)
        out = _Out(urls, inboxes.get(NETWORK_ACTOR, set()), now)
        told: list[tuple[str, str, str, bool]] = []
        created: Counter[str] = Counter()
        newest_first = sorted(changes, key=lambda c: c.stored.first_seen, reverse=True)
        for change in newest_first:
            item = change.stored.item
            site, uuid = item.site, str(item.uuid)
            if network.site(site) is None:
                continue  # a group no longer configured: its account is gone
            group = inboxes.get(site, set())
            object_id = urls.object(site, uuid)
            if change.removed:
                if change.digest is not None and not change.deleted:
                    out.delete(site, object_id, group)
                    told.append((uuid, site, change.digest, True))
                continue
            document = object_of(change.stored, urls, network)
            sent = digest(document)
            if change.digest is None:
                if not group and not out.network:
                    continue  # nobody to tell: a later follower's server gets it as new
                if _newsworthy(change.stored, now) and created[site] < MOST_NEW:
                    created[site] += 1
                    out.publish(site, document, group)
                told.append((uuid, site, sent, False))
            elif not change.deleted and sent != change.digest:
                out.update(site, document, group, sent)
                if isinstance(item, Event) and item.status is EventStatus.CANCELLED:
                    by = addressed(urls, site)
                    zone = network.site(site).zone  # type: ignore[union-attr]
                    note = activitypub.cancellation(change.stored, urls, by, zone)  # type: ignore[arg-type]
                    out.publish(site, note, group)
                told.append((uuid, site, sent, False))
        for entry in hidden:
            site, uuid = entry.split("/", 1)
            if network.site(site) is not None:
                out.delete(site, urls.object(site, uuid), inboxes.get(site, set()))
            told.append((uuid, site, "", True))
        return Planned(out.deliveries, told)

    return decide


class _Out:
    """The deliveries of one plan, each activity to each server once."""

    def __init__(self, urls: Urls, network: set[str], now: datetime) -> None:
        self.urls = urls
        self.network = network  # the network account's followers' inboxes
        self.now = now
        self.deliveries: list[Delivery] = []

    def publish(self, site: str, document: Document, group: set[str]) -> None:
        by = addressed(self.urls, site)
        create = activitypub.activity("Create", f"{document['id']}#create", by, document,
                                      self.now)  # fmt: skip
        self._to(site, create, group)
        announcer = addressed(self.urls, NETWORK_ACTOR)
        announce = activitypub.activity("Announce", f"{document['id']}#announce", announcer,
                                        document["id"], self.now)  # fmt: skip
        self._to(NETWORK_ACTOR, announce, self.network)

    def update(self, site: str, document: Document, group: set[str], sent: str) -> None:
        by = addressed(self.urls, site)
        update = activitypub.activity("Update", f"{document['id']}#update-{sent[:16]}", by,
                                      document, self.now)  # fmt: skip
        self._to(site, update, group | self.network)

    def delete(self, site: str, object_id: str, group: set[str]) -> None:
        by = addressed(self.urls, site)
        delete = activitypub.activity("Delete", f"{object_id}#delete", by,
                                      activitypub.tombstone(object_id), self.now)  # fmt: skip
        self._to(site, delete, group | self.network)

    def _to(self, actor: str, activity: Document, inboxes: Iterable[str]) -> None:
        body = json.dumps(activity, ensure_ascii=False)
        for inbox in sorted(inboxes):
            self.deliveries.append(Delivery(f"{activity['id']} {inbox}", actor, inbox, body))


def _newsworthy(stored: Stored[Post] | Stored[Event], now: datetime) -> bool:
    item = stored.item
    if isinstance(item, Event):
        return bool(item.rrule or item.rdates) or item.end_instant() > now
    return (item.published or stored.first_seen) > now - NEWS_DAYS
