"""A real local HTTP server that plays an upstream website from files in tests/data.

A file `x.json` may have `x.json.headers` beside it ("Name: value" lines, as recorded).
`{{BASE}}` in a body or header becomes the server's own address, so links between pages
(next_rest_url, relative redirects) lead back here. ETag and Last-Modified answer
conditional requests with 304, as real servers do; `Content-Encoding: gzip` is applied.
"""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

DATA = Path(__file__).parent / "data"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Upstream:
    base: str = ""
    routes: dict[str, list[tuple[dict[str, str], Handler]]] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)  # (path_qs, headers)

    def file(
        self, path: str, name: str, *, query: dict[str, str] | None = None, status: int = 200
    ) -> None:
        """Serve tests/data/`name` at `path` (when the request's query has `query`)."""

        async def handler(request: web.Request) -> web.StreamResponse:
            body, headers = self.recorded(name)
            return conditional(request, status, headers, body)

        self.add(path, handler, query=query)

    def add(self, path: str, handler: Handler, *, query: dict[str, str] | None = None) -> None:
        self.routes.setdefault(path, []).insert(0, (query or {}, handler))

    def recorded(self, name: str) -> tuple[bytes, dict[str, str]]:
        body = (DATA / name).read_bytes().replace(b"{{BASE}}", self.base.encode())
        headers: dict[str, str] = {}
        sidecar = DATA / f"{name}.headers"
        if sidecar.exists():
            for line in sidecar.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    key, _, value = line.partition(":")
                    headers[key.strip()] = value.strip().replace("{{BASE}}", self.base)
        return body, headers

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.path_qs, dict(request.headers)))
        for query, handler in self.routes.get(request.path, []):
            if all(request.query.get(k) == v for k, v in query.items()):
                return await handler(request)
        return web.Response(status=404, text="not here")


def conditional(
    request: web.Request, status: int, headers: dict[str, str], body: bytes
) -> web.Response:
    etag, modified = headers.get("ETag"), headers.get("Last-Modified")
    if (etag and request.headers.get("If-None-Match") == etag) or (
        modified and not etag and request.headers.get("If-Modified-Since") == modified
    ):
        return web.Response(
            status=304, headers={k: v for k, v in headers.items() if k in ("ETag", "Last-Modified")}
        )
    if headers.get("Content-Encoding") == "gzip":
        body = gzip.compress(body)
    return web.Response(status=status, body=body, headers=headers)


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    site = Upstream()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", site.dispatch)
    # A misbehaving handler may still hang at the end of a test: don't wait for it.
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    tcp = web.TCPSite(runner, "127.0.0.1", 0)
    await tcp.start()
    site.base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield site
    await runner.cleanup()
