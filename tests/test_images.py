"""Photos without tracking: a group's feed carries a 3000×2000 camera photo with its GPS
position in EXIF, and a "photo" that is a pixel bomb. The pages show the first from the
service's own address (WebP, at most 150 kB, no EXIF), leave the second out and still
answer 200, and allow images only from the service."""

from __future__ import annotations

import io
import json
import random
import struct
import zlib
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import aiohttp
import feedparser
import lxml.html
import pytest
from aiohttp import web
from PIL import Image

from feeds.config import Settings, load_config
from feeds.harvest import Harvester
from feeds.images import ImageRefusedError, copies
from feeds.store import open_store
from feeds.web.app import create_app
from tests.conftest import Serve
from tests.helpers import LOCAL, get
from tests.upstream import Upstream

GPS = 0x8825  # the EXIF GPS directory


def camera_photo() -> bytes:
    """A 3000×2000 JPEG as a phone takes it: noisy (so it is big), with where it was taken."""
    generator = random.Random(7)
    small = Image.new("RGB", (300, 200))
    small.putdata([tuple(generator.randrange(256) for _ in range(3)) for _ in range(300 * 200)])
    photo = small.resize((3000, 2000), Image.Resampling.BICUBIC)
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif.get_ifd(GPS).update({1: "N", 2: (49.0, 26.0, 41.0), 3: "E", 4: (7.0, 46.0, 8.0)})
    out = io.BytesIO()
    photo.save(out, "JPEG", quality=92, exif=exif.tobytes())
    return out.getvalue()


def pixel_bomb() -> bytes:
    """A PNG of a few hundred bytes that claims 100,000 × 100,000 pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\0" * 4096)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )


def big(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("L", (width, height)).save(out, "PNG")
    return out.getvalue()


def feed(base: str) -> bytes:
    when = format_datetime(datetime.now(UTC) - timedelta(hours=3))
    # The first post's text has pictures of its own: a photo, and a logo that is SVG.
    text = (
        f'<p>Am Ufer stehen jetzt sechs Bänke.</p><p><img src="{base}/ufer.png"'
        f' alt="Zwei Bänke am Ufer"> Gestiftet vom Heimatverein.</p><img src="{base}/logo.svg">'
    )
    items = "".join(
        f"<item><title>{title}</title><link>https://seestadt.example/{n}/</link>"
        f"<guid>https://seestadt.example/?p={n}</guid><pubDate>{when}</pubDate>"
        f"<description><![CDATA[{text if n == 0 else 'Text'}]]></description>"
        f'<enclosure url="{base}/{image}" type="image/jpeg" length="0"/></item>'
        for n, (title, image) in enumerate(
            [("Neue Bänke am See", "bank.jpg"), ("Rätselhaftes Bild", "bild.jpg")]
        )
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        "<title>Seestadt</title><link>https://seestadt.example/</link>"
        f"<description>x</description>{items}</channel></rss>"
    ).encode()


async def test_pages_show_the_groups_photos_from_the_service_only(
    upstream: Upstream,
    tmp_path: Path,
    settings: Settings,
    serve: Serve,
    http: aiohttp.ClientSession,
) -> None:
    photo = camera_photo()
    assert len(photo) > 1_000_000
    assert Image.open(io.BytesIO(photo)).getexif().get_ifd(GPS)  # the position is there
    served = {"bank.jpg": photo, "bild.jpg": pixel_bomb(), "ufer.png": big(900, 600)}

    def image(name: str) -> web.Response:
        return web.Response(body=served[name], content_type="image/jpeg")

    async def ufer(request: web.Request) -> web.Response:
        return web.Response(body=served["ufer.png"], content_type="image/png")

    async def logo(request: web.Request) -> web.Response:
        svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
        return web.Response(body=svg, content_type="image/svg+xml")

    async def news(request: web.Request) -> web.Response:
        return web.Response(body=feed(upstream.base), content_type="application/rss+xml")

    async def bank(request: web.Request) -> web.Response:
        return image("bank.jpg")

    async def bild(request: web.Request) -> web.Response:
        return image("bild.jpg")

    upstream.add("/feed/", news)
    upstream.add("/bank.jpg", bank)
    upstream.add("/bild.jpg", bild)
    upstream.add("/ufer.png", ufer)
    upstream.add("/logo.svg", logo)
    (tmp_path / "sites.toml").write_text(
        '[network]\nname = "N"\n\n[[sites]]\nslug = "seestadt"\nname = "Seestadt"\n\n'
        f'[[sites.sources]]\nname = "news"\nkind = "feed"\nurl = "{upstream.base}/feed/"\n',
        encoding="utf-8",
    )
    config = load_config(tmp_path / "sites.toml")
    store = await open_store(settings.database_url)
    [outcome] = await Harvester(store, config.network, config.sources, outbound=LOCAL).run_once()
    assert outcome.status == "ok"
    await store.close()
    base = await serve(create_app(settings, config, harvest=False))

    status, headers, body = await get(http, f"{base}/seestadt/")
    assert status == 200
    policy = headers["Content-Security-Policy"]
    assert "img-src 'self'" in policy
    assert "https:" not in policy.split("img-src", 1)[1].split(";")[0]
    page = lxml.html.fromstring(body)
    pictures = page.cssselect("img.picture")
    assert len(pictures) == 1  # the bomb's post is there, without a picture
    assert "Rätselhaftes Bild" in body.decode()
    picture = pictures[0]
    sources = [part.split()[0] for part in picture.get("srcset").split(", ")]
    assert all(src.startswith(f"{base}/images/") for src in [picture.get("src"), *sources])
    for src in sources:
        status, headers, data = await get(http, src)
        assert status == 200
        assert headers["Content-Type"] == "image/webp"
        assert (
            "immutable" in headers["Cache-Control"]
            or "max-age=31536000" in headers["Cache-Control"]
        )
        copy = Image.open(io.BytesIO(data))
        assert copy.format == "WEBP"
        assert len(data) <= 150 * 1024
        assert copy.width <= 1200
        assert not copy.getexif()  # no GPS, no camera
        assert "exif" not in copy.info
    # The largest: 1200 wide, or narrower where grain would not fit 150 kB; never skewed.
    assert 800 < copy.width <= 1200
    assert abs(copy.width / copy.height - 1.5) < 0.01
    # The post's own page: the same copy, its largest as the link preview.
    post = next(a.get("href") for a in page.cssselect(".card h3 a") if "Bänke" in a.text_content())
    status, _, body = await get(http, post)
    assert status == 200
    detail = lxml.html.fromstring(body)
    [figure] = detail.cssselect("figure img")
    assert figure.get("src").startswith(f"{base}/images/")
    [preview] = detail.xpath('//meta[@property="og:image"]/@content')
    assert preview == sources[-1]
    # Its text's photo is shown from a copy too; the SVG logo is left out.
    [inner] = detail.cssselect(".text img")
    assert inner.get("alt") == "Zwei Bänke am Ufer"
    inner_sources = [inner.get("src")] + [p.split()[0] for p in inner.get("srcset").split(", ")]
    assert all(src.startswith(f"{base}/images/") for src in inner_sources)
    assert (inner.get("width"), inner.get("height")) == ("900", "600")
    assert "Gestiftet vom Heimatverein." in detail.text_content()
    assert upstream.base not in " ".join(detail.xpath("//img/@src | //img/@srcset"))
    status, _, data = await get(http, inner.get("src"))
    assert status == 200
    assert Image.open(io.BytesIO(data)).format == "WEBP"

    # Feeds and calendars name the copy too; the refused bomb they do not name at all.
    status, _, body = await get(http, f"{base}/seestadt/news.atom")
    entries = {e.title: e for e in feedparser.parse(body).entries}
    [enclosure] = [link for link in entries["Neue Bänke am See"].links if link.rel == "enclosure"]
    assert enclosure.href == sources[-1]
    assert enclosure.type == "image/webp"
    assert not [link for link in entries["Rätselhaftes Bild"].links if link.rel == "enclosure"]
    status, _, body = await get(http, f"{base}/seestadt/news.json")
    items = {i["title"]: i for i in json.loads(body)["items"]}
    assert items["Neue Bänke am See"]["image"] == sources[-1]
    assert "image" not in items["Rätselhaftes Bild"]


def test_what_is_not_a_photo_is_refused() -> None:
    for data, reason in [
        (big(8000, 6000), "a decompression bomb, or more than any photo needs"),
        (pixel_bomb(), "a decompression bomb"),
        (
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
            "not an image",
        ),
        (camera_photo()[:5000], "broken"),
    ]:
        with pytest.raises(ImageRefusedError, match=reason):
            copies(data)


async def test_a_copy_kept_moves_the_store_revision(settings: Settings) -> None:
    """Pages rendered before a copy came are rendered again: keeping one is a change."""
    store = await open_store(settings.database_url)
    try:
        before = await store.revision()
        copy, files = copies(big(900, 600))
        now = datetime.now(UTC)
        await store.keep_image("https://seestadt.example/a.png", copy, None, files, now)
        assert await store.revision() == before + 1
        # A refusal shows nothing new: no view changes.
        await store.keep_image("https://seestadt.example/b.svg", None, "SVG", {}, now)
        assert await store.revision() == before + 1
        assert (await store.images(["https://seestadt.example/a.png"]))[
            "https://seestadt.example/a.png"
        ] == copy
    finally:
        await store.close()
