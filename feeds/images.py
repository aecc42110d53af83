"""Photos without tracking: the groups' images are fetched by the harvester, once, and
kept as copies the pages load from the service itself, so a visitor's address goes to
no group's server (pages' CSP: `img-src 'self' data:`).

An image is downloaded within the outbound policy and bounds (15 MB, 20 s, an image type
in Content-Type), opened by Pillow only as JPEG, PNG, WebP or GIF (never SVG, which can
carry scripts), refused past 40 megapixels before it is decoded (decompression bombs),
turned upright by its EXIF orientation, and re-encoded as WebP at the widths the pages
use (400, 800, 1200; never wider than it was), the largest at most 150 kB. Re-encoding
keeps no metadata: EXIF (GPS, camera) and ICC profiles stay behind. The copies are named
by the original's digest and kept in the store, so several instances serve the same.

Feeds keep the upstream address: feed readers fetch (and mostly proxy) images themselves,
and a feed item republishes the group's post, whose text links its own pictures anyway.
A refused or broken image is recorded with its reason and never costs its item or page.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import warnings
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from PIL import Image, ImageOps, UnidentifiedImageError

from feeds.store import ImageCopy, Store
from sources.base import LocalImages, Source
from sources.outbound import bounded

log = logging.getLogger(__name__)

WIDTHS = (400, 800, 1200)
MAX_DOWNLOAD_BYTES = 15 * 1024 * 1024
MAX_PIXELS = 40_000_000  # a 7,700 × 5,200 photo; bombs claim billions
LARGEST_BYTES = 150 * 1024
QUALITIES = (80, 70, 60, 50, 40)  # WebP, tried in turn until the copy is small enough
FORMATS = ("JPEG", "PNG", "WEBP", "GIF")
ACCEPTED_TYPES = {"image/jpeg", "image/png", "image/webp", "image/gif"}
TIMEOUT_SECONDS = 20.0
NEW_PER_HARVEST = 40  # images fetched per source and harvest; the rest come next time
AT_ONCE = 4  # images of one source fetched at the same time

# Where an image's bytes come from: the group's server, or a folder of the files adapter.
Load = Callable[[str], Awaitable[bytes]]


class ImageRefusedError(ValueError):
    """Not an image the service keeps; the message says why. `lasting`: so it will stay
    (kept as refused); else it could not be had this time (asked again next harvest)."""

    def __init__(self, message: str, *, lasting: bool = True) -> None:
        super().__init__(message)
        self.lasting = lasting


def copies(data: bytes) -> tuple[ImageCopy, dict[str, bytes]]:
    """The copies of an image's bytes (CPU: run it in a thread); raises ImageRefusedError."""
    digest = hashlib.blake2b(data, digest_size=16).hexdigest()
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=FORMATS)
            if image.width * image.height > MAX_PIXELS:
                raise ImageRefusedError(
                    f"{image.width} × {image.height} pixels: a decompression bomb, or more than"
                    f" any photo needs ({MAX_PIXELS:,} at most)"
                )
            image.draft("RGB", (max(WIDTHS), max(WIDTHS)))  # JPEG: decode at a smaller scale
            upright = ImageOps.exif_transpose(image)
        except UnidentifiedImageError as exc:
            raise ImageRefusedError(f"not an image the service keeps ({exc})") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageRefusedError(f"a decompression bomb ({exc})") from None
        except (OSError, ValueError, SyntaxError) as exc:  # truncated or corrupt
            raise ImageRefusedError(f"a broken image ({exc})") from None
    has_alpha = upright.mode in ("RGBA", "LA", "PA") or "transparency" in upright.info
    picture = upright.convert("RGBA" if has_alpha else "RGB")
    files: dict[str, bytes] = {}
    made: list[int] = []
    for target in sorted({min(w, picture.width) for w in WIDTHS}):
        width = target
        while True:
            height = max(1, round(picture.height * width / picture.width))
            sized = (
                picture
                if width == picture.width
                else picture.resize((width, height), Image.Resampling.LANCZOS)
            )
            encoded = _smallest(sized)
            # Past the lowest quality still too big (grain, noise): a little narrower.
            if len(encoded) <= LARGEST_BYTES or width <= WIDTHS[0] // 2:
                break
            width = int(width * 0.85)
        if width not in made:
            made.append(width)
            files[f"{digest}-{width}.webp"] = encoded
    widths = tuple(sorted(made))
    largest_height = max(1, round(picture.height * widths[-1] / picture.width))
    return ImageCopy(digest, widths, widths[-1], largest_height), files


def _smallest(picture: Image.Image) -> bytes:
    """WebP at the best quality that keeps within LARGEST_BYTES (else the lowest tried)."""
    for quality in QUALITIES:
        buffer = io.BytesIO()
        picture.save(buffer, "WEBP", quality=quality, method=4)  # no exif=: none is kept
        if buffer.tell() <= LARGEST_BYTES:
            break
    return buffer.getvalue()


async def download(session: aiohttp.ClientSession, url: str) -> bytes:
    """The image's bytes, within the bounds; raises ImageRefusedError."""
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)) as got:
            if got.status != 200:
                gone = got.status in (404, 410)  # else the server may answer later
                raise ImageRefusedError(f"the server answered {got.status}", lasting=gone)
            kind = got.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if kind not in ACCEPTED_TYPES:
                raise ImageRefusedError(f"not an image type the service keeps: {kind or 'none'}")
            if (got.content_length or 0) > MAX_DOWNLOAD_BYTES:
                raise ImageRefusedError(f"larger than {MAX_DOWNLOAD_BYTES // 2**20} MB")
            return await bounded(got.content, MAX_DOWNLOAD_BYTES, ImageRefusedError)
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise ImageRefusedError(
            f"cannot be fetched ({type(exc).__name__}: {exc})", lasting=False
        ) from exc


def read_local(path: Path) -> bytes:
    """An image in a files source's folder, within the same bound as a download."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_DOWNLOAD_BYTES + 1)
    except OSError as exc:
        raise ImageRefusedError(f"cannot be read ({exc.strerror or exc})") from None
    if len(data) > MAX_DOWNLOAD_BYTES:
        raise ImageRefusedError(f"larger than {MAX_DOWNLOAD_BYTES // 2**20} MB")
    return data


def loader(session: aiohttp.ClientSession, source: Source) -> Load:
    """How this source's images are had: from its folder where it has them, else fetched."""

    async def load(url: str) -> bytes:
        path = source.local_image(url) if isinstance(source, LocalImages) else None
        if path is not None:
            return await asyncio.to_thread(read_local, path)
        return await download(session, url)

    return load


async def keep_new(store: Store, load: Load, addresses: Iterable[str], site: str) -> int:
    """Fetch and keep the images of these addresses the store does not know yet (at most
    NEW_PER_HARVEST, AT_ONCE at a time); how many were kept. Failures are recorded, never
    raised."""
    asked = list(dict.fromkeys(a for a in addresses if a))
    if not asked:
        return 0
    known = await store.images(asked)
    limit = asyncio.Semaphore(AT_ONCE)

    async def keep(url: str) -> bool:
        async with limit:
            try:
                copy, files = await asyncio.to_thread(copies, await load(url))
            except ImageRefusedError as exc:
                log.warning("image of %s refused: %s: %s", site, url, exc)
                if exc.lasting:
                    await store.keep_image(url, None, str(exc), {}, datetime.now(UTC))
                return False
            await store.keep_image(url, copy, None, files, datetime.now(UTC))
            return True

    new = [a for a in asked if a not in known][:NEW_PER_HARVEST]
    return sum(await asyncio.gather(*(keep(url) for url in new)))
