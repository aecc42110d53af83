"""HTML from upstream made safe to republish: sanitized, links absolute; text made plain."""

from __future__ import annotations

import re
from contextvars import ContextVar
from functools import lru_cache
from html import unescape
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import lxml.html
import nh3
from lxml import etree

from feeds.render.text import xml_safe

# Media and layout a post legitimately carries; nh3's defaults drop scripts, styles,
# event handlers and javascript: URLs.
_EXTRA_TAGS = {"figure", "figcaption", "picture", "source", "video", "audio"}
# No srcset: nh3 does not check the URLs inside it (`srcset="javascript:…"` survives), and
# src is enough for a feed reader.
_EXTRA_ATTRIBUTES = {
    "img": {"src", "alt", "title", "width", "height", "loading"},
    "source": {"src", "type", "media"},
    "a": {"href", "title"},
    "video": {"src", "controls", "poster", "width", "height"},
    "audio": {"src", "controls"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
}
_URL_ATTRIBUTES = {"href", "src", "poster"}
WEB_SCHEMES = frozenset({"http", "https"})
LINK_SCHEMES = WEB_SCHEMES | {"mailto"}  # in text, a contact is a link too
_URL_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def sanitize_html(html: str, *, base_url: str | None = None) -> str:
    """Strip what a feed reader must not run; resolve relative links against base_url.
    What XML forbids (controls, lone surrogates) goes too: made fit for every format once,
    here where it comes in, not at each render (feeds/render/syndication.py only looks)."""
    token = _BASE_URL.set(base_url)
    try:
        return xml_safe(_cleaner().clean(html).strip())
    finally:
        _BASE_URL.reset(token)


# The address relative links resolve against, for the one cleaner's attribute filter:
# building a cleaner costs six cleanings, and base URLs differ for every entry.
_BASE_URL: ContextVar[str | None] = ContextVar("base_url", default=None)


def _absolutize(tag: str, attribute: str, value: str) -> str | None:
    base_url = _BASE_URL.get()
    if base_url and attribute in _URL_ATTRIBUTES:
        return urljoin(base_url, value)
    return value


@lru_cache(maxsize=1)
def _cleaner() -> nh3.Cleaner:
    attributes = {tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()}
    for tag, attrs in _EXTRA_ATTRIBUTES.items():
        attributes.setdefault(tag, set()).update(attrs)
    return nh3.Cleaner(
        tags=nh3.ALLOWED_TAGS | _EXTRA_TAGS,
        attributes=attributes,
        attribute_filter=_absolutize,
        url_schemes=set(LINK_SCHEMES),
        link_rel="noopener noreferrer",
    )


def safe_url(
    url: str | None, base_url: str | None = None, *, schemes: frozenset[str] = WEB_SCHEMES
) -> str | None:
    """An upstream URL fit to republish: absolute, an allowed scheme, no controls or
    whitespace (a CR/LF in a URL breaks headers and calendar lines); else None."""
    if not url:
        return None
    # Browsers drop tabs and line breaks from URLs; a space inside one is a %20.
    cleaned = _URL_CONTROLS.sub("", url).strip().replace(" ", "%20")
    if base_url:
        cleaned = urljoin(base_url, cleaned)
    parts = urlsplit(cleaned)
    if parts.scheme.lower() not in schemes:
        return None
    if parts.scheme.lower() in WEB_SCHEMES and not parts.netloc:
        return None
    return cleaned if parts.path or parts.netloc else None


# Control characters have no place in text a person reads (tab and newline excepted).
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def plain_text(text: str) -> str:
    """Text with no markup left in it, for fields every client shows as text.

    Some feed readers render RSS titles as HTML and Google Calendar renders HTML in event
    text, so markup in a title or a place name must not survive. Script and style bodies
    go with their tags; a lone "<" in prose ("Kinder < 6 Jahre") stays.
    """
    text = _CONTROLS.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    if "<" not in text and "&" not in text:
        return text.strip()
    return unescape(nh3.clean(text, tags=set())).strip()


def plain_text_opt(text: str | None) -> str | None:
    return None if text is None else plain_text(text)


_HIDDEN = {"script", "style", "template"}
_BLOCKS = {
    "p",
    "div",
    "br",
    "li",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "tr",
    "blockquote",
    "figure",
    "figcaption",
}


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0  # inside <script> or <style>, whose text is not text

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self.hidden += 1
        if tag in _BLOCKS:
            self.parts.append("\n")
        if tag == "li":
            self.parts.append("• ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        if tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    """Readable plain text: blocks become lines, entities are decoded, tags dropped."""
    collector = _TextCollector()
    collector.feed(html)
    collector.close()
    lines = (line.strip() for line in "".join(collector.parts).splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


_MEDIA = {"img", "picture", "source", "video", "audio"}


def images_in(html: str) -> list[str]:
    """The http(s) addresses of the pictures in sanitized HTML, in order, each once."""
    if "<img" not in html:
        return []
    try:
        root = lxml.html.fragment_fromstring(html, create_parent="div")
    except (etree.ParserError, ValueError):
        return []
    found = (img.get("src") or "" for img in root.iter("img"))
    return list(dict.fromkeys(u for u in found if urlsplit(u).scheme in WEB_SCHEMES))


def with_own_pictures(html: str) -> str:
    """Sanitized HTML whose pictures are the service's copies (feeds/render/pictures.py
    made them so): like `without_media`, but pictures and their srcset stay."""
    return _with_own_pictures().clean(html).strip()


@lru_cache(maxsize=1)
def _with_own_pictures() -> nh3.Cleaner:
    return _page_cleaner(_MEDIA - {"img"}, {"srcset", "sizes", "decoding"})  # ours only


def without_media(html: str) -> str:
    """Sanitized HTML without upstream images, video and sound: on our pages, which load
    nothing from the groups' servers (their article, linked, has them)."""
    return _without_media().clean(html).strip()


@lru_cache(maxsize=1)
def _without_media() -> nh3.Cleaner:
    return _page_cleaner(_MEDIA, set())


def _page_cleaner(left_out: set[str], picture_attributes: set[str]) -> nh3.Cleaner:
    """A cleaner for text on our pages: the tags `left_out` go; pictures that stay (our
    copies) keep `picture_attributes` too."""
    attributes = {tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()}
    for tag, attrs in _EXTRA_ATTRIBUTES.items():
        attributes.setdefault(tag, set()).update(attrs)
    attributes["img"] |= picture_attributes
    return nh3.Cleaner(
        tags=(nh3.ALLOWED_TAGS | _EXTRA_TAGS | {"img"}) - left_out,
        attributes={tag: a for tag, a in attributes.items() if tag not in left_out},
        url_schemes=set(LINK_SCHEMES),
        link_rel="noopener noreferrer",
    )
