"""The edge of the service: what every request meets before a handler, and every answer
after it. Malformed requests end here as a 4xx that says what is wrong; every answer,
errors included, carries CORS so the network's website can read it (also a 404's words)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from feeds.web.parameters import QueryError, excerpt

MAX_TARGET = 4096  # characters of path and query: no feed URL of ours is near it
# aiohttp's own limit on a request line, raised above MAX_TARGET so that a long URL meets
# our 414 with words instead of the parser's 400 with a bytearray in it.
SERVER_LIMITS: dict[str, Any] = {"max_line_size": 65536, "max_field_size": 16384}
CORS = {
    "Access-Control-Allow-Origin": "*",
    # Lets the network's website read validators when it embeds a feed with fetch().
    "Access-Control-Expose-Headers": "ETag, Last-Modified",
}
PREFLIGHT = {
    **CORS,
    "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
    "Access-Control-Allow-Headers": "Accept, Accept-Language, If-None-Match, If-Modified-Since",
    "Access-Control-Max-Age": "86400",
}
# RFC 9110 7.2 / RFC 3986 3.2.2: a name or an address, and maybe a port.
_HOST = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?"
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def boundary(request: web.Request, handler: Handler) -> web.StreamResponse:
    # (A request answered before was answered again in front of routing: feeds/web/front.py.)
    refusal = _refusal(request)
    if refusal is not None:
        return refusal
    if request.method == "OPTIONS":  # a CORS preflight: GET and HEAD are open to all
        return web.Response(status=204, headers=PREFLIGHT)
    try:
        response = await handler(request)
    except QueryError as exc:
        return web.Response(status=400, text=f"{exc}\n", headers=CORS)
    except web.HTTPException as exc:
        exc.headers.update(CORS)
        raise
    for name, value in CORS.items():
        response.headers.setdefault(name, value)
    return response


def _refusal(request: web.Request) -> web.Response | None:
    """A 4xx for a request no handler should see, with what is wrong in words."""
    target = request.raw_path
    if len(target) > MAX_TARGET:
        return web.Response(
            status=414,
            text=f"the address is {len(target)} characters long; at most {MAX_TARGET} are read\n",
            headers=CORS,
        )
    host = request.headers.get("Host")
    if host is not None and not _HOST.fullmatch(host):
        return web.Response(
            status=400, text=f"the Host header {excerpt(host)} is no host name\n", headers=CORS
        )
    return None
