"""In a real browser, nothing an upstream site sends runs: not on our pages, not on a
website that embeds our feeds the way a website does (titles as text, content as HTML)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from feeds.config import Config, Settings
from feeds.harvest import Harvester
from feeds.model import Network, Site, SourceConfig
from feeds.store import open_store
from feeds.web.app import create_app
from sources.base import SourceContext
from sources.wordpress import WordPressSource
from tests.conftest import Serve
from tests.helpers import LOCAL
from tests.upstream import Upstream

PWN = "window.__pwned=(window.__pwned||0)+1"
HOSTILE_POSTS = [
    {
        "id": n,
        "link": f"javascript:{PWN}",
        "date_gmt": f"2025-02-2{n}T09:00:00",
        "title": {"rendered": title},
        "excerpt": {"rendered": f"<img src=x onerror={PWN}>Kurz"},
        "content": {
            "rendered": f'<p>Hallo<img src="x" onerror="{PWN}"><script>{PWN}</script>'
            f'<a href="javascript:{PWN}">klick</a><svg onload="{PWN}"></svg>'
            f'<iframe src="javascript:{PWN}"></iframe><img srcset="javascript:{PWN} 2x"></p>'
        },
        "_embedded": {
            "wp:featuredmedia": [{"source_url": f"javascript:{PWN}", "alt_text": "<b>x</b>"}]
        },
    }
    for n, title in enumerate(
        [
            f"&amp;lt;script&amp;gt;{PWN}&amp;lt;/script&amp;gt; Termine",
            f"<script>{PWN}</script>Konzert",
            f"<img src=x onerror={PWN}>Fest",
        ],
        1,
    )
]
EMBED = """<!DOCTYPE html><html><head><meta charset="utf-8"></head><body><ul id="list"></ul>
<script>
// What the network's website does with a feed: titles as text, content_html as HTML.
fetch(new URL("/kaiserslautern/news.json", document.currentScript.dataset.base))
  .then((r) => r.json())
  .then((feed) => {
    for (const item of feed.items) {
      const li = document.createElement("li");
      const h = document.createElement("h2");
      h.textContent = item.title;
      const body = document.createElement("div");
      body.innerHTML = item.content_html;
      li.append(h, body);
      if (item.url) { const a = document.createElement("a"); a.href = item.url; li.append(a); }
      if (item.image) {
        const img = document.createElement("img"); img.src = item.image; li.append(img);
      }
      document.getElementById("list").append(li);
    }
    document.body.dataset.done = "yes";
  }, (e) => { document.body.dataset.done = "error: " + e; });
</script></body></html>"""


async def hostile_service(upstream: Upstream, tmp_path: Path, serve: Serve) -> str:
    async def posts(request: web.Request) -> web.StreamResponse:
        return web.json_response(HOSTILE_POSTS, headers={"X-WP-TotalPages": "1"})

    upstream.add("/wp-json/wp/v2/posts", posts)
    site = Site(
        slug="kaiserslautern",
        name="Engagierte Stadt Kaiserslautern",
        sources=(SourceConfig(name="wp", kind="wordpress", interval=timedelta(hours=1)),),
    )
    context = SourceContext(
        site="kaiserslautern",
        source="wp",
        timezone="Europe/Berlin",
        homepage=None,
        config_dir=tmp_path,
    )
    sources = {
        ("kaiserslautern", "wp"): WordPressSource.from_config(context, {"url": upstream.base})
    }
    network = Network(name="Engagierte Stadt", sites=(site,))
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'feeds.sqlite3'}", outbound=LOCAL)
    store = await open_store(settings.database_url)
    try:
        [outcome] = await Harvester(store, network, sources, outbound=LOCAL).run_once()
        assert (outcome.status, outcome.new) == ("ok", 3), outcome
    finally:
        await store.close()
    return await serve(create_app(settings, Config(network, sources), harvest=False))


async def test_no_upstream_script_runs_in_a_browser(
    upstream: Upstream, tmp_path: Path, serve: Serve, browser: Any
) -> None:
    base = await hostile_service(upstream, tmp_path, serve)

    async def embed(request: web.Request) -> web.StreamResponse:
        page = EMBED.replace("<script>\n", f'<script data-base="{base}">\n', 1)
        return web.Response(text=page, content_type="text/html")

    upstream.add("/embed.html", embed)  # another origin: CORS is part of the test
    page = await browser.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    posts = json.loads(await (await page.request.get(f"{base}/kaiserslautern/news.json")).text())[
        "items"
    ]
    # Each post's own page shows its text (sanitized HTML) and its title (text).
    post_pages = [f"{base}/kaiserslautern/posts/{p['id'].removeprefix('urn:uuid:')}" for p in posts]
    assert len(post_pages) == 3
    for url in (f"{base}/", f"{base}/kaiserslautern/", f"{base}/status", *post_pages):
        response = await page.goto(url)
        assert response is not None
        assert response.status == 200, url
        assert await page.evaluate("window.__pwned") is None, url
    await page.goto(f"{upstream.base}/embed.html")
    await page.wait_for_function("document.body.dataset.done !== undefined", timeout=10_000)
    assert await page.evaluate("document.body.dataset.done") == "yes"
    await page.wait_for_timeout(300)  # let images fail and handlers (if any) fire
    assert await page.evaluate("window.__pwned") is None
    assert dialogs == []
    titles = await page.eval_on_selector_all("h2", "els => els.map(e => e.textContent)")
    feed_titles = [
        item["title"]
        for item in json.loads(
            await (await page.request.get(f"{base}/kaiserslautern/news.json")).text()
        )["items"]
    ]
    assert titles == feed_titles
    assert any("<script>" in t or "&lt;script&gt;" in t for t in titles)  # shown as text
    hrefs = await page.eval_on_selector_all(
        "a[href], img[src], iframe[src]",
        "els => els.map(e => e.getAttribute('href') || e.getAttribute('src'))",
    )
    assert not [h for h in hrefs if h.strip().lower().startswith("javascript:")]
