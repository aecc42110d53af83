"""Replayed answers served in front of aiohttp's routing and middleware.

A cached answer needs no route: it is found by the request target alone (feeds/web/hot.py).
aiohttp's router and middleware chain cost about a quarter of such a request (measured
with ../shared/tools/service-vs-bare: 0.73-0.82x of a bare aiohttp handler behind them,
1.03-1.05x in front of them). aiohttp has no public hook before routing, so the front
wraps the application's request handler, the callable its runner hands to the HTTP server
(`Application._handle`, unchanged since aiohttp 1.0). Should a release rename it, the
front is not installed and every request takes the routed way: slower, never wrong; the
test suite then fails on the replay tests, which is how we would hear of it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from feeds import metrics
from feeds.web.app_keys import hot_key, revision_key
from feeds.web.hot import route_of

log = logging.getLogger(__name__)

RequestHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def install_front(app: web.Application) -> bool:
    """Answer requests served before ahead of routing; False where aiohttp has no place."""
    routed: RequestHandler | None = getattr(app, "_handle", None)
    if routed is None:
        log.warning("aiohttp has no Application._handle: cached answers go through routing")
        return False
    hot, revision = app[hot_key], app[revision_key]

    async def front(request: web.Request) -> web.StreamResponse:
        # Keyed by target, Host and coding: a key was stored only after the request had
        # passed the boundary (feeds/web/boundary.py) once.
        replay = hot.answer(request, revision.value)
        if replay is not None:
            return replay
        status = 500
        try:
            response = await routed(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            metrics.requests(route_of(request), status).inc()

    app._handle = front  # type: ignore[method-assign]
    return True
