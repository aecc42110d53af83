"""HTTP semantics feed readers and calendars rely on: validators, 304, codings, caching."""

from __future__ import annotations

from aiohttp import web

from feeds.web.app_keys import hot_key
from feeds.web.boundary import CORS
from feeds.web.caching import CODINGS, Rendered
from feeds.web.hot import Hot, is_fresh, route_of


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


async def respond(request: web.Request, rendered: Rendered, *, max_age: int) -> web.Response:
    """The response for rendered bytes, its headers built once and kept for the next
    identical request (feeds.web.hot), which is then answered before any handler runs."""
    coding = "identity"
    if rendered.worth_compressing():
        coding = negotiate(request.headers.get("Accept-Encoding", ""))
    common = {
        "ETag": rendered.etag_for(coding),
        "Cache-Control": f"public, max-age={max_age}",
        "Vary": "Accept-Encoding",
        **CORS,
    }
    if rendered.last_modified_http:
        common["Last-Modified"] = rendered.last_modified_http
    if rendered.disposition:
        common["Content-Disposition"] = rendered.disposition
    headers = {**common, **dict(rendered.headers)}
    headers["Content-Type"] = _content_type(rendered.content_type)
    if coding != "identity":
        headers["Content-Encoding"] = coding
    hot = Hot(rendered.stamp, await rendered.body_for(coding), headers, common, route_of(request))
    request.app[hot_key].keep(request, hot)
    if is_fresh(request, rendered.stamp):
        return web.Response(status=304, headers=hot.not_modified)
    return web.Response(body=hot.body, headers=hot.headers)


def _content_type(media_type: str) -> str:
    # Text says its charset; an SVG is XML and says it in its own declaration.
    return media_type if media_type.startswith("image/") else f"{media_type}; charset=utf-8"
