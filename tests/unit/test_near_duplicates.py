"""Near-duplicates: SimHash fingerprints, the in-memory index (the Redis one runs the same
contract in tests/connected), and, end to end, copies shown once with their count."""

from __future__ import annotations

import httpx
import pytest

from sentiflow.duplicates import MemoryDuplicateIndex, fingerprints
from sentiflow.duplicates.base import MAX_DISTANCE, DuplicateIndex
from sentiflow.duplicates.fingerprint import distance
from sentiflow.models import post_id
from tests.conftest import wait_for

ANGRY = "I hate this airline, they lost my bag again and nobody answers the phone"
LONG = (
    "Third time this month the train is cancelled without notice, the app still says on time "
    "and the staff at the station cannot tell anyone when the next one leaves"
)


def test_copies_share_a_fingerprint_and_others_do_not() -> None:
    variants = [
        ANGRY,
        f"RT @someone: {ANGRY}",
        ANGRY.upper() + "!!!",
        f"{ANGRY} https://t.co/abc123 @airline",
        "  " + ANGRY.replace(",", " ,") + "  ",
    ]
    prints = fingerprints([*variants, "What a lovely morning in the park with the kids", "🙂"])
    assert len(set(prints[:5])) == 1
    first, other = prints[0], prints[5]
    assert first is not None and other is not None and distance(first, other) > MAX_DISTANCE
    assert prints[6] is None  # nothing to go by


def test_a_word_added_to_a_long_text_is_near() -> None:
    a, b = fingerprints([LONG, f"{LONG} again"])
    assert a is not None and b is not None
    assert 0 < distance(a, b) <= MAX_DISTANCE


def pid(name: str) -> str:
    return post_id("test", name)


async def index_contract(index: DuplicateIndex) -> None:
    """What every index does: copies point at the first post, again on a second asking,
    also within one batch; different texts and texts without a fingerprint stand alone."""
    a, b, c = fingerprints([ANGRY, f"RT @x: {ANGRY}", "Lovely morning in the park"])
    p1, p2, p3, p4 = (pid(n) for n in ("p1", "p2", "p3", "p4"))
    assert await index.group([(p1, a), (p2, b), (p3, c), (p4, None)]) == [None, p1, None, None]
    # Asked again (a batch delivered twice): the same answers, the leader stays a leader.
    assert await index.group([(p2, b), (p1, a)]) == [p1, None]
    near = fingerprints([LONG, f"{LONG} again", f"{LONG.upper()} AGAIN!"])
    q = [pid(f"q{i}") for i in range(3)]
    assert await index.group(list(zip(q, near, strict=True))) == [None, q[0], q[0]]


async def test_memory_index_contract() -> None:
    await index_contract(MemoryDuplicateIndex())


async def test_memory_index_forgets_past_its_window_and_capacity() -> None:
    now = [0.0]
    index = MemoryDuplicateIndex(window_s=60, capacity=2, clock=lambda: now[0])
    (a,) = fingerprints([ANGRY])
    assert await index.group([("p1", a)]) == [None]
    now[0] = 30
    assert await index.group([("p2", a)]) == ["p1"]
    now[0] = 61
    assert await index.group([("p3", a)]) == [None]  # p1 is past the window: p3 leads
    others = fingerprints(["one two three four", "five six seven eight", "nine ten eleven"])
    await index.group([(f"o{i}", f) for i, f in enumerate(others)])
    now[0] = 62
    assert await index.group([("p4", a)]) == [None]  # p3 was pushed out by capacity


@pytest.mark.timeout(60)
async def test_ten_copies_show_once_in_the_urgent_list(client: httpx.AsyncClient) -> None:
    copies = [
        {"source": "x", "external_id": f"copy-{i}", "text": f"RT @user{i}: {ANGRY}"}
        for i in range(10)
    ]
    other = {"source": "x", "external_id": "other", "text": "This update is awful and broken"}
    response = await client.post("/api/posts", json=[*copies, other])
    assert response.status_code == 202, response.text

    async def stored() -> bool:
        return bool((await client.get("/api/stats/summary")).json()["total"] == 11)

    await wait_for(stored, timeout=30)
    items = (await client.get("/api/posts/urgent")).json()["items"]
    texts = [item["text"] for item in items]
    assert sum(ANGRY in t for t in texts) == 1, texts
    (grouped,) = [item for item in items if ANGRY in item["text"]]
    assert grouped["count"] == 10
    assert [i["count"] for i in items if ANGRY not in i["text"]] == [1]
    # Every raw post is kept, and the group lists them.
    group = grouped["duplicate_of"] or grouped["id"]
    members = (await client.get("/api/posts", params={"group": group, "limit": 50})).json()
    assert len(members["items"]) == 10
    assert (await client.get("/api/stats/summary")).json()["sentiment"]["negative"] >= 10

    # One answer covers the copies: the group leaves the urgent list whole.
    handled = await client.post(f"/api/posts/{grouped['id']}/handled")
    assert handled.status_code == 200
    left = (await client.get("/api/posts/urgent")).json()["items"]
    assert [i["text"] for i in left] == [other["text"]]


@pytest.mark.timeout(60)
async def test_the_review_queue_shows_a_group_once(client: httpx.AsyncClient) -> None:
    copies = [
        {"source": "x", "external_id": f"c{i}", "text": f"{ANGRY} https://t.co/{i}"}
        for i in range(5)
    ]
    others = [
        {"source": "x", "external_id": f"o{i}", "text": f"Note number {i} today"} for i in range(3)
    ]
    assert (await client.post("/api/posts", json=copies + others)).status_code == 202

    async def stored() -> bool:
        return bool((await client.get("/api/stats/summary")).json()["total"] == 8)

    await wait_for(stored, timeout=30)
    items = (await client.get("/api/review", params={"limit": 20})).json()["items"]
    grouped = [i for i in items if ANGRY in i["text"]]
    assert len(grouped) == 1 and grouped[0]["count"] == 5
    assert sorted(i["count"] for i in items) == [1, 1, 1, 5]
    # The group's copies were claimed with it: a second reviewer gets none of them.
    again = (await client.get("/api/review", params={"limit": 20})).json()["items"]
    assert again == []

    fixed = await client.post(
        "/api/corrections/bulk",
        json={
            "sentiment": "negative",
            "emotion": "anger",
            "filter": {"group": grouped[0]["group"]},
        },
    )
    assert fixed.json() == {"matched": 5, "corrected": 5, "dry_run": False}
