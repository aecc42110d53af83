"""A web page's text, decoded once, the way browsers decide (WHATWG encoding sniffing):
a byte order mark, else the charset the HTTP header names, else the page's own <meta>, else
UTF-8 if the bytes are UTF-8, else what charset-normalizer detects."""

from __future__ import annotations

import codecs
import re

import lxml.html
from charset_normalizer import from_bytes
from lxml.etree import ParserError

from sources.base import SourceError

_HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w\-:.]+)", re.I)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([\w\-:.]+)""", re.I)
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>", re.I)
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
PRESCAN = 1024  # bytes of the page looked at for a <meta> (the HTML standard's prescan)


def decode_page(body: bytes, content_type: str = "") -> str:
    """The page as text; never fails (undecodable bytes become U+FFFD)."""
    header = _HEADER_CHARSET.search(content_type)
    for candidate in (_bom(body), header[1] if header else None, _meta(body)):
        if candidate and _known(candidate):
            return body.decode(candidate, "replace").lstrip("\ufeff")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    best = from_bytes(body[:65536]).best()
    encoding = best.encoding if best is not None else "cp1252"
    return body.decode(encoding, "replace")


def page_root(body: bytes, url: str, content_type: str = "") -> lxml.html.HtmlElement:
    """The parsed page; SourceError when it is no HTML at all."""
    text = _XML_DECLARATION.sub("", decode_page(body, content_type), count=1)
    try:
        return lxml.html.document_fromstring(text, base_url=url)
    except (ParserError, ValueError) as exc:
        raise SourceError(f"{url}: not a readable HTML page ({exc})") from exc


def _bom(body: bytes) -> str | None:
    return next((name for bom, name in _BOMS if body.startswith(bom)), None)


def _meta(body: bytes) -> str | None:
    found = _META_CHARSET.search(body[:PRESCAN])
    return found[1].decode("ascii", "replace") if found else None


def _known(name: str) -> bool:
    try:
        codecs.lookup(name)
    except LookupError:
        return False
    return True
