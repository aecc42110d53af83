"""Files that came with the release: the pages' stylesheets and scripts, and the script a
web editor pastes (/embed.js). Each is kept like a render: a repeated request is a look-up."""

from __future__ import annotations

from aiohttp import web

from feeds import urls
from feeds.render.assets import assets
from feeds.web.cache import answers_key
from feeds.web.rendered import make_rendered
from feeds.web.request import Asked

routes = web.RouteTableDef()
ASSET_MAX_AGE = 365 * 24 * 3600  # versioned addresses: a new version has a new address
EMBED_MAX_AGE = 3600  # embed.js is pasted into other sites with no version in its address


@routes.get(urls.EMBED_SCRIPT.route)
async def embed_script(request: web.Request) -> web.Response:
    return await _asset(request, "embed.js", max_age=EMBED_MAX_AGE)


@routes.get(urls.STATIC.route)
async def static(request: web.Request) -> web.Response:
    return await _asset(request, request.match_info["name"], max_age=ASSET_MAX_AGE)


async def _asset(request: web.Request, name: str, *, max_age: int) -> web.Response:
    asset = assets().get(name)
    if asset is None:
        raise web.HTTPNotFound(text=f"no file named {name[:80]}\n")

    answers = request.app[answers_key]
    async with answers.slot(Asked("asset", item_id=name).key) as slot:
        if slot.found is None:
            # No date: the file came with the release; its ETag is the same on every instance.
            slot.keep(make_rendered(asset.body, asset.content_type, None, slot.revision))
    return await answers.respond(request, slot.rendered, max_age=max_age)
