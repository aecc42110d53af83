"""What other servers send the actors: Follow, Undo of a Follow, Delete of an account.
Everything else is taken (202) and ignored: these actors read nothing else.

Every activity must be signed by its own actor (feeds/federation/signatures.py); one that
is not, or is signed over too little, or whose body does not match its Digest, or whose
Date is more than five minutes off, is refused with 401 and changes nothing. The one
exception is an account's Delete of itself: its key is gone with it, so the account's
own server is asked, and if it says the account is gone (404, 410), its follows end.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bovine.crypto.types import CryptographicIdentifier

from feeds.federation.remote import Remote, RemoteError, same_host
from feeds.federation.signatures import key_id_of, signer
from feeds.render.activitypub import accept
from feeds.sanitize import safe_url
from feeds.store import Delivery, Follower, Store
from feeds.urls import Urls

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    text: str


class Inbox:
    def __init__(self, store: Store, remote: Remote, on_queued: Callable[[], None]) -> None:
        self.store = store
        self.remote = remote
        self.on_queued = on_queued  # wakes the deliverer of this process, if it has one

    async def receive(
        self,
        urls: Urls,
        actors: Collection[str],
        to: str | None,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        now: datetime,
    ) -> Answer:
        """`to`: the actor whose inbox it came to (None: the shared inbox); `actors`: the
        names of every actor here."""
        try:
            activity = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return Answer(400, "not JSON")
        if not isinstance(activity, dict):
            return Answer(400, "not a JSON object")
        sender, kind = activity.get("actor"), activity.get("type")
        if isinstance(sender, dict):
            sender = sender.get("id")
        if not isinstance(sender, str) or safe_url(sender) != sender or not isinstance(kind, str):
            return Answer(400, "an activity needs a type and an actor (its address)")
        owner = await self._signer(method, url, headers, body)
        if owner is None:
            if kind == "Delete" and _object_id(activity) == sender:
                return await self._account_gone(sender)
            return Answer(401, "the signature is missing, or not valid for this request")
        if owner != sender:
            return Answer(401, "signed by another actor than the one it names")
        if kind == "Follow":
            return await self._follow(urls, actors, to, activity, sender, now)
        if kind == "Undo":
            undone = activity.get("object")
            if isinstance(undone, dict) and undone.get("type") == "Follow":
                name = _ours(urls, actors, _object_id(undone)) or to
                ended = await self.store.unfollow(name, sender)
                log.info("fediverse: %s unfollowed %s (%d)", sender, name or "everyone", ended)
            return Answer(202, "taken")
        if kind == "Delete" and _object_id(activity) == sender:
            await self.store.unfollow(None, sender)
            return Answer(202, "taken")
        return Answer(202, "taken, and ignored: these accounts only publish")

    async def _follow(
        self,
        urls: Urls,
        actors: Collection[str],
        to: str | None,
        follow: dict[str, Any],
        sender: str,
        now: datetime,
    ) -> Answer:
        name = _ours(urls, actors, _object_id(follow))
        if name is None or (to is not None and name != to):
            return Answer(404, "no such account here")
        try:
            account = await self.remote.document(sender)
        except RemoteError as exc:
            return Answer(502, f"the following account could not be read: {exc}")
        inbox = account.get("inbox")
        endpoints = account.get("endpoints")
        shared = endpoints.get("sharedInbox") if isinstance(endpoints, dict) else None
        if account.get("id") != sender or not isinstance(inbox, str) or safe_url(inbox) != inbox:
            return Answer(400, "the following account has no inbox of its own")
        if not (isinstance(shared, str) and safe_url(shared) == shared):
            shared = None
        follow_id = follow.get("id") if isinstance(follow.get("id"), str) else None
        await self.store.follow(Follower(name, sender, inbox, shared, follow_id), now)
        actor_id = urls.actor(name)
        done = hashlib.sha256((follow_id or f"{sender} {now.isoformat()}").encode()).hexdigest()
        answer = accept(actor_id, follow, f"{actor_id}#accepts/{done[:32]}")
        delivery = Delivery(f"accept:{done}", name, inbox, json.dumps(answer, ensure_ascii=False))
        await self.store.queue_deliveries([delivery], now)
        self.on_queued()
        log.info("fediverse: %s follows %s", sender, name)
        return Answer(202, "followed")

    async def _signer(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes
    ) -> str | None:
        owner = await signer(method, url, headers, body, self._public_key)
        key_id = key_id_of(headers)
        if owner is None and key_id is not None and self.remote.kept(key_id):
            # Read before: the account may have a new key since. Once more, freshly.
            self.remote.forget(key_id)
            owner = await signer(method, url, headers, body, self._public_key)
        return owner

    async def _public_key(self, key_id: str) -> CryptographicIdentifier | None:
        """The key `key_id` names, if its document says so and its owner is of the same
        server (a key cannot speak for an account elsewhere)."""
        try:
            document = await self.remote.document(key_id)
        except RemoteError as exc:
            log.info("fediverse: key %s not read: %s", key_id, exc)
            return None
        key: Any = document.get("publicKey", document)
        if isinstance(key, list):
            key = next((k for k in key if isinstance(k, dict) and k.get("id") == key_id), None)
        if not isinstance(key, dict) or key.get("id") != key_id:
            return None
        owner = key.get("owner")
        if not isinstance(owner, str) or not same_host(owner, key_id):
            return None
        try:
            identifier: CryptographicIdentifier = CryptographicIdentifier.from_public_key(key)
        except (ValueError, TypeError):
            return None
        return identifier

    async def _account_gone(self, account: str) -> Answer:
        self.remote.forget(account)
        try:
            await self.remote.document(account)
        except RemoteError as exc:
            if exc.status in (404, 410):
                ended = await self.store.unfollow(None, account)
                log.info("fediverse: %s is gone; %d follows ended", account, ended)
                return Answer(202, "taken")
        return Answer(401, "the signature is missing, or not valid for this request")


def _object_id(activity: dict[str, Any]) -> str | None:
    target = activity.get("object")
    if isinstance(target, dict):
        target = target.get("id")
    return target if isinstance(target, str) else None


def _ours(urls: Urls, actors: Collection[str], address: str | None) -> str | None:
    """Which of our actors `address` is."""
    if address is None:
        return None
    return next((name for name in actors if urls.actor(name) == address), None)
