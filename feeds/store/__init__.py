"""Where posts and events are kept: SQLite embedded by default, PostgreSQL to scale out."""

from __future__ import annotations

from feeds.store.base import (
    Activity,
    ActorKey,
    BatchResult,
    Delivery,
    Follower,
    HarvestRecord,
    Hidden,
    ImageCopy,
    ItemQuery,
    Mail,
    Offload,
    SourceState,
    Store,
    StoreError,
    in_a_thread,
)
from feeds.store.renders import RenderClaim as RenderClaim
from feeds.store.renders import SharedRender as SharedRender


async def open_store(url: str, *, offload: Offload = in_a_thread) -> Store:
    """Open (and migrate) the store named by a DATABASE_URL; rows it reads are decoded by
    `offload`."""
    if url.startswith("sqlite://"):
        from feeds.store.sqlite import SQLiteStore

        path = url.removeprefix("sqlite://").removeprefix("/") or ":memory:"
        return await SQLiteStore.open(path, offload)
    if url.startswith(("postgresql://", "postgres://")):
        from feeds.store.postgres import PostgresStore

        return await PostgresStore.open(url, offload)
    scheme = url.split(":", 1)[0]
    raise StoreError(
        f"DATABASE_URL: unsupported scheme {scheme!r}"
        " (expected sqlite:///path or postgresql://user@host/database)"
    )


__all__ = [
    "Activity",
    "ActorKey",
    "BatchResult",
    "Delivery",
    "Follower",
    "HarvestRecord",
    "Hidden",
    "ImageCopy",
    "ItemQuery",
    "Mail",
    "Offload",
    "SourceState",
    "Store",
    "StoreError",
    "open_store",
]
