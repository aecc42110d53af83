"""Replayed answers served in front of aiohttp's routing and middleware.

A cached answer needs no route: it is found by the request target alone (feeds/web/cache.py).
aiohttp's router and middleware chain cost about a quarter of such a request (measured
with ../shared/tools/service-vs-bare: 0.73-0.82x of a bare aiohttp handler behind them,
1.03-1.05x in front of them). aiohttp has no public hook before routing, so the front
wraps the application's request handler, the callable its runner hands to the HTTP server
(`Application._handle`, unchanged since aiohttp 1.0). It is a private hook, so it is
guarded: aiohttp is bounded below its next major version (pyproject.toml); should a
release rename the attribute, or refuse its assignment (aiohttp's development branch makes
`Application` final, with `__slots__`), the front is not installed and every request takes
the routed way: slower, never wrong, and said in the log. A replay that fails takes the
routed way too. `tests/test_web.py` fails the day the hook is absent.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from feeds import metrics
from feeds.web.cache import answers_key, route_of

log = logging.getLogger(__name__)

RequestHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def install_front(app: web.Application) -> bool:
    """Answer requests served before ahead of routing; False where aiohttp has no place."""
    routed: RequestHandler | None = getattr(app, "_handle", None)
    if routed is None:
        log.warning("aiohttp has no Application._handle: cached answers go through routing")
        return False
    # Looked up once: a replay is a few attribute reads and one dictionary look-up.
    replays, revision = app[answers_key].replays, app[answers_key].revision

    async def front(request: web.Request) -> web.StreamResponse:
        # Keyed by target, Host and coding: a key was stored only after the request had
        # passed the boundary (feeds/web/boundary.py) once.
        try:
            replay = replays.answer(request, revision.value)
        except Exception:  # a bug in the replay: the routed way still answers
            log.exception("replaying %s failed; answered through routing", request.path)
            replay = None
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

    try:
        app._handle = front  # type: ignore[method-assign]
    except (AttributeError, TypeError) as exc:  # a final Application, slotted
        log.warning("aiohttp refused the front (%s): cached answers go through routing", exc)
        return False
    return True
