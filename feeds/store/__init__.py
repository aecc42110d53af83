"""Where posts and events are kept: SQLite embedded by default, PostgreSQL to scale out."""

from __future__ import annotations

from feeds.store.base import (
    BatchResult,
    HarvestRecord,
    ItemQuery,
    SourceState,
    Store,
    Stored,
    StoreError,
)


async def open_store(url: str) -> Store:
    """Open (and migrate) the store named by a DATABASE_URL."""
    if url.startswith("sqlite://"):
        from feeds.store.sqlite import SQLiteStore

        return await SQLiteStore.open(url.removeprefix("sqlite://").removeprefix("/") or ":memory:")
    if url.startswith(("postgresql://", "postgres://")):
        from feeds.store.postgres import PostgresStore

        return await PostgresStore.open(url)
    scheme = url.split(":", 1)[0]
    raise StoreError(
        f"DATABASE_URL: unsupported scheme {scheme!r}"
        " (expected sqlite:///path or postgresql://user@host/database)"
    )


__all__ = [
    "BatchResult",
    "HarvestRecord",
    "ItemQuery",
    "SourceState",
    "Store",
    "StoreError",
    "Stored",
    "open_store",
]
