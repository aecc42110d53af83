"""Images as pages show them: the service's own copies (feeds/images.py), in the widths
it keeps, with their alt text. Pure: a copy and the addresses in, what a template needs out."""

from __future__ import annotations

from dataclasses import dataclass

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
