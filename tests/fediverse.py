"""A fediverse server on a local port, as Mastodon behaves toward another server: its
account looks a group up by WebFinger, reads the actor, sends signed Follows and Undos,
and takes deliveries in its inboxes, checking each signature.

It signs and verifies with httpsig (pycryptodome), not with what the service signs with
(bovine, on `cryptography`): an independent implementation of the same draft, so a
signature both accept is one Mastodon would too.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpsig
from aiohttp import web
from Crypto.PublicKey import RSA

ACTIVITY = "application/activity+json"
SIGNED = ["(request-target)", "host", "date", "digest", "content-type"]


@dataclass
class Received:
    path: str
    activity: dict[str, Any]
    verified: bool  # the signature held, by our own check
    signed_fields: list[str]
    date: str


@dataclass
class Mastodon:
    """One server with one account, `anna`."""

    base: str = ""
    key: Any = field(default_factory=lambda: RSA.generate(2048))
    received: list[Received] = field(default_factory=list)
    down: bool = False  # its inboxes answer 503
    refused: list[str] = field(default_factory=list)  # the Date of each try while down
    known: dict[str, str] = field(default_factory=dict)  # keyId: PEM, not fetched

    @property
    def actor(self) -> str:
        return f"{self.base}/users/anna"

    @property
    def key_id(self) -> str:
        return f"{self.actor}#main-key"

    def document(self) -> dict[str, Any]:
        return {
            "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
            "id": self.actor,
            "type": "Person",
            "preferredUsername": "anna",
            "inbox": f"{self.actor}/inbox",
            "outbox": f"{self.actor}/outbox",
            "endpoints": {"sharedInbox": f"{self.base}/inbox"},
            "publicKey": {
                "id": self.key_id,
                "owner": self.actor,
                "publicKeyPem": self.key.publickey().export_key().decode(),
            },
        }

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/users/anna", self._actor)
        app.router.add_post("/users/anna/inbox", self._inbox)
        app.router.add_post("/inbox", self._inbox)
        return app

    async def _actor(self, request: web.Request) -> web.Response:
        return web.json_response(self.document(), content_type=ACTIVITY)

    async def _inbox(self, request: web.Request) -> web.Response:
        if self.down:
            self.refused.append(request.headers.get("Date", ""))
            return web.Response(status=503, text="maintenance")
        body = await request.read()
        activity = json.loads(body)
        headers = dict(request.headers)
        verified, fields = await asyncio.to_thread(verify, headers, request.path, body, self.known)
        self.received.append(
            Received(request.path, activity, verified, fields, request.headers.get("Date", ""))
        )
        return web.Response(status=202)

    def follow(self, actor_id: str, follow_id: str | None = None) -> dict[str, Any]:
        return {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": follow_id or f"{self.base}/{time.monotonic_ns()}",
            "type": "Follow",
            "actor": self.actor,
            "object": actor_id,
        }

    def undo(self, follow: dict[str, Any]) -> dict[str, Any]:
        return {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": f"{follow['id']}/undo",
            "type": "Undo",
            "actor": self.actor,
            "object": follow,
        }

    def signed(
        self, url: str, activity: dict[str, Any], *, key: Any = None, date: datetime | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """Body and headers as Mastodon POSTs an activity (draft-cavage, rsa-sha256)."""
        body = json.dumps(activity).encode()
        parts = urlsplit(url)
        headers = {
            "Host": parts.netloc,
            "Date": format_datetime(date or datetime.now(UTC), usegmt=True),
            "Digest": "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode(),
            "Content-Type": ACTIVITY,
        }
        signer = httpsig.HeaderSigner(
            self.key_id,
            (key or self.key).export_key().decode(),
            algorithm="rsa-sha256",
            headers=SIGNED,
            sign_header="signature",
        )
        signed = signer.sign(headers, host=parts.netloc, method="POST", path=parts.path)
        return body, {k: v for k, v in signed.items()}

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=20) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return error.code

    def of_type(self, kind: str) -> list[Received]:
        return [r for r in self.received if r.activity.get("type") == kind]


def verify(
    headers: dict[str, str], path: str, body: bytes, known: dict[str, str] | None = None
) -> tuple[bool, list[str]]:
    """Check a delivery's signature as a receiving server does: the key fetched from the
    keyId, the signed fields Mastodon insists on, the Digest of the body, a fresh Date."""
    header = headers.get("Signature", "")
    parts = dict(
        (item.split("=", 1)[0], item.split("=", 1)[1].strip('"'))
        for item in header.split(",")
        if "=" in item
    )
    fields = parts.get("headers", "").split()
    digest = "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()
    if headers.get("Digest") != digest:
        return False, fields
    sent = parsedate_to_datetime(headers["Date"])
    if abs(datetime.now(UTC) - sent) > timedelta(minutes=5):
        return False, fields
    pem = (known or {}).get(parts["keyId"])
    if pem is None:
        with urllib.request.urlopen(
            urllib.request.Request(parts["keyId"], headers={"Accept": ACTIVITY}), timeout=10
        ) as response:
            pem = json.loads(response.read())["publicKey"]["publicKeyPem"]
    verifier = httpsig.HeaderVerifier(
        headers,
        pem,
        required_headers=["(request-target)", "host", "date", "digest"],
        method="POST",
        path=path,
        sign_header="signature",
    )
    return bool(verifier.verify()), fields
