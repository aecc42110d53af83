"""Files that came with the release: the pages' stylesheets and scripts, and the script a
web editor pastes (/embed.js); and the copies of the groups' images (feeds/images.py).
Each is kept like a render: a repeated request is a look-up."""

from __future__ import annotations

import re

from aiohttp import web

from feeds import urls
from feeds.render.assets import assets
from feeds.web.app_keys import store_key
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


_IMAGE_NAME = re.compile(r"[0-9a-f]{32}-[0-9]{1,4}\.webp")


@routes.get(urls.IMAGE.route)
async def image(request: web.Request) -> web.Response:
    """Our copy of a group's image: named by its content, so it never changes."""
    name = request.match_info["name"]
    if not _IMAGE_NAME.fullmatch(name):
        raise web.HTTPNotFound(text="no such image\n")
    answers, store = request.app[answers_key], request.app[store_key]
    async with answers.slot(Asked("image", item_id=name).key) as slot:
        if slot.found is None:
            data = await store.image_file(name)
            if data is None:
                raise web.HTTPNotFound(text="no such image\n")
            slot.keep(make_rendered(data, "image/webp", None, slot.revision))
    return await answers.respond(request, slot.rendered, max_age=ASSET_MAX_AGE)


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
