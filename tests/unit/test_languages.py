"""Posts in other languages: identified offline, stored, filterable, and labelled with low
confidence and a flag where the model has no training data for the language."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from pydantic import ValidationError

from sentiflow.analyze import language
from sentiflow.analyze.auto import AutoAnalyzer
from sentiflow.analyze.builtin import BuiltinFastAnalyzer
from sentiflow.analyze.lexicon import LexiconAnalyzer
from sentiflow.analyze.reload import ReloadingAnalyzer
from sentiflow.analyze.versions import shipped
from sentiflow.models import PostIn
from sentiflow.settings import Settings
from tests.conftest import wait_for

SPANISH = "Me encanta este producto, la batería dura muchísimo y la pantalla es preciosa"
FRENCH = "C'est vraiment nul, le service client ne répond jamais à mes messages"
ENGLISH = "I love this product, the battery lasts forever and the screen is gorgeous"
# builtin-fast is trained on UMSAB's eight languages (Spanish among them), not on Dutch.
DUTCH = "Ik ben heel blij met dit product, de batterij gaat lang mee en het scherm is prachtig"


def test_identifies_the_language_of_each_text_and_admits_when_unsure() -> None:
    assert language.identify([ENGLISH, SPANISH, FRENCH, "Das ist das beste Telefon"]) == [
        "en",
        "es",
        "fr",
        "de",
    ]
    # Emoji or digits say nothing about a language: unknown, not a guess.
    assert language.identify(["😀😀", "12345 !!!"]) == [None, None]


def test_given_languages_are_kept_and_only_the_missing_ones_identified() -> None:
    assert language.fill([ENGLISH, SPANISH], ["pt", None]) == ["pt", "es"]


def test_a_post_may_carry_its_language_as_an_iso_639_1_code() -> None:
    assert PostIn(source="s", text="hola", lang="ES").lang == "es"
    assert PostIn(source="s", text="hola").lang is None
    with pytest.raises(ValidationError, match="not an ISO 639-1 language code"):
        PostIn(source="s", text="hola", lang="spanish")


def test_an_untrained_language_gets_a_low_confidence_flagged_answer(settings: Settings) -> None:
    fast = BuiltinFastAnalyzer(shipped("builtin-fast").path)
    analyzer = ReloadingAnalyzer("builtin-fast", settings)
    english, dutch, unknown = analyzer.analyze([ENGLISH, DUTCH, "😀😀"])
    plain = fast.analyze([ENGLISH, DUTCH])

    assert (english.lang, dutch.lang, unknown.lang) == ("en", "nl", None)
    assert english.model_version == fast.version
    assert english.sentiment_probs == plain[0].sentiment_probs
    assert dutch.model_version == fast.version + language.UNSUPPORTED
    # Still the model's best guess, but never confident: under any answer of three labels
    # that a trained model could give with conviction.
    assert dutch.sentiment == plain[1].sentiment
    assert dutch.sentiment_confidence < 0.5
    assert dutch.emotion_confidence < 0.35
    assert abs(dutch.polarity) < 0.2
    assert unknown.model_version == fast.version


def test_a_post_in_a_trained_language_gets_its_own_head(settings: Settings) -> None:
    """The worker's path gives builtin-fast each text's language: a Spanish post is scored with
    the Spanish head, an English one as without any language."""
    fast = BuiltinFastAnalyzer(shipped("builtin-fast").path)
    spanish, english = ReloadingAnalyzer("builtin-fast", settings).analyze([SPANISH, ENGLISH])
    assert spanish.sentiment_probs == fast.analyze([SPANISH], ["es"])[0].sentiment_probs
    assert spanish.sentiment_probs != fast.analyze([SPANISH])[0].sentiment_probs
    assert english.sentiment_probs == fast.analyze([ENGLISH])[0].sentiment_probs
    # auto sends the languages the accurate tier lacks to builtin-fast with their language.
    auto = AutoAnalyzer(fast, LexiconAnalyzer, accurate_max=64)
    assert auto.ready(timeout=10)
    routed = auto.analyze([ENGLISH, SPANISH], langs=["en", "es"])[1]
    assert routed.sentiment_probs == spanish.sentiment_probs


def test_a_mixed_batch_scores_each_text_as_alone() -> None:
    """The texts with a head are picked out of the batch's features: each must keep its own."""
    fast = BuiltinFastAnalyzer(shipped("builtin-fast").path)
    texts = [ENGLISH, SPANISH, FRENCH, DUTCH, "Qué asco de servicio", "", FRENCH + " !"]
    langs = ["en", "es", "fr", "nl", "es", None, "fr"]
    together = fast.probabilities(texts, langs)[0]
    alone = [fast.probabilities([t], [lang])[0][0] for t, lang in zip(texts, langs, strict=True)]
    np.testing.assert_allclose(together, np.vstack(alone), rtol=1e-5, atol=1e-6)


def test_identification_can_be_turned_off(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, analyzer="builtin-fast", language_id=False)
    dutch, told = ReloadingAnalyzer("builtin-fast", settings).analyze([DUTCH, DUTCH], [None, "nl"])
    assert (dutch.lang, told.lang) == (None, "nl")
    assert told.model_version.endswith(language.UNSUPPORTED)
    assert not dutch.model_version.endswith(language.UNSUPPORTED)


def test_a_model_without_a_language_list_is_trusted_with_every_language() -> None:
    spanish = LexiconAnalyzer().analyze([SPANISH])
    assert language.label(spanish, ["es"], {})[0].model_version == spanish[0].model_version
    flagged = language.label(
        LexiconAnalyzer().analyze([SPANISH]), ["es"], {"lexicon-1": frozenset({"en"})}
    )
    assert flagged[0].model_version.endswith(language.UNSUPPORTED)


async def stored(client: httpx.AsyncClient, **params: str) -> list[dict[str, Any]]:
    response = await client.get("/api/posts", params=params)
    assert response.status_code == 200
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_posts_store_their_language_and_filter_by_it(client: httpx.AsyncClient) -> None:
    body = [
        {"source": "t", "external_id": "en", "text": ENGLISH},
        {"source": "t", "external_id": "es", "text": SPANISH},
        {"source": "t", "external_id": "fr", "text": FRENCH},
        # The sender knows better than the model: kept as sent.
        {"source": "t", "external_id": "told", "text": ENGLISH + " again", "lang": "pt"},
        {"source": "t", "external_id": "emoji", "text": "😀😀"},
    ]
    assert (await client.post("/api/posts", json=body)).status_code == 202

    async def all_stored() -> bool:
        return len(await stored(client)) == 5

    await wait_for(all_stored)
    langs = {p["external_id"]: p["lang"] for p in await stored(client)}
    assert langs == {"en": "en", "es": "es", "fr": "fr", "told": "pt", "emoji": None}

    assert [p["external_id"] for p in await stored(client, lang="es")] == ["es"]
    assert [p["external_id"] for p in await stored(client, lang="")] == ["emoji"]
    spanish = (await stored(client, lang="es"))[0]
    # Spanish is one of builtin-fast's training languages: answered, not flagged.
    assert not spanish["analysis"]["model_version"].endswith(language.UNSUPPORTED)

    summary = (await client.get("/api/stats/summary", params={"lang": "fr"})).json()
    assert summary["total"] == 1
    everything = (await client.get("/api/stats/summary")).json()
    assert everything["total"] == 5
    series = (await client.get("/api/stats/timeseries", params={"lang": "pt"})).json()
    assert sum(point["total"] for point in series["points"]) == 1

    export = await client.get("/api/posts/export", params={"format": "jsonl", "lang": "en"})
    rows = [line for line in export.text.splitlines() if line]
    assert len(rows) == 1 and '"lang":"en"' in rows[0]

    bad = await client.get("/api/posts", params={"lang": "spanish"})
    assert bad.status_code == 422


async def test_analyze_tells_each_texts_language(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/analyze", json={"texts": [ENGLISH, SPANISH, DUTCH]})
    assert response.status_code == 200
    english, spanish, dutch = response.json()["results"]
    assert (english["lang"], spanish["lang"], dutch["lang"]) == ("en", "es", "nl")
    assert dutch["model_version"].endswith(language.UNSUPPORTED)
    assert not spanish["model_version"].endswith(language.UNSUPPORTED)
    assert not english["model_version"].endswith(language.UNSUPPORTED)
