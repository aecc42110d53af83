"""Images as pages show them: the service's own copies (feeds/images.py), in the widths
it keeps, with their alt text. Pure: a copy and the addresses in, what a template needs out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import lxml.html
from lxml import etree

from feeds.model import Event, Post
from feeds.sanitize import images_in, with_own_pictures, without_media
from feeds.store.base import ImageCopy
from feeds.urls import Urls


@dataclass(frozen=True, slots=True)
class Shown:
    src: str  # the smallest copy: what a browser without srcset loads
    srcset: str
    largest: str
    width: int  # of the largest: the box the browser keeps free while it loads
    height: int
    alt: str


def shown(copy: ImageCopy | None, alt: str | None, urls: Urls) -> Shown | None:
    if copy is None:
        return None
    srcset = ", ".join(f"{urls.image(copy.name(w))} {w}w" for w in copy.widths)
    return Shown(
        src=urls.image(copy.name(copy.widths[0])),
        srcset=srcset,
        largest=urls.image(copy.name(copy.widths[-1])),
        width=copy.width,
        height=copy.height,
        alt=alt or "",
    )


_MEDIA = ("img", "picture", "source", "video", "audio")
IN_TEXT_PER_ITEM = 8  # pictures within one item's text that are copied: the first ones


def addresses(items: Sequence[Post | Event], *, in_texts: bool = True) -> list[str]:
    """The upstream images of these items that pages show, each once: every featured
    image, then (with `in_texts`) the first IN_TEXT_PER_ITEM pictures of each text."""
    found = [i.image.url for i in items if i.image is not None]
    if in_texts:
        for item in items:
            html = item.content_html if isinstance(item, Post) else item.description
            found.extend(images_in(html)[:IN_TEXT_PER_ITEM] if html else ())
    return list(dict.fromkeys(found))


IN_TEXT_SIZES = "(max-width: 50rem) 100vw, 48rem"  # the width of an item page's text


def in_text(html: str, copies: Mapping[str, ImageCopy | None], urls: Urls) -> str:
    """A post's sanitized text as pages show it: each picture the service has a copy of
    is shown from the copy; every other picture, video and sound is left out (the group's
    article, linked, has them), so the page loads nothing from the group's server."""
    if not any(copies.get(url) for url in images_in(html)):
        return without_media(html)
    try:
        root = lxml.html.fragment_fromstring(html, create_parent="div")
    except (etree.ParserError, ValueError):
        return without_media(html)
    for element in list(root.iter(*_MEDIA)):
        copy = copies.get(element.get("src") or "") if element.tag == "img" else None
        if copy is None:
            element.drop_tree()  # its tail text stays
            continue
        picture = shown(copy, element.get("alt"), urls)
        assert picture is not None
        for name in list(element.attrib):
            if name not in ("alt", "title"):
                del element.attrib[name]
        element.set("src", picture.src)
        element.set("srcset", picture.srcset)
        element.set("sizes", IN_TEXT_SIZES)
        element.set("width", str(picture.width))
        element.set("height", str(picture.height))
        element.set("alt", picture.alt)
        element.set("loading", "lazy")
    inner = lxml.html.tostring(root, encoding="unicode")
    return with_own_pictures(inner.removeprefix("<div>").removesuffix("</div>"))
