"""Items the network office hid (`feeds hide`): the store leaves them out of every read,
so feeds, calendars and pages lose them by themselves; only an item's own address must
say more than "not found". It answers 410 Gone, which tells feed readers, calendars and
search engines to forget it, not to come back and look."""

from __future__ import annotations

from feeds.scope import Scope
from feeds.store import Hidden, Store


async def hidden_item(store: Store, scope: Scope, item_id: str) -> Hidden | None:
    """The item of this id, if it is one of the scope's and the office hid it. Asked only
    once an item was not found: a request that finds its item costs nothing more."""
    found = await store.hidden([item_id])
    if found and found[0].site in scope.site_slugs():
        return found[0]
    return None
