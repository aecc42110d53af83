"""The service's copies of upstream images (feeds/images.py), written once for both stores."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from feeds.store.base import ImageCopy
from feeds.store.dialect import Binder, Dialect, Plan, move_revision


def known(d: Dialect, urls: Sequence[str]) -> Plan[dict[str, ImageCopy | None]]:
    """What is known of these addresses: their copies, or None where it was refused."""
    if not urls:
        return {}
    bind = Binder(d)
    rows = yield bind.one(
        "SELECT url, digest, widths, width, height FROM images"
        f" WHERE url {d.one_of(bind, list(urls))}"
    )
    found: dict[str, ImageCopy | None] = {}
    for row in rows:
        if row["digest"] is None:
            found[row["url"]] = None
        else:
            widths = tuple(int(w) for w in row["widths"].split(","))
            found[row["url"]] = ImageCopy(row["digest"], widths, row["width"], row["height"])
    return found


def keep(
    d: Dialect,
    url: str,
    copy: ImageCopy | None,
    error: str | None,
    files: Mapping[str, bytes],
    now: datetime,
) -> Plan[None]:
    for name, data in files.items():
        bind = Binder(d)
        yield bind.one(
            f"INSERT INTO image_files (name, data) VALUES ({bind(name)}, {bind(data)})"
            " ON CONFLICT (name) DO NOTHING"
        )
    bind = Binder(d)
    values = [
        url,
        copy.digest if copy else None,
        ",".join(map(str, copy.widths)) if copy else None,
        copy.width if copy else None,
        copy.height if copy else None,
        error[:500] if error else None,
        d.instant(now),
    ]
    yield bind.one(
        "INSERT INTO images (url, digest, widths, width, height, error, fetched) VALUES"
        f" ({bind.each(values)}) ON CONFLICT (url) DO UPDATE SET digest = excluded.digest,"
        " widths = excluded.widths, width = excluded.width, height = excluded.height,"
        " error = excluded.error, fetched = excluded.fetched"
    )
    if copy is not None:  # pages rendered before the copy came show it now
        yield from move_revision(d)


def file(d: Dialect, name: str) -> Plan[bytes | None]:
    bind = Binder(d)
    rows = yield bind.one(f"SELECT data FROM image_files WHERE name = {bind(name)}")
    return bytes(rows[0]["data"]) if rows else None
