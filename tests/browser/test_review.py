"""The review screen (/review) in a real chromium against a real `sentiflow run`, driven from
the keyboard: relabel, accept, undo, bulk select, a near-duplicate group corrected whole, the
history and the snapshot progress; behind a sign-in when keys are required, with the dataset
downloads for admins only. And the dashboard's export button."""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.browser.conftest import ARTIFACTS, ROOT, Held, Server
from tests.browser.test_dashboard import LIVE_MS, expect_attr, open_dashboard
from tests.browser.test_live_socket import wait_until
from tests.browser.test_sign_in import make_key, sign_in

pytestmark = pytest.mark.browser
ANGRY = "The airline lost my bag again and nobody answers the phone, I am furious"
TEXTS = [
    "I love this, absolutely wonderful service",
    "The update shipped on Tuesday",
    "Worst support ever, still waiting for a refund",
    "Great job team, really happy with it",
    "Is the shop open on Sunday?",
]


def seed(server: Server, headers: dict[str, str] | None = None) -> None:
    posts = [{"source": "shop", "external_id": f"t{i}", "text": t} for i, t in enumerate(TEXTS)]
    posts += [
        {"source": "tw", "external_id": f"rt{i}", "text": f"RT @fan{i}: {ANGRY}"} for i in range(4)
    ]
    with server.client() as client:
        response = client.post("/api/posts", json=posts, headers=headers or {})
        assert response.status_code == 202, response.text

        def stored() -> bool:
            summary = client.get("/api/stats/summary", headers=headers or {}).json()
            return bool(summary["total"] == len(posts))

        wait_until(stored, timeout=60, what="posts stored")


def label(server: Server, post_id: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    with server.client() as client:
        found = client.get(f"/api/posts/{post_id}", headers=headers or {}).json()
    labelled: dict[str, Any] = found["label"]
    return labelled


def open_review(page: Any, server: Server) -> None:
    page.goto(f"{server.url}/review")
    page.wait_for_selector("body[data-loaded]")
    page.wait_for_selector("#queue .item.current")


def current(page: Any) -> dict[str, str]:
    item = page.locator("#queue .item.current")
    return {"id": item.get_attribute("data-id"), "text": item.inner_text()}


def queue_ids(page: Any) -> list[str]:
    return [li.get_attribute("data-id") for li in page.locator("#queue .item").all()]


def test_review_from_the_keyboard(server: Server, page: Any) -> None:
    from playwright.sync_api import expect

    seed(server)
    open_review(page, server)
    # Nine posts, but the four copies are one item, counted.
    expect(page.locator("#queue .item")).to_have_count(6, timeout=LIVE_MS)
    expect(page.locator("#queue .count")).to_have_text(["×4"])
    expect(page.locator("#p-datasets")).to_be_visible()  # no keys here: everyone may

    # A choice shows on the item until Enter; choosing it again takes it back.
    page.keyboard.press("1")
    expect(page.locator("#queue .item.current .pending")).to_have_count(1)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "review.png"), full_page=True)
    docs = ROOT / "docs" / "review.png"
    if not docs.exists():
        shutil.copyfile(ARTIFACTS / "review.png", docs)
    page.keyboard.press("1")
    expect(page.locator("#queue .item.current .pending")).to_have_count(0)

    # The group: found by its count, labelled whole.
    group_row = page.locator("#queue .item", has=page.locator(".count"))
    steps = queue_ids(page).index(group_row.get_attribute("data-id"))
    for _ in range(steps):
        page.keyboard.press("ArrowDown")
    grouped = current(page)
    assert ANGRY in grouped["text"]
    page.keyboard.press("Enter")  # accept the model's label, as it stands
    expect(page.locator("#queue .count")).to_have_count(0)
    with server.client() as client:
        group = client.get(f"/api/posts/{grouped['id']}").json()
        key = group["duplicate_of"] or group["id"]
        members = client.get("/api/posts", params={"group": key}).json()["items"]
    assert len(members) == 4 and all(m["label"]["source"] == "human" for m in members)

    # 1 and a choose negative / anger; Enter labels the post and moves on.
    first = current(page)
    page.keyboard.press("1")
    page.keyboard.press("a")
    expect_attr(page, "#choice", "data-sentiment", "negative")
    expect_attr(page, "#choice", "data-emotion", "anger")
    page.keyboard.press("Enter")
    expect(page.locator(f'#queue .item[data-id="{first["id"]}"]')).to_have_count(0)
    wait_until(lambda: label(server, first["id"])["source"] == "human", timeout=10)
    assert {k: label(server, first["id"])[k] for k in ("sentiment", "emotion")} == {
        "sentiment": "negative",
        "emotion": "anger",
    }

    # 3 j Enter, then U while that correction is still on its way: U waits for it, then takes
    # it back. The post comes back, its label the model's again, two corrections.
    again = current(page)
    model = label(server, again["id"])
    corrections = Held(page, "**/api/posts/*/corrections", "POST")
    page.keyboard.press("3")
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    labelled = corrections.next()
    page.keyboard.press("u")
    labelled.continue_()
    wait_until(lambda: label(server, again["id"])["sentiment"] == "positive", timeout=10)
    corrections.next().continue_()  # the undo's correction, sent once the first was answered
    corrections.release()
    expect(page.locator(f'#queue .item[data-id="{again["id"]}"]')).to_have_count(1)
    wait_until(lambda: label(server, again["id"])["emotion"] == model["emotion"], timeout=10)
    assert label(server, again["id"])["sentiment"] == model["sentiment"]
    assert current(page)["id"] == again["id"]
    expect(page.locator("#history li")).to_have_count(2, timeout=LIVE_MS)

    # x selects; 2 with two selected labels both neutral.
    page.keyboard.press("x")
    page.keyboard.press("ArrowDown")
    second = current(page)
    page.keyboard.press("x")
    expect(page.locator("#queue .item.selected")).to_have_count(2)
    page.keyboard.press("2")
    page.keyboard.press("Enter")
    expect(page.locator("#queue .item.selected")).to_have_count(0, timeout=LIVE_MS)
    for post_id in (again["id"], second["id"]):
        wait_until(lambda p=post_id: label(server, p)["sentiment"] == "neutral", timeout=10)

    # Progress toward the next snapshot counts every correction (the group's four too).
    with server.client() as client:
        done = client.get("/api/review/progress").json()["since_snapshot"]
    assert done == 1 + 4 + 2 + 2
    expect(page.locator("#snapshot-text")).to_have_text(f"{done} / 50 corrections", timeout=LIVE_MS)


def test_review_behind_a_sign_in_and_datasets_for_admins(
    server_factory: Callable[..., Server], page: Any
) -> None:
    from playwright.sync_api import expect

    server = server_factory(SENTIFLOW_AUTH="required")
    reviewer = make_key(server, "create", "--scope", "review", "--name", "reviewer")
    admin = make_key(server, "create", "--scope", "admin", "--name", "boss")
    seed(server, {"X-API-Key": admin})

    page.goto(f"{server.url}/review")
    expect(page.locator("#sign-in")).to_be_visible(timeout=LIVE_MS)
    sign_in(page, reviewer)
    page.wait_for_selector("#queue .item.current", timeout=LIVE_MS)
    expect(page.locator("#p-datasets")).to_be_hidden()
    first = current(page)
    page.keyboard.press("3")
    page.keyboard.press("Enter")
    expect(page.locator(f'#queue .item[data-id="{first["id"]}"]')).to_have_count(0)
    headers = {"X-API-Key": admin}
    wait_until(
        lambda: label(server, first["id"], headers)["corrected_by"] == "reviewer", timeout=10
    )

    with httpx.Client(base_url=server.url, headers=headers, timeout=10) as client:
        made = client.post("/api/datasets", json={"scope": "corrections"}).json()
        wait_until(
            lambda: client.get(f"/api/datasets/{made['id']}").json()["status"] == "ready",
            timeout=60,
            what="snapshot ready",
        )
    page.click("#sign-out")  # the queue then needs a sign-in again: the dialog asks for it
    expect(page.locator("#sign-in")).to_be_visible(timeout=LIVE_MS)
    sign_in(page, admin)
    expect(page.locator("#p-datasets")).to_be_visible(timeout=LIVE_MS)
    row = page.locator(f'#datasets tr[data-id="{made["id"]}"]')
    expect(row.locator("a")).to_have_text(["jsonl", "csv", "parquet"])
    with page.expect_download() as download:
        row.locator("a", has_text="csv").click()
    rows = list(csv.DictReader(io.StringIO(download.value.path().read_text())))
    # The reviewer's one correction (four posts, had it been the group of copies).
    assert first["id"] in {r["id"] for r in rows}
    assert {r["corrected_by"] for r in rows} == {"reviewer"}


def test_export_button_downloads_the_filtered_posts(server: Server, page: Any) -> None:
    seed(server)
    open_dashboard(page, server, "?source=tw")
    page.select_option("#export-format", "csv")
    with page.expect_download() as download:
        page.click("#export")
    assert download.value.suggested_filename.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(download.value.path().read_text())))
    assert len(rows) == 4 and {r["source"] for r in rows} == {"tw"}
