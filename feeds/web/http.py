"""HTTP semantics feed readers and calendars rely on: validators, 304, caching headers."""

from __future__ import annotations

from email.utils import format_datetime, parsedate_to_datetime

from aiohttp import web

from feeds.web.caching import Rendered


def is_fresh(request: web.Request, rendered: Rendered) -> bool:
    """RFC 9110 13.2.2: If-None-Match wins; If-Modified-Since only without it."""
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or rendered.etag in tags
    if_modified_since = request.headers.get("If-Modified-Since")
    if if_modified_since:
        try:
            since = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError):
            return False
        return since.tzinfo is not None and rendered.last_modified <= since
    return False


def respond(request: web.Request, rendered: Rendered, *, max_age: int) -> web.Response:
    headers = {
        "ETag": rendered.etag,
        "Last-Modified": format_datetime(rendered.last_modified, usegmt=True),
        "Cache-Control": f"public, max-age={max_age}",
        "Access-Control-Allow-Origin": "*",
    }
    if is_fresh(request, rendered):
        return web.Response(status=304, headers=headers)
    return web.Response(
        body=rendered.body,
        headers=headers,
        content_type=rendered.content_type.split(";")[0],
        charset="utf-8",
    )
