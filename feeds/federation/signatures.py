"""HTTP Signatures as Mastodon sends and checks them: draft-cavage-http-signatures,
rsa-sha256 over `(request-target) host date digest`, the Digest of the body in SHA-256.
Made and checked by bovine (its `HttpSignature` and `SignatureChecker`): this module only
says which headers are signed and what a valid signature must cover.

bovine's checker accepts a signature that leaves out `host`; Mastodon signs it and so
must every signature here, or a request signed for one server could be replayed to
another. The Date must be within five minutes (bovine's bound, as the issue asks).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from email.utils import format_datetime
from urllib.parse import urlsplit

from bovine.crypto.helper import content_digest_sha256
from bovine.crypto.http_signature import build_signature
from bovine.crypto.signature import Signature
from bovine.crypto.signature_checker import SignatureChecker
from bovine.crypto.types import CryptographicIdentifier, CryptographicSecret

from feeds.render.activitypub import MEDIA_TYPE

KeyLookup = Callable[[str], Awaitable[CryptographicIdentifier | None]]
SIGNED_GET = ("(request-target)", "host", "date")
SIGNED_POST = ("(request-target)", "host", "date", "digest")


@functools.lru_cache(maxsize=256)
def _secret(key_id: str, private_key: str) -> CryptographicSecret:
    # Loading a PEM costs about a millisecond; a round of deliveries signs hundreds.
    secret: CryptographicSecret = CryptographicSecret.from_pem(key_id, private_key)
    return secret


def signed_post(
    key_id: str, private_key: str, url: str, body: bytes, now: datetime
) -> dict[str, str]:
    """The headers of a POST of `body` to `url`, signed with the actor's key."""
    parts = urlsplit(url)
    date = format_datetime(now, usegmt=True)
    digest = content_digest_sha256(body, prefix="SHA-256")
    signature = (
        build_signature(parts.netloc, "post", _target(url))
        .with_field("date", date)
        .with_field("digest", digest)
        .sign_for_http_draft(_secret(key_id, private_key))
    )
    return {
        "Host": parts.netloc,
        "Date": date,
        "Digest": digest,
        "Content-Type": MEDIA_TYPE,
        "Signature": signature,
    }


def signed_get(key_id: str, private_key: str, url: str, now: datetime) -> dict[str, str]:
    """The headers of a GET of `url`, signed: servers in "authorized fetch" mode answer
    only signed requests."""
    parts = urlsplit(url)
    date = format_datetime(now, usegmt=True)
    signature = (
        build_signature(parts.netloc, "get", _target(url))
        .with_field("date", date)
        .sign_for_http_draft(_secret(key_id, private_key))
    )
    return {"Host": parts.netloc, "Date": date, "Signature": signature}


def key_id_of(headers: Mapping[str, str]) -> str | None:
    """The keyId a request's Signature names, if it has one that parses."""
    try:
        key_id: str = Signature.from_signature_header(headers["signature"]).key_id
    except (KeyError, ValueError, IndexError):
        return None
    return key_id


async def signer(
    method: str, url: str, headers: Mapping[str, str], body: bytes, lookup: KeyLookup
) -> str | None:
    """The actor whose key signed this request (None: unsigned, forged, tampered, stale,
    or signed over too little)."""
    try:
        parsed = Signature.from_signature_header(headers["signature"])
    except (KeyError, ValueError, IndexError):
        return None
    needed = SIGNED_POST if method.upper() == "POST" else SIGNED_GET
    if not set(needed) <= set(parsed.fields):
        return None

    async def read() -> bytes:
        return body

    checker = SignatureChecker(lookup)
    # bovine reads headers by lower-case name: aiohttp's are case-insensitive.
    owner: str | None = await checker.validate_signature(method, url, headers, read)  # type: ignore[arg-type]
    return owner


def _target(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")
