"""The demo stream's keyword trends say something: its posts (the carried Reddit comments and
the simulator's posts in five languages) go through the pipeline, and neither list of top
keywords holds a stop word of any of those languages, a placeholder such as "[NAME]", or a
contraction fragment."""

from __future__ import annotations

import itertools

import httpx
import pytest
import stopwordsiso

from sentiflow.ingest.connectors.simulator import FOREIGN, TOPICS
from sentiflow.ingest.demo import demo_posts
from tests.conftest import wait_for

LANGUAGES = ("en", "es", "fr", "de", "pt")


def stream() -> list[dict[str, object]]:
    posts: list[dict[str, object]] = [
        {"source": "demo", "external_id": p["external_id"], "text": p["text"], "topic": p["topic"]}
        for p in demo_posts()
    ]
    foreign = itertools.product(sorted(FOREIGN), TOPICS, range(3))
    for n, (lang, topic, i) in enumerate(foreign):
        text = FOREIGN[lang][i].format(t=topic)
        posts.append(
            {"source": "sim", "external_id": f"f{n}", "text": text, "meta": {"lang": lang}}
        )
    return posts


async def send(client: httpx.AsyncClient, posts: list[dict[str, object]], total: int) -> None:
    for start in range(0, len(posts), 1000):
        response = await client.post("/api/posts", json=posts[start : start + 1000])
        assert response.status_code == 202, response.text
        assert not response.json()["rejected"]

    async def stored() -> bool:
        return bool((await client.get("/api/stats/summary")).json()["total"] == total)

    await wait_for(stored, timeout=90)


@pytest.mark.timeout(120)
async def test_demo_stream_top_keywords_are_not_noise(client: httpx.AsyncClient) -> None:
    posts = stream()
    await send(client, posts, len(posts))
    keywords = (await client.get("/api/trends/keywords", params={"window": "1h"})).json()
    noise = set().union(*(stopwordsiso.stopwords(lang) for lang in LANGUAGES))
    for side in ("negative", "positive"):
        words = [t["term"] for t in keywords[side] if t["kind"] == "word"]
        assert len(words) >= 10, keywords[side]
        assert not [w for w in words if w in noise], (side, words)
        assert not {"name", "don", "that's", "sorry"} & set(words), (side, words)
        assert not [w for w in words if "'" in w or "[" in w], (side, words)
    # The demo loops: the same comments again under new ids, as retweets would come. They are
    # near-duplicates of the first ones, so the counts do not move.
    again = [{**p, "external_id": f"{p['external_id']}-again"} for p in posts[:1500]]
    await send(client, again, len(posts) + len(again))
    # Another window than before, so the answer is computed afresh rather than cached.
    after = (await client.get("/api/trends/keywords", params={"window": "59m"})).json()
    assert after["negative"] == keywords["negative"]
    assert after["positive"] == keywords["positive"]
