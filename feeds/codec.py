"""Posts and events to and from plain JSON values, losslessly; the content hash over them.

A datetime keeps its wall time and zone name ("2025-03-08T20:00:00" in "Europe/Berlin"),
not only its offset, so an event read back renders with the same TZID it was harvested with.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from feeds.model import Event, EventStatus, Image, Item, Location, Post, Price

JSON = dict[str, Any]


def encode_when(value: datetime | date | None) -> JSON | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        return {"date": value.isoformat()}
    key = getattr(value.tzinfo, "key", None)
    if key:
        return {"local": value.replace(tzinfo=None).isoformat(), "tz": key}
    return {"utc": value.astimezone(UTC).isoformat()}


def decode_when(value: JSON | None) -> datetime | date | None:
    if value is None:
        return None
    if "date" in value:
        return date.fromisoformat(value["date"])
    if "local" in value:
        return datetime.fromisoformat(value["local"]).replace(tzinfo=ZoneInfo(value["tz"]))
    return datetime.fromisoformat(value["utc"])


def _decode_datetime(value: JSON | None) -> datetime | None:
    decoded = decode_when(value)
    if decoded is not None and not isinstance(decoded, datetime):
        raise ValueError(f"expected a datetime, got {decoded!r}")
    return decoded


def _encode_image(image: Image | None) -> JSON | None:
    if image is None:
        return None
    return {"url": image.url, "alt": image.alt, "credit": image.credit}


def _decode_image(value: JSON | None) -> Image | None:
    return None if value is None else Image(**value)


def encode(item: Item) -> JSON:
    if isinstance(item, Post):
        return {
            "kind": "post",
            "site": item.site,
            "source": item.source,
            "external_id": item.external_id,
            "title": item.title,
            "url": item.url,
            "summary": item.summary,
            "content_html": item.content_html,
            "author": item.author,
            "categories": list(item.categories),
            "image": _encode_image(item.image),
            "published": encode_when(item.published),
            "updated": encode_when(item.updated),
        }
    location = item.location
    return {
        "kind": "event",
        "site": item.site,
        "source": item.source,
        "external_id": item.external_id,
        "title": item.title,
        "start": encode_when(item.start),
        "end": encode_when(item.end),
        "uid": item.uid,
        "description": item.description,
        "url": item.url,
        "location": None
        if location is None
        else {
            "name": location.name,
            "address": location.address,
            "geo": list(location.geo) if location.geo else None,
        },
        "rrule": item.rrule,
        "rdates": [encode_when(d) for d in item.rdates],
        "exdates": [encode_when(d) for d in item.exdates],
        "recurrence_id": encode_when(item.recurrence_id),
        "status": item.status.value,
        "categories": list(item.categories),
        "organizer": item.organizer,
        "image": _encode_image(item.image),
        "extra": [list(pair) for pair in item.extra],
        # Only where there is one: every other event keeps its hash, and is not "changed".
        **({"price": _encode_price(item.price)} if item.price else {}),
    }


def decode(data: JSON) -> Item:
    if data["kind"] == "post":
        return Post(
            site=data["site"],
            source=data["source"],
            external_id=data["external_id"],
            title=data["title"],
            url=data["url"],
            summary=data["summary"],
            content_html=data["content_html"],
            author=data["author"],
            categories=tuple(data["categories"]),
            image=_decode_image(data["image"]),
            published=_decode_datetime(data["published"]),
            updated=_decode_datetime(data["updated"]),
        )
    loc = data["location"]
    start = decode_when(data["start"])
    assert start is not None
    return Event(
        site=data["site"],
        source=data["source"],
        external_id=data["external_id"],
        title=data["title"],
        start=start,
        end=decode_when(data["end"]),
        uid=data["uid"],
        description=data["description"],
        url=data["url"],
        location=None
        if loc is None
        else Location(
            name=loc["name"],
            address=loc["address"],
            geo=(loc["geo"][0], loc["geo"][1]) if loc["geo"] else None,
        ),
        rrule=data["rrule"],
        rdates=tuple(d for d in map(decode_when, data["rdates"]) if d is not None),
        exdates=tuple(d for d in map(decode_when, data["exdates"]) if d is not None),
        recurrence_id=decode_when(data.get("recurrence_id")),
        status=EventStatus(data["status"]),
        categories=tuple(data["categories"]),
        organizer=data["organizer"],
        image=_decode_image(data["image"]),
        extra=tuple((k, v) for k, v in data["extra"]),
        price=_decode_price(data.get("price")),
    )


def _encode_price(price: Price) -> JSON:
    return {"text": price.text, "amount": price.amount, "currency": price.currency,
            "free": price.free}  # fmt: skip


def _decode_price(value: JSON | None) -> Price | None:
    if value is None:
        return None
    return Price(text=value["text"], amount=value["amount"], currency=value["currency"],
                 free=value["free"])  # fmt: skip


def dumps(item: Item) -> str:
    return json.dumps(encode(item), ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def loads(text: str) -> Item:
    return decode(json.loads(text))


def content_hash(item: Item) -> str:
    """Hash of everything a reader or calendar sees; equal hashes mean no new revision.

    Empty fields are left out, so adding an optional field to the model later does not
    give every stored item a new revision (and every subscriber a changed calendar).
    """
    data = {key: value for key, value in encode(item).items() if value not in (None, [])}
    text = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
