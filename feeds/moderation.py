"""Moderation: the network office takes one item out of everything the service serves
(`feeds hide`), and may show it again (`feeds unhide`).

The office names the item as it met it: the address of its page here
(`…/kaiserslautern/events/<id>`), its id as feeds carry it (`urn:uuid:<id>`), or its
address on the group's website. The store keeps what was hidden by id
(feeds/store/moderation.py), so it stays hidden however often the group's site lists it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from feeds.model import Event, Post, Stored
from feeds.onboarding import address_key
from feeds.store import Hidden, ItemQuery, Store

_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Outcome:
    done: list[Hidden]  # hidden (or shown again) now
    already: list[Hidden]  # were so before


class NotFoundError(LookupError):
    """Nothing the store serves matches what the office named."""


def item_id(what: str) -> str | None:
    """The item id in an address of ours or a feed's `urn:uuid:`, if it holds one."""
    match = _ID.search(what)
    return match[0].lower() if match else None


async def hide(store: Store, what: str, reason: str | None, now: datetime) -> Outcome:
    """Hide the items `what` names; raises NotFoundError if it names none."""
    wanted = item_id(what)
    found = await _served(store, wanted, what)
    if not found:
        before = await store.hidden()
        already = [h for h in before if _names(h, wanted, what)]
        if already:
            return Outcome([], already)
        raise NotFoundError(what)
    done = await store.hide([_hidden(s, reason) for s in found], now)
    return Outcome(done, [])


async def unhide(store: Store, what: str, now: datetime) -> Outcome:
    """Show again what `what` names of the hidden items; raises NotFoundError if none."""
    wanted = item_id(what)
    every = await store.hidden()
    named = [h for h in every if _names(h, wanted, what)]
    if not named:
        raise NotFoundError(what)
    series = {(h.site, h.series) for h in named if h.series}
    named += [h for h in every if (h.site, h.series) in series and h not in named]
    return Outcome(await store.unhide([h.uuid for h in named], now), [])


async def _served(
    store: Store, wanted: str | None, what: str
) -> list[Stored[Post] | Stored[Event]]:
    found: list[Stored[Post] | Stored[Event]] = []
    if wanted:
        query = ItemQuery(ids=(wanted,))
        found = [*await store.posts(query), *await store.events(query)]
    if not found and "/" in what:
        # An address on the group's website (which may hold an id of its own): every item
        # that links there, as a post and an event of the same news may.
        key = _address(what)
        every: list[Stored[Post] | Stored[Event]] = [*await store.posts(ItemQuery())]
        every += await store.events(ItemQuery())
        found = [s for s in every if s.item.url and address_key(s.item.url) == key]
    # An event's series goes as a whole: its moved or changed dates are kept as items of
    # their own, which would stay behind, alone.
    for stored in list(found):
        if isinstance(stored.item, Event):
            parts = ItemQuery(sites=(stored.item.site,), series=(stored.item.ical_uid,))
            found.extend(e for e in await store.events(parts) if e.item.uuid != stored.item.uuid)
    unique = {str(s.item.uuid): s for s in found}
    return list(unique.values())


def _address(what: str) -> str:
    """As compared: an address typed without https:// is one all the same."""
    return address_key(what if "://" in what else f"https://{what}")


def _names(hidden: Hidden, wanted: str | None, what: str) -> bool:
    if wanted and hidden.uuid == wanted:
        return True
    return "/" in what and hidden.url is not None and address_key(hidden.url) == _address(what)


def _hidden(stored: Stored[Post] | Stored[Event], reason: str | None) -> Hidden:
    item = stored.item
    return Hidden(
        uuid=str(item.uuid),
        site=item.site,
        kind="event" if isinstance(item, Event) else "post",
        series=item.ical_uid if isinstance(item, Event) else None,
        title=item.title,
        url=item.url,
        reason=reason,
    )


def describe(hidden: Hidden) -> str:
    """One line for the office: which group, what, and where it came from."""
    kind = "event" if hidden.kind == "event" else "post"
    where = f" {hidden.url}" if hidden.url else ""
    return f"{hidden.site} {kind} “{hidden.title}” ({hidden.uuid}){where}"
