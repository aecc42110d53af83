"""The service's copies of the groups' images (feeds/images.py), as the views use them:
pages show them in every width they have, feeds and calendars name the largest.

Feeds and calendars name our copy too, not the group's server: a feed reader or calendar
that does not proxy images then tells no group who reads, and an image from a files
source's folder has no address but ours. Until the copy is made, they name the upstream
address; an image the service refused (a bomb, SVG, not an image) they do not name at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TypeVar

from feeds.model import Event, Image, Post, Stored
from feeds.render.pictures import Shown, addresses, shown
from feeds.store import ImageCopy, Store
from feeds.urls import Urls

T = TypeVar("T", Post, Event)


async def pictures_of(
    store: Store, items: Sequence[Post | Event], *, in_texts: bool = False
) -> dict[str, ImageCopy | None]:
    """Our copies of these items' images, by upstream address (None: refused); with
    `in_texts`, of the pictures within their texts too."""
    return await store.images(addresses(items, in_texts=in_texts))


def picture(copies: dict[str, ImageCopy | None], item: Post | Event, links: Urls) -> Shown | None:
    if item.image is None:
        return None
    return shown(copies.get(item.image.url), item.image.alt, links)


def og_image(shown_image: Shown | None) -> Image | None:
    """What a page names for link previews: our largest copy, never the group's server."""
    if shown_image is None:
        return None
    return Image(url=shown_image.largest, alt=shown_image.alt or None)


async def with_own_images(
    store: Store, stored: Sequence[Stored[T]], links: Urls
) -> list[Stored[T]]:
    """These items with their images as feeds and calendars name them (see above)."""
    copies = await pictures_of(store, [s.item for s in stored])
    if not copies:
        return list(stored)
    return [_own(s, copies, links) for s in stored]


def _own(stored: Stored[T], copies: dict[str, ImageCopy | None], links: Urls) -> Stored[T]:
    image = stored.item.image
    if image is None or image.url not in copies:
        return stored
    copy = copies[image.url]
    own = None if copy is None else replace(image, url=links.image(copy.name(copy.widths[-1])))
    return replace(stored, item=replace(stored.item, image=own))
