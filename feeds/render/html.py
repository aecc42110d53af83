"""The HTML index: the network, its groups and every feed, with subscribe links."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from feeds.model import Network

FEEDS = (
    ("news.atom", "Neuigkeiten (Atom)"),
    ("news.rss", "Neuigkeiten (RSS)"),
    ("news.json", "Neuigkeiten (JSON Feed)"),
    ("events.atom", "Termine (Atom)"),
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


def render_index(
    network: Network, groups: list[GroupSummary], base_url: str, *, scope: str = "network"
) -> bytes:
    """The network's index (scope "network") or one group's page (scope: its slug)."""

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
        + f"<p>{_count(g.posts, 'Beitrag', 'Beiträge')}, "
        + f"{_count(g.events, 'Termin', 'Termine')}</p>"
        + f"<p>{feed_links(g.slug)}</p></li>"
        for g in groups
    )
    title = network.name if scope == "network" else groups[0].name
    overview = (
        f"<h2>Alle Gruppen zusammen</h2>\n<p>{feed_links('network')}</p>\n"
        f'<p><a href="{escape(base_url)}/opml">Alle Feeds als OPML</a> für den Feedreader</p>\n'
        "<h2>Gruppen</h2>"
        if scope == "network"
        else f'<p><a href="{escape(base_url)}/">Alle Gruppen von {escape(network.name)}</a></p>'
    )
    page = f"""<!DOCTYPE html>
<html lang="de">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}: Feeds und Kalender</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 0 auto; max-width: 60rem; padding: 1rem;
  line-height: 1.5; }}
ul {{ list-style: none; padding: 0; }}
li {{ border-top: 1px solid #ddd; padding: .5rem 0; }}
h3 {{ margin: .3rem 0; }}
p {{ margin: .2rem 0; }}
</style>
<link rel="alternate" type="application/atom+xml" title="{escape(title)}"
 href="{escape(base_url)}/{scope}/news.atom">
</head>
<body>
<main>
<h1>{escape(title)}</h1>
{overview}
<ul>
{rows}
</ul>
</main>
</body>
</html>
"""
    return page.encode()


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"
