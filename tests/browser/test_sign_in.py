"""The dashboard and /ws/live when keys are required, in a real chromium against a real
`sentiflow run`: reads behind a sign-in (an HttpOnly session cookie, never the key in a URL),
the live feed refused without a credential, writes that say why they were refused, sign-out
and revocation ending the session."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.browser.conftest import SRC, Held, Server
from tests.browser.test_dashboard import LIVE_MS, expect_attr, expect_text

pytestmark = pytest.mark.browser
ANGRY = "This is terrible, I am so angry about the outage and nobody answers"


def make_key(server: Server, *args: str) -> str:
    """`sentiflow keys create` against the server's own data dir, as an operator would."""
    env = {**os.environ, "PYTHONPATH": str(SRC), **server.env}
    result = subprocess.run(
        [sys.executable, "-m", "sentiflow", "keys", *args],
        capture_output=True, text=True, env=env, timeout=120, check=True,
    )  # fmt: skip
    return result.stdout.strip()


def ws_refusal(server: Server, **headers: str) -> int | None:
    """The close code /ws/live answers a client with, or None if it is served."""
    url = f"ws://127.0.0.1:{server.port}/ws/live"
    with connect(url, open_timeout=10, additional_headers=headers) as socket:
        try:
            socket.recv(timeout=1.5)
        except TimeoutError:
            return None
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None
        return None


def sign_in(page: Any, key: str) -> None:
    page.fill("#sign-in-key", key)
    page.click("#sign-in-submit")


def post(server: Server, key: str, posts: list[dict[str, Any]]) -> None:
    with server.client() as client:
        response = client.post("/api/posts", json=posts, headers={"X-API-Key": key})
    assert response.status_code == 202, response.text


def test_reads_need_a_sign_in(server_factory: Callable[..., Server], page: Any) -> None:
    from playwright.sync_api import expect

    server = server_factory(SENTIFLOW_AUTH="required", SENTIFLOW_READS_NEED_KEY="true")
    reader = make_key(server, "create", "--scope", "read", "--name", "wall-screen")
    ingest = make_key(server, "create", "--scope", "ingest", "--name", "feeder")

    # The live feed refuses a client without a credential, and serves one with a key.
    assert ws_refusal(server) == 4401
    assert ws_refusal(server, Authorization=f"Bearer {ingest}") == 4403
    assert ws_refusal(server, Authorization=f"Bearer {reader}") is None

    page.goto(server.url + "/")
    expect(page.locator("#sign-in")).to_be_visible(timeout=LIVE_MS)
    expect_attr(page, "#conn", "data-state", "refused")
    expect_attr(page, "body", "data-session", "needs-sign-in")
    sign_in(page, "sf_nope_wrong")
    expect(page.locator("#sign-in-error")).to_contain_text("not valid", timeout=LIVE_MS)

    sign_in(page, reader)
    expect(page.locator("#sign-in")).to_be_hidden(timeout=LIVE_MS)
    expect_attr(page, "#conn", "data-state", "live")
    page.wait_for_selector("body[data-loaded]")
    expect_text(page, "#who", "signed in as wall-screen")
    cookie = next(c for c in page.context.cookies() if c["name"] == "sentiflow_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["expires"] > 0
    assert reader not in cookie["value"] and "sf_" not in page.url
    assert page.evaluate("document.cookie") == ""  # HttpOnly: no script can read it

    # Signed in, the dashboard works: live counters move, the urgent list fills.
    post(
        server,
        ingest,
        [{"source": "shop", "text": ANGRY, "external_id": f"a{i}"} for i in range(5)],
    )
    expect_text(page, "#c-total", "5", timeout=10_000)
    expect(page.locator("#urgent li").first).to_be_visible(timeout=10_000)

    # A read-only sign-in cannot mark a post handled, and the page says why.
    page.locator("#urgent .handle").first.click()
    expect(page.locator("#urgent-note")).to_contain_text("was refused", timeout=LIVE_MS)
    expect(page.locator("#urgent-note")).to_contain_text("review")
    assert page.locator("#urgent li").count() >= 1

    # Signing out ends the session: the sign-in form is back, the feed refused.
    page.click("#sign-out")
    expect(page.locator("#sign-in")).to_be_visible(timeout=LIVE_MS)
    expect_attr(page, "#conn", "data-state", "refused")
    with server.client() as client:
        client.cookies.set("sentiflow_session", cookie["value"])
        assert client.get("/api/stats/summary").status_code == 401


def test_revoking_the_key_ends_its_sessions(server_factory: Callable[..., Server]) -> None:
    server = server_factory(SENTIFLOW_AUTH="required", SENTIFLOW_READS_NEED_KEY="true")
    reader = make_key(server, "create", "--scope", "read", "--name", "temp")
    with server.client() as client:
        signed = client.post("/api/session", json={"key": reader})
        assert signed.status_code == 200 and "sentiflow_session" in signed.cookies
        set_cookie = signed.headers["set-cookie"].lower()
        assert "httponly" in set_cookie and "samesite=strict" in set_cookie
        assert "max-age=" in set_cookie
        assert client.get("/api/stats/summary").status_code == 200
        make_key(server, "revoke", "temp")
        refused = client.get("/api/stats/summary")
        assert refused.status_code == 401 and "revoked" in refused.json()["error"]["message"]


def test_writes_say_they_need_a_sign_in(server_factory: Callable[..., Server], page: Any) -> None:
    """Reads open, writes keyed: the dashboard loads without a sign-in; "Handled" says it
    needs one, and works once signed in with a review key."""
    from playwright.sync_api import expect

    server = server_factory(SENTIFLOW_AUTH="required")
    reviewer = make_key(server, "create", "--scope", "review", "--name", "support")
    ingest = make_key(server, "create", "--scope", "ingest", "--name", "feeder")
    furious = "Furious: the app deleted my order twice and support hung up on me, awful"
    posts = [{"source": "shop", "text": text, "external_id": text[:8]} for text in (ANGRY, furious)]
    post(server, ingest, posts)
    page.goto(server.url + "/")
    page.wait_for_selector('#conn[data-state="live"]')
    expect_attr(page, "body", "data-session", "open")
    rows = page.locator("#urgent li")
    expect(rows).to_have_count(2, timeout=10_000)
    page.locator("#urgent .handle").first.click()
    expect(page.locator("#urgent-note")).to_contain_text("needs a sign-in", timeout=LIVE_MS)
    expect(rows).to_have_count(2)

    # Signing in reloads the panels. Its urgent list is answered now but delivered only after
    # the "Handled" click, then the click's own answer: the order a slow server can produce.
    urgent = Held(page, "**/api/posts/urgent*")
    page.click("#sign-in-open")
    sign_in(page, reviewer)
    expect_text(page, "#who", "signed in as support")
    reload = urgent.next()
    stale = reload.fetch()
    handled = Held(page, "**/api/posts/*/handled")
    page.locator("#urgent .handle").first.click()
    click = handled.next()
    reload.fulfill(response=stale)
    expect(rows).to_have_count(2)
    click.continue_()
    expect(rows).to_have_count(1, timeout=LIVE_MS)
    handled.release()

    # A list answered before a click but delivered after it does not bring the post back.
    page.locator("#urgent .handle").first.click()
    expect(rows).to_have_count(0, timeout=LIVE_MS)
    page.select_option("#f-window", "6h")
    urgent.next().fulfill(response=stale)
    expect(page.locator("#urgent-note")).to_have_text("nothing waiting", timeout=LIVE_MS)
    expect(rows).to_have_count(0)
    urgent.release()


def test_cookie_writes_need_the_same_origin(server_factory: Callable[..., Server]) -> None:
    server = server_factory(SENTIFLOW_AUTH="required")
    reviewer = make_key(server, "create", "--scope", "review", "--name", "support")
    with httpx.Client(base_url=server.url, timeout=10) as client:
        assert client.post("/api/session", json={"key": reviewer}).status_code == 200
        url = "/api/posts/nope/handled"
        assert client.post(url).status_code == 403  # no Origin at all
        assert client.post(url, headers={"Origin": "http://evil.example"}).status_code == 403
        same = client.post(url, headers={"Origin": server.url})
        assert same.status_code == 404, same.text  # through the guard; no such post
