"""JSON Feed 1.1 (https://www.jsonfeed.org/version/1.1/) from entries."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from feeds.render.entries import Entry, FeedInfo

VERSION = "https://jsonfeed.org/version/1.1"


def render_json_feed(info: FeedInfo, entries: Sequence[Entry]) -> bytes:
    feed: dict[str, Any] = {
        "version": VERSION,
        "title": info.title,
        "home_page_url": info.alternate_url,
        "feed_url": info.self_url,
        "language": info.language,
        "items": [_item(entry) for entry in entries],
    }
    if info.subtitle:
        feed["description"] = info.subtitle
    if info.author:
        feed["authors"] = [{"name": info.author}]
    if info.hub_url:
        feed["hubs"] = [{"type": "WebSub", "url": info.hub_url}]
    return json.dumps(feed, ensure_ascii=False, separators=(",", ":")).encode()


def _item(entry: Entry) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": entry.id,
        # An event keeps its own title here: `_event` says when and where, as data.
        "title": entry.event.title if entry.event else entry.title,
        "date_published": entry.published.isoformat(),
        "date_modified": entry.updated.isoformat(),
    }
    if entry.url:
        item["url"] = entry.url
    if entry.external_url:
        item["external_url"] = entry.external_url
    # JSON Feed requires content_html or content_text.
    item["content_html"] = entry.content_html or entry.summary or ""
    if entry.summary:
        item["summary"] = entry.summary
    if entry.image:
        item["image"] = entry.image.url
    author = entry.author or (entry.site.name if entry.site else None)
    if author:
        item["authors"] = [{"name": author}]
    if entry.categories:
        item["tags"] = list(entry.categories)
    if entry.calendar_url:
        item["attachments"] = [
            {"url": entry.calendar_url, "mime_type": "text/calendar", "title": "In den Kalender"}
        ]
    if entry.site:
        item["_engagement"] = {"site": entry.site.name, "site_url": entry.site.url}
        if entry.also:
            item["_engagement"]["also"] = list(entry.also)
    if entry.event:
        item["_event"] = _event(entry)
    return item


def _event(entry: Entry) -> dict[str, Any]:
    """JSON Feed's extension for events (https://www.jsonfeed.org/version/1.1/#extensions):
    RFC 3339 times with their offset, or dates for all-day events."""
    facts = entry.event
    assert facts is not None
    location = facts.location
    data: dict[str, Any] = {
        "start": facts.start.isoformat(),
        "end": facts.end.isoformat() if facts.end else None,
        "all_day": facts.all_day,
        "timezone": facts.timezone,
        "status": facts.status.value,
        "location": None
        if location is None
        else {
            "name": location.name,
            "address": location.address,
            "geo": {"lat": location.geo[0], "lon": location.geo[1]} if location.geo else None,
        },
        "ics": entry.calendar_url,
    }
    if facts.price:
        price = facts.price
        data["price"] = {"text": price.text, "amount": price.amount,
                         "currency": price.currency, "free": price.free}  # fmt: skip
    if entry.site:
        data["group"] = {"slug": entry.site.slug, "name": entry.site.name, "url": entry.site.url}
    return data
