"""The baseline: a bare aiohttp handler that answers with bytes and headers captured from
the service, for one path in three ways (200, gzip, 304), and does nothing else.

  python -m bench.bare SPEC.json PORT PATH  (SPEC: {"identity": …, "gzip": …, "304": …},
                                             each {"status", "headers", "body" (latin-1)})

As lean as aiohttp allows, like ../shared/tools/service-vs-bare's: headers built once,
one plain route for the path.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from aiohttp import web
from multidict import CIMultiDict


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    port, path = int(sys.argv[2]), sys.argv[3]
    answers = {
        mode: (entry["status"], CIMultiDict(entry["headers"]), entry["body"].encode("latin-1"))
        for mode, entry in spec.items()
    }

    async def handler(request: web.Request) -> web.Response:
        if "If-None-Match" in request.headers:
            mode = "304"
        elif "gzip" in request.headers.get("Accept-Encoding", ""):
            mode = "gzip"
        else:
            mode = "identity"
        status, headers, body = answers[mode]
        return web.Response(status=status, headers=headers, body=body or None)

    app = web.Application()
    app.router.add_get(path, handler)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    main()
