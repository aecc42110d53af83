"""Versioned schema migrations, one `NNNN_name.sql` file per step and dialect."""

from __future__ import annotations

from importlib import resources


def migrations(dialect: str) -> list[tuple[int, str]]:
    """(version, SQL) pairs in order; each runs once, in its own transaction."""
    folder = resources.files(__package__).joinpath(dialect)
    steps = [
        (int(entry.name.split("_", 1)[0]), entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if entry.name.endswith(".sql")
    ]
    return sorted(steps)
