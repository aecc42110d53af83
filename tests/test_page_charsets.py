"""A page's text is decoded as a browser decodes it: byte order mark, the charset the
HTTP header names, the page's <meta>, UTF-8, then detection (issue 18: a charset given
only in Content-Type was ignored, and umlauts came out as mojibake)."""

from __future__ import annotations

import pytest

from sources._html_document import decode_page
from sources.jsonld import read_page
from tests.helpers import CONTEXT

TITLE = "Straßenfest für Groß und Klein in Kaiserslautern"
PAGE = (
    "<html><head>{meta}<title>Termine</title>"
    '<script type="application/ld+json">{{"@context": "https://schema.org",'
    ' "@type": "Event", "name": "{title}", "startDate": "2025-06-14T15:00:00+02:00"}}'
    "</script></head><body><p>Wir feiern auf der Straße.</p></body></html>"
)


@pytest.mark.parametrize(
    ("encoding", "meta", "content_type"),
    [
        ("iso-8859-15", "", "text/html; charset=ISO-8859-15"),  # the header alone
        ("utf-8", "", "text/html"),  # neither: UTF-8 is tried first
        ("utf-8", "", "text/html; charset=utf-8"),
        ("cp1252", '<meta charset="windows-1252">', "text/html"),  # the page alone
        ("cp1252", "", "text/html"),  # nothing said: detected
        ("utf-8", '<meta charset="iso-8859-1">', "text/html; charset=utf-8"),  # header wins
    ],
)
def test_umlauts_survive_whatever_says_the_charset(
    encoding: str, meta: str, content_type: str
) -> None:
    body = PAGE.format(meta=meta, title=TITLE).encode(encoding)
    result = read_page(body, CONTEXT, url="https://example.org/", content_type=content_type)
    assert [event.title for event in result.events] == [TITLE]


def test_a_byte_order_mark_wins_and_is_not_text() -> None:
    body = "\ufeff<p>Grüße</p>".encode("utf-16")
    assert decode_page(body, "text/html; charset=iso-8859-1") == "<p>Grüße</p>"
