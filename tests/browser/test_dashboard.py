"""The dashboard in a real chromium against a real `sentiflow run`: live updates without a
reload, filters that drive the chart and the URL, and no request to any host but the server."""

from __future__ import annotations

import shutil
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.browser.conftest import ARTIFACTS, ROOT, Server
from tests.browser.test_live_socket import wait_until

pytestmark = pytest.mark.browser

# How long a pushed update may take to show: a ceiling for a loaded machine, not a target.
LIVE_MS = 10_000
TEXTS = [
    "I love this, absolutely wonderful service",
    "This is terrible, I am so angry about the outage",
    "The update shipped on Tuesday",
    "Worst support ever, still waiting for a refund",
    "Great job team, really happy with it",
]


def posts(n: int, source: str, topic: str, tag: str) -> list[dict[str, Any]]:
    return [
        {
            "source": source,
            "topic": topic,
            "external_id": f"{tag}-{i}",
            "text": TEXTS[i % len(TEXTS)],
        }
        for i in range(n)
    ]


def open_dashboard(page: Any, server: Server, query: str = "") -> None:
    page.goto(f"{server.url}/{query}")
    page.wait_for_selector('#conn[data-state="live"]')
    page.wait_for_selector("body[data-loaded]")


def expect_text(page: Any, selector: str, text: str, timeout: int = LIVE_MS) -> None:
    from playwright.sync_api import expect

    expect(page.locator(selector)).to_have_text(text, timeout=timeout)


def expect_attr(page: Any, selector: str, name: str, value: str, timeout: int = LIVE_MS) -> None:
    from playwright.sync_api import expect

    expect(page.locator(selector)).to_have_attribute(name, value, timeout=timeout)


def test_live_updates_filters_and_screenshot(server: Server, page: Any) -> None:
    open_dashboard(page, server)
    expect_text(page, "#c-total", "0")
    assert page.locator("#feed li").count() == 0

    server.post(posts(60, "shop", "billing", "a") + posts(40, "forum", "outage", "b"))

    # Counters, chart and feed all move without a reload.
    expect_text(page, "#c-total", "100")
    expect_attr(page, "#chart", "data-total", "100")
    from playwright.sync_api import expect

    expect(page.locator("#feed li").first).to_be_visible(timeout=LIVE_MS)
    expect(page.locator("#c-positive")).not_to_have_text("–")
    assert page.locator("#chart canvas").count() == 1
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
    docs = ROOT / "docs" / "dashboard.png"
    docs.parent.mkdir(exist_ok=True)
    if not docs.exists():
        shutil.copyfile(ARTIFACTS / "dashboard.png", docs)

    # A filter changes the chart, the counters and the URL, which then reopens the same view.
    page.fill("#f-source", "forum")
    page.press("#f-source", "Enter")
    expect_attr(page, "#chart", "data-total", "40")
    expect_text(page, "#c-total", "40")
    assert parse_qs(urlsplit(page.url).query) == {"source": ["forum"]}
    assert all(row.inner_text().count("forum") for row in page.locator("#feed li").all())

    page.check('input[name="bucket"][value="hour"]')
    expect_attr(page, "#chart", "data-bucket", "hour")
    assert parse_qs(urlsplit(page.url).query) == {"source": ["forum"], "bucket": ["hour"]}

    shared = page.context.new_page()
    open_dashboard(shared, server, "?" + urlsplit(page.url).query)
    assert shared.input_value("#f-source") == "forum"
    expect_attr(shared, "#chart", "data-total", "40")
    shared.close()

    # Live updates respect the filter: posts of another source leave the chart alone.
    server.post(posts(10, "forum", "outage", "c") + posts(25, "shop", "billing", "d"))
    expect_attr(page, "#chart", "data-total", "50")
    expect_text(page, "#c-total", "50")


SPANISH = [
    "Me encanta este servicio, el equipo es maravilloso y muy amable",
    "El servicio es terrible, estoy muy enfadado con la caída de ayer",
]


def spanish(n: int, tag: str) -> list[dict[str, Any]]:
    return [
        {"source": "shop", "external_id": f"{tag}-{i}", "text": SPANISH[i % len(SPANISH)]}
        for i in range(n)
    ]


def test_language_select_filters_the_panels_and_the_url(server: Server, page: Any) -> None:
    open_dashboard(page, server)
    server.post(posts(6, "shop", "billing", "en") + spanish(4, "es"))
    expect_text(page, "#c-total", "10")

    page.select_option("#f-lang", "es")
    expect_text(page, "#c-total", "4")
    expect_attr(page, "#chart", "data-total", "4")
    assert parse_qs(urlsplit(page.url).query) == {"lang": ["es"]}
    assert page.locator("#feed li").count() == 4

    # The live counts are of every language: with one chosen, the panels reload instead.
    server.post(posts(3, "shop", "billing", "en2") + spanish(2, "es2"))
    expect_text(page, "#c-total", "6", timeout=10_000)
    expect_attr(page, "#chart", "data-total", "6", timeout=10_000)


def test_post_detail_shows_analysis_and_model_version(server: Server, page: Any) -> None:
    open_dashboard(page, server)
    server.post(posts(3, "shop", "billing", "x"))
    page.locator("#feed .post").first.wait_for(timeout=LIVE_MS)
    page.locator("#feed .post").first.focus()
    page.keyboard.press("Enter")
    version = server.get("/api/posts")["items"][0]["analysis"]["model_version"]
    expect_text(page, "#d-model", version)
    page.keyboard.press("Escape")
    assert not page.locator("#detail").evaluate("d => d.open")


def test_pause_holds_back_the_feed(server: Server, page: Any) -> None:
    open_dashboard(page, server)
    page.keyboard.press("p")
    expect_attr(page, "#pause", "aria-pressed", "true")
    server.post(posts(5, "shop", "billing", "p"))
    expect_text(page, "#c-total", "5")
    assert page.locator("#feed li").count() == 0
    page.click("#pause")
    from playwright.sync_api import expect

    expect(page.locator("#feed li").first).to_be_visible(timeout=LIVE_MS)


def test_theme_toggle_and_keyboard(server: Server, page: Any) -> None:
    open_dashboard(page, server)
    before = page.evaluate("document.documentElement.dataset.theme")
    page.keyboard.press("t")
    after = page.evaluate("document.documentElement.dataset.theme")
    assert {before, after} == {"light", "dark"}
    page.reload()
    page.wait_for_selector("body[data-loaded]")
    assert page.evaluate("document.documentElement.dataset.theme") == after
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "f-q"


def test_loads_with_every_other_host_blocked(server: Server, page: Any) -> None:
    foreign: list[str] = []
    seen: list[str] = []

    def guard(route: Any) -> None:
        host = urlsplit(route.request.url).hostname
        if host in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            foreign.append(route.request.url)
            route.abort()

    page.context.route("**/*", guard)
    page.on("request", lambda request: seen.append(request.url))
    page.on("websocket", lambda ws: seen.append(ws.url))
    server.post(posts(20, "shop", "billing", "o"))
    open_dashboard(page, server)
    expect_text(page, "#c-total", "20")
    assert page.locator("#chart canvas").count() == 1
    assert page.locator("#emotions li").count() == 7

    assert foreign == []
    hosts = {urlsplit(url).hostname for url in seen}
    assert hosts == {"127.0.0.1"}
    assert any(url.endswith("/static/vendor/uplot/uPlot.esm.js") for url in seen)
    assert any(url.startswith("ws://127.0.0.1") for url in seen)


ANGRY = "Worst service ever, I am furious, this is terrible and I want a refund now"


def test_urgent_posts_are_handled_or_the_panel_says_not_available(
    server: Server, page: Any
) -> None:
    from playwright.sync_api import expect

    server.post(
        [{"source": "shop", "external_id": f"u{i}", "text": f"{ANGRY} #{i}"} for i in range(5)]
    )
    wait_until(lambda: server.get("/api/stats/summary")["total"] == 5)
    with server.client() as c:
        probe = c.get("/api/posts/urgent", params={"limit": 10})
    open_dashboard(page, server)
    if probe.status_code == 404:
        # A server without the urgent endpoint: the panel says so instead of breaking.
        expect(page.locator("#urgent-note")).to_contain_text("not available")
        return
    assert probe.status_code == 200
    first = page.locator("#urgent li").first
    expect(first).to_be_visible(timeout=10_000)
    post_id = first.locator(".post").get_attribute("data-id")
    before = page.locator("#urgent li").count()
    first.locator(".handle").click()
    expect(page.locator("#urgent li")).to_have_count(before - 1)
    assert server.get(f"/api/posts/{post_id}")["handled_at"] is not None


def test_trends_and_alerts_render_or_say_not_available(server: Server, page: Any) -> None:
    from playwright.sync_api import expect

    open_dashboard(page, server)
    with server.client() as c:
        trends = c.get("/api/trends/keywords", params={"window": "1h"}).status_code
        alerts = c.get("/api/alerts").status_code
    if trends == 404:
        expect(page.locator("#trends-note")).to_contain_text("not available")
    else:
        expect(page.locator("#trends-note")).not_to_contain_text("not available")
    if alerts == 404:
        expect(page.locator("#alerts-note")).to_contain_text("not available")
    else:
        expect(page.locator("#alerts-note")).to_have_text("no alerts")
