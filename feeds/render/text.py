"""Text made fit for XML."""

from __future__ import annotations

import re

# XML 1.0 allows only #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF],
# and asks to avoid the C1 controls (2.2), which feedparser reads as Windows-1252.
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def xml_safe(text: str) -> str:
    return _XML_FORBIDDEN.sub("", text)


def has_xml_forbidden(text: str) -> bool:
    """Whether lxml would refuse the text (a ValueError): a search, no copy."""
    return _XML_FORBIDDEN.search(text) is not None
