"""The pages in a real browser (Debian's Chromium through Playwright), at a phone's width
and a desktop's: nothing scrolls sideways, axe-core finds no serious accessibility
violation, the subscribe links and the QR code carry the calendar's address, the event's
schema.org data parses, and the widget works on another website under a strict CSP.
Screenshots go to test-artifacts/ (or FEEDS_TEST_ARTIFACTS)."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import aiohttp
import icalendar
import pytest
import zxingcpp
from aiohttp import web
from PIL import Image

from tests.conftest import Serve
from tests.helpers import get
from tests.network import EVENTS, towns
from tests.pages_scenario import GROUP, Scenario, serve_pages
from tests.upstream import Upstream

ROOT = Path(__file__).parent.parent
ARTIFACTS = Path(os.environ.get("FEEDS_TEST_ARTIFACTS") or ROOT / "test-artifacts")
AXE = Path(__file__).parent / "js" / "node_modules" / "axe-core" / "axe.min.js"
WIDTHS = (360, 1280)
SERIOUS = ("serious", "critical")


@pytest.fixture
async def scenario(upstream: Upstream, database_url: str, serve: Serve) -> Scenario:
    return await serve_pages(upstream, database_url, serve)


@pytest.fixture(autouse=True)
def artifacts() -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)


def axe_source() -> str:
    if not AXE.exists():
        message = "axe-core is not installed (make test installs it with npm)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI must run the accessibility checks")
        pytest.skip(f"{message}: accessibility checks skipped")
    return AXE.read_text(encoding="utf-8")


class Watched:
    """A page with its console errors (CSP violations among them) and failed requests."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.errors: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(str(e)))


async def open_page(browser: Any, url: str, width: int, **context: Any) -> Watched:
    ctx = await browser.new_context(viewport={"width": width, "height": 800}, **context)
    watched = Watched(await ctx.new_page())
    response = await watched.page.goto(url, wait_until="networkidle")
    assert response is not None
    assert response.status == 200, url
    return watched


async def no_sideways_scroll(page: Any) -> None:
    widths = await page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1], f"{page.url} scrolls sideways: {widths}"


async def serious_violations(page: Any) -> list[str]:
    # Evaluated through the browser's debugging protocol: our pages' CSP does not apply.
    await page.evaluate(axe_source())
    result = await page.evaluate(
        "axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa',"
        " 'best-practice']})"
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} – {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in SERIOUS
    ]


async def screenshot(page: Any, name: str) -> None:
    await page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)


async def event_page_url(http: aiohttp.ClientSession, base: str, title: str) -> str:
    _, _, body = await get(http, f"{base}/{GROUP}/events.json?from=2025-01-01&limit=100")
    [url] = [i["url"] for i in json.loads(body)["items"] if i["title"] == title]
    assert isinstance(url, str)
    return url


async def test_pages_fit_phones_and_desktops_and_pass_axe(
    scenario: Scenario, http: aiohttp.ClientSession, browser: Any
) -> None:
    base = scenario.base
    _, _, body = await get(http, f"{base}/{GROUP}/news.json")
    post = json.loads(body)["items"][0]["id"].removeprefix("urn:uuid:")
    pages = {
        "network": f"{base}/",
        "region": f"{base}/?region=Rheinland-Pfalz",
        "group": f"{base}/{GROUP}/",
        "event": await event_page_url(http, base, "Rock Rising"),
        "series": await event_page_url(http, base, "Offener Treff"),
        "post": f"{base}/{GROUP}/posts/{post}",
        "embed": f"{base}/embed",
        "widget": f"{base}/network/widget?region=Rheinland-Pfalz",
        "status": f"{base}/status",
        "programme": f"{base}/{GROUP}/programm",
        "network programme": f"{base}/network/programm?region=Rheinland-Pfalz",
    }
    problems = []
    for width in WIDTHS:
        for name, url in pages.items():
            watched = await open_page(browser, url, width)
            if name == "embed":  # the live example runs under our pages' own strict CSP
                widget = "section.engagement-termine[data-loaded]"
                await watched.page.wait_for_selector(widget)
                assert await watched.page.get_attribute(widget, "data-loaded") == "5"
            await no_sideways_scroll(watched.page)
            problems += [
                f"{name} at {width}px: {v}" for v in await serious_violations(watched.page)
            ]
            assert watched.errors == [], (name, width, watched.errors)  # CSP included
            await screenshot(watched.page, f"{name}-{width}")
            await watched.page.context.close()
    assert problems == []


async def test_keyboard_reaches_the_content_first(scenario: Scenario, browser: Any) -> None:
    watched = await open_page(browser, f"{scenario.base}/{GROUP}/", 360)
    page = watched.page
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.textContent") == "Zum Inhalt springen"
    await page.keyboard.press("Enter")
    assert await page.evaluate("location.hash") == "#inhalt"
    await page.context.close()


async def test_subscribe_block_copy_button_and_qr_code(scenario: Scenario, browser: Any) -> None:
    base = scenario.base
    calendar = f"{base}/{GROUP}/events.ics"
    webcal = calendar.replace("http://", "webcal://", 1)
    watched = await open_page(browser, f"{base}/{GROUP}/", 360)
    page = watched.page
    hrefs = await page.eval_on_selector_all(
        ".subscribe a.button", "els => els.map(e => [e.textContent, e.href])"
    )
    assert dict(hrefs)["Im Kalender abonnieren"] == webcal
    # The copy button appears where scripts run, and copies the https address.
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    button = page.locator(f"button[data-copy='adresse-{GROUP}']")
    assert await button.is_visible()
    await button.click()
    assert await page.evaluate("navigator.clipboard.readText()") == calendar
    assert await page.locator(".subscribe .copied").first.text_content() == "Kopiert."
    # The QR code as the browser draws it, read by an independent decoder (ZXing).
    qr = page.locator(".subscribe .qr img")
    await qr.scroll_into_view_if_needed()
    image = Image.open(io.BytesIO(await qr.screenshot()))
    [found] = zxingcpp.read_barcodes(image)
    assert found.text == webcal
    await page.context.close()


async def test_event_page_json_ld_as_the_browser_sees_it(
    scenario: Scenario, http: aiohttp.ClientSession, browser: Any
) -> None:
    url = await event_page_url(http, scenario.base, "Rock Rising")
    watched = await open_page(browser, url, 1280)
    data = await watched.page.evaluate(
        "JSON.parse(document.querySelector('script[type=\"application/ld+json\"]').textContent)"
    )
    assert data["@context"] == "https://schema.org"
    assert data["@type"] == "Event"
    assert data["startDate"] == "2025-03-08T20:00:00+01:00"
    assert await watched.page.locator("h1").text_content() == "Rock Rising"
    assert await watched.page.locator(".facts time").text_content() == (
        "Sa., 8. März 2025, 20:00–23:59 Uhr"
    )
    await watched.page.context.close()


HOST_PAGE = """<!DOCTYPE html>
<html lang="de"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Engagierte Stadt – Termine in Rheinland-Pfalz</title></head>
<body><main><h1>Termine in Rheinland-Pfalz</h1>
SNIPPET
<iframe src="BASE/network/widget?region=Rheinland-Pfalz&amp;limit=3&amp;heading=none"
 title="Termine" width="100%" height="400"></iframe>
</main></body></html>"""


async def test_widget_on_another_website_under_a_strict_csp(
    scenario: Scenario, http: aiohttp.ClientSession, upstream: Upstream, browser: Any
) -> None:
    base = scenario.base
    snippet = (
        f'<script src="{base}/embed.js" data-region="Rheinland-Pfalz" data-heading="none"'
        " async></script>"
    )
    # The network's website: nothing of its own inline, only our address for the widget.
    policy = (
        f"default-src 'none'; script-src {base}; connect-src {base}; frame-src {base};"
        " style-src 'none'; img-src 'none'"
    )

    async def host(request: web.Request) -> web.StreamResponse:
        body = HOST_PAGE.replace("SNIPPET", snippet).replace("BASE", base)
        return web.Response(
            text=body, content_type="text/html", headers={"Content-Security-Policy": policy}
        )

    upstream.add("/termine.html", host)
    _, _, body = await get(http, f"{base}/network/events.json?region=Rheinland-Pfalz&limit=5")
    expected = [
        (("Abgesagt: " if i["_event"]["status"] == "cancelled" else "") + i["title"], i["url"])
        for i in json.loads(body)["items"]
    ]
    assert ("Abgesagt: Flohmarkt", expected[1][1]) in expected
    assert len(expected) == 5
    for width in WIDTHS:
        watched = await open_page(browser, f"{scenario.upstream}/termine.html", width)
        page = watched.page
        await page.wait_for_selector("section.engagement-termine[data-loaded]")
        assert await page.get_attribute("section.engagement-termine", "data-loaded") == "5"
        shown = await page.eval_on_selector_all(
            "section.engagement-termine li a", "els => els.map(e => [e.textContent, e.href])"
        )
        assert [tuple(s) for s in shown] == expected
        times = await page.eval_on_selector_all(
            "section.engagement-termine li time", "els => els.map(e => e.textContent)"
        )
        assert all(t.endswith(" Uhr") or t.count(".") >= 2 for t in times), times
        # The host page has its own heading: the box adds none, and is named for screen
        # readers; its "all events" link goes to the region's page.
        assert await page.locator("section.engagement-termine h2").count() == 0
        assert await page.get_attribute("section.engagement-termine", "aria-label") == "Termine"
        more = await page.get_attribute("section.engagement-termine p a", "href")
        assert more == f"{base}/?region=Rheinland-Pfalz"
        frame = page.frame_locator("iframe")
        framed = await frame.locator("li a").all_text_contents()
        assert framed == [title for title, _ in expected[:3]]
        framed_more = await frame.locator("p.more a").get_attribute("href")
        assert framed_more == more
        assert await frame.locator("h2").count() == 0  # heading=none
        await no_sideways_scroll(page)
        assert watched.errors == []  # no CSP violation, no script error
        await screenshot(page, f"widget-host-{width}")
        await page.context.close()


async def test_subscribing_on_android_takes_one_tap(scenario: Scenario, browser: Any) -> None:
    """Android has no app for webcal:// links: there the button leads to Google Calendar."""
    android = (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko)"
        " Chrome/126.0 Mobile Safari/537.36"
    )
    watched = await open_page(browser, f"{scenario.base}/kaiserslautern/", 360, user_agent=android)
    page = watched.page
    primary = await page.get_attribute(".subscribe a.button.primary", "href")
    google = await page.get_attribute(".subscribe a[data-google]", "href")
    assert primary == google
    assert google is not None
    assert google.startswith("https://calendar.google.com/")
    await page.context.close()
    desktop = await open_page(browser, f"{scenario.base}/kaiserslautern/", 1280)
    href = await desktop.page.get_attribute(".subscribe a.button.primary", "href")
    assert href is not None
    assert href.startswith("webcal://")
    await desktop.page.context.close()


async def test_a_visitor_finds_a_region_and_subscribes_to_its_calendar(
    scenario: Scenario, http: aiohttp.ClientSession, browser: Any
) -> None:
    """From the network's page to a state's: its groups, what is to come there, and its
    calendar by the QR code on the page, as a phone's camera would read it."""
    base = scenario.base
    watched = await open_page(browser, f"{base}/", 360)
    page = watched.page
    await page.get_by_role("link", name="Rheinland-Pfalz", exact=True).click()
    await page.wait_for_load_state("networkidle")
    assert page.url == f"{base}/?region=Rheinland-Pfalz"
    assert await page.text_content("h1") == "Engagierte Stadt in Rheinland-Pfalz"
    here = [t for t in towns() if t.state == "Rheinland-Pfalz"]
    listed = await page.eval_on_selector_all(
        "#gruppen ~ ul.groups a", "els => els.map(e => e.textContent)"
    )
    assert sorted(listed) == sorted(f"Engagierte Stadt {t.name}" for t in here)
    coming = await page.locator("#termine").locator("xpath=..").locator("li h3").all_text_contents()
    assert "Offener Treff" in coming  # Kaiserslautern's
    # The code on the page, read by an independent decoder, is the region's calendar.
    qr = page.locator(".subscribe .qr img")
    await qr.scroll_into_view_if_needed()
    [found] = zxingcpp.read_barcodes(Image.open(io.BytesIO(await qr.screenshot())))
    calendar = f"{base}/network/events.ics?region=Rheinland-Pfalz"
    assert found.text == calendar.replace("http://", "webcal://", 1)
    assert watched.errors == []
    await screenshot(page, "region-360")
    await page.context.close()
    # What a phone subscribed to it shows: the region's groups' events, no other's.
    _, _, body = await get(http, calendar)
    titles = {str(e["SUMMARY"]) for e in icalendar.Calendar.from_ical(body).walk("VEVENT")}
    meetings = {t.removeprefix("Treffen in ") for t in titles if t.startswith("Treffen in ")}
    assert meetings == {t.name for t in here if t.kind in EVENTS}
    assert "Offener Treff" in titles
    # A state no group is in, and one spelled otherwise.
    status, _, missing = await get(http, f"{base}/?region=Atlantis")
    assert status == 404
    assert "Atlantis" in missing.decode()
    async with http.get(f"{base}/?region=rheinland-pfalz", allow_redirects=False) as answer:
        assert answer.status == 308
        assert answer.headers["Location"] == f"{base}/?region=Rheinland-Pfalz"
