"""HTTP semantics feed readers and calendars rely on: validators, 304, codings, caching."""

from __future__ import annotations

from email.utils import parsedate_to_datetime

from aiohttp import web

from feeds.web.caching import CODINGS, Rendered


def negotiate(accept_encoding: str) -> str:
    """The best coding we have that the client accepts (RFC 9110 12.5.3); ties go to br."""
    weights: dict[str, float] = {}
    for part in accept_encoding.split(","):
        name, _, params = part.strip().partition(";")
        name = name.strip().lower()
        if not name:
            continue
        weight = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        weights[name] = weight
    star = weights.get("*", 0.0)
    best, best_weight = "identity", 0.0
    for coding in CODINGS:
        weight = weights.get(coding, star)
        if weight > best_weight:
            best, best_weight = coding, weight
    return best


def is_fresh(request: web.Request, rendered: Rendered) -> bool:
    """RFC 9110 13.1: If-None-Match wins; If-Modified-Since counts only without it."""
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        # Weak comparison (13.1.2); any coding of the same content is the same content.
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        ours = {rendered.etag, *(rendered.etag_for(coding) for coding in CODINGS)}
        return "*" in tags or bool(tags & ours)
    if_modified_since = request.headers.get("If-Modified-Since")
    if if_modified_since:
        try:
            since = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError):
            return False
        return since.tzinfo is not None and rendered.last_modified <= since
    return False


async def respond(request: web.Request, rendered: Rendered, *, max_age: int) -> web.Response:
    coding = "identity"
    if rendered.worth_compressing():
        coding = negotiate(request.headers.get("Accept-Encoding", ""))
    headers = {
        "ETag": rendered.etag_for(coding),
        "Last-Modified": rendered.last_modified_http,
        "Cache-Control": f"public, max-age={max_age}",
        "Vary": "Accept-Encoding",
    }
    if rendered.disposition:
        headers["Content-Disposition"] = rendered.disposition
    if is_fresh(request, rendered):
        return web.Response(status=304, headers=headers)
    if coding != "identity":
        headers["Content-Encoding"] = coding
    return web.Response(
        body=await rendered.body_for(coding),
        headers=headers,
        content_type=rendered.content_type,
        charset="utf-8",
    )
