"""HTML from upstream made safe to republish: sanitized, links absolute."""

from __future__ import annotations

from urllib.parse import urljoin

import nh3

# Media and layout a post legitimately carries; nh3's defaults drop scripts, styles,
# event handlers and javascript: URLs.
_EXTRA_TAGS = {"figure", "figcaption", "picture", "source", "video", "audio"}
_EXTRA_ATTRIBUTES = {
    "img": {"src", "srcset", "alt", "title", "width", "height", "loading"},
    "source": {"src", "srcset", "type", "media"},
    "a": {"href", "title"},
    "video": {"src", "controls", "poster", "width", "height"},
    "audio": {"src", "controls"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
}
_URL_ATTRIBUTES = {"href", "src", "poster"}


def sanitize_html(html: str, *, base_url: str | None = None) -> str:
    """Strip what a feed reader must not run; resolve relative links against base_url."""

    def absolutize(tag: str, attribute: str, value: str) -> str | None:
        if base_url and attribute in _URL_ATTRIBUTES:
            return urljoin(base_url, value)
        return value

    attributes = {tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()}
    for tag, attrs in _EXTRA_ATTRIBUTES.items():
        attributes.setdefault(tag, set()).update(attrs)
    return nh3.clean(
        html,
        tags=nh3.ALLOWED_TAGS | _EXTRA_TAGS,
        attributes=attributes,
        attribute_filter=absolutize,
        link_rel="noopener noreferrer",
    ).strip()


def absolute_url(url: str | None, base_url: str | None) -> str | None:
    if not url:
        return None
    return urljoin(base_url, url) if base_url else url
