"""The HTML index: the network, its groups and every feed, with subscribe links."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from feeds.model import Network

FEEDS = (
    ("news.atom", "Neuigkeiten (Atom)"),
    ("news.rss", "Neuigkeiten (RSS)"),
    ("news.json", "Neuigkeiten (JSON Feed)"),
    ("events.ics", "Kalender (ICS)"),
)


@dataclass(frozen=True, slots=True)
class GroupSummary:
    slug: str
    name: str
    region: str | None
    homepage: str | None
    posts: int
    events: int


def render_index(network: Network, groups: list[GroupSummary], base_url: str) -> bytes:
    def feed_links(slug: str) -> str:
        links = [
            f'<a href="{escape(base_url)}/{slug}/{path}">{escape(label)}</a>'
            for path, label in FEEDS
        ]
        webcal = base_url.replace("https://", "webcal://").replace("http://", "webcal://")
        links.append(f'<a href="{escape(webcal)}/{slug}/events.ics">Kalender abonnieren</a>')
        return " · ".join(links)

    rows = "\n".join(
        f"<li><h3>{escape(g.name)}</h3>"
        + (f"<p>{escape(g.region)}</p>" if g.region else "")
        + (f'<p><a href="{escape(g.homepage)}">{escape(g.homepage)}</a></p>' if g.homepage else "")
        + f"<p>{g.posts} Beiträge, {g.events} Termine</p><p>{feed_links(g.slug)}</p></li>"
        for g in groups
    )
    page = f"""<!DOCTYPE html>
<html lang="de">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(network.name)}: Feeds und Kalender</title>
<link rel="alternate" type="application/atom+xml" title="{escape(network.name)}"
 href="{escape(base_url)}/network/news.atom">
</head>
<body>
<main>
<h1>{escape(network.name)}</h1>
<h2>Alle Gruppen zusammen</h2>
<p>{feed_links("network")}</p>
<h2>Gruppen</h2>
<ul>
{rows}
</ul>
</main>
</body>
</html>
"""
    return page.encode()
