"""The network's categories over the groups' own: 112 groups name one topic "Klimaschutz",
"Umwelt" and "Nachhaltigkeit"; `[taxonomy]` in sites.toml names it once,
`"Umwelt & Klima" = ["Klimaschutz", "Umwelt", "Nachhaltigkeit"]`. Case and spacing are
ignored in both.

Items carry both: the network's categories are added to a group's when it is harvested
(feeds/harvest.py), so every feed, calendar and page shows them, and a changed taxonomy
reaches every item at its source's next harvest. `?category=` takes the network's names
and finds what its groups' categories cover, harvested before the taxonomy or after.
"""

from __future__ import annotations

from collections.abc import Iterable

from feeds.model import Taxonomy


def normal(category: str) -> str:
    return " ".join(category.split()).casefold()


def expand(taxonomy: Taxonomy, asked: tuple[str, ...]) -> tuple[str, ...]:
    """What `?category=` asks for: a network category with every category it covers."""
    found: list[str] = []
    for category in asked:
        found.append(category)
        for name, covered in taxonomy:
            if normal(name) == normal(category):
                found.extend(covered)
    return tuple(dict.fromkeys(found))


def extend(taxonomy: Taxonomy, categories: tuple[str, ...]) -> tuple[str, ...]:
    """An item's categories with the network's that cover any of them."""
    own = {normal(c) for c in categories}
    added = [
        name
        for name, covered in taxonomy
        if normal(name) not in own and any(normal(c) in own for c in covered)
    ]
    return (*categories, *added) if added else categories


def unmapped(taxonomy: Taxonomy, categories: Iterable[str]) -> list[str]:
    """The groups' categories no entry covers (nor names), each once, as first written."""
    known = {normal(c) for _, covered in taxonomy for c in covered}
    known |= {normal(name) for name, _ in taxonomy}
    seen: dict[str, str] = {}
    for category in categories:
        if normal(category) not in known:
            seen.setdefault(normal(category), category)
    return sorted(seen.values(), key=normal)
