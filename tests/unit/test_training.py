"""Training from the carried data: label mapping, reproducible fits, loadable and promotable
versions, and `sentiflow evaluate`'s metrics on a hand-made file."""

from __future__ import annotations

import gzip
import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from sentiflow.analyze import versions
from sentiflow.analyze.builtin import BuiltinFastAnalyzer, LanguageHeads
from sentiflow.analyze.evaluate import evaluate, read_labelled
from sentiflow.analyze.features import Featurizer, scores
from sentiflow.analyze.registry import build_analyzer
from sentiflow.analyze.training import data
from sentiflow.analyze.training.fit import FitConfig, featurizer_for, fit_model, fit_task
from sentiflow.analyze.training.metrics import classification_report
from sentiflow.analyze.training.train import model_digest, save_version, train
from sentiflow.errors import ValidationFailed
from sentiflow.models import SENTIMENTS, Analysis
from sentiflow.settings import Settings

TRAIN_DIR = Path(__file__).parents[2] / "data" / "train"
SMALL = FitConfig(bigram_bits=12, char_bits=14, char_orders=(3,), epochs=5, embedding_weight=0.0)


def test_goemotions_labels_map_to_one_class_or_none() -> None:
    # ids: 17 joy, 2 anger, 7 curiosity (ambiguous), 27 neutral, 25 sadness
    assert data.goemotions_label("sentiment", "17", TRAIN_DIR.resolve()) == "positive"
    assert data.goemotions_label("sentiment", "7", TRAIN_DIR.resolve()) is None
    assert data.goemotions_label("sentiment", "7,17", TRAIN_DIR.resolve()) == "positive"
    assert data.goemotions_label("sentiment", "2,17", TRAIN_DIR.resolve()) is None
    assert data.goemotions_label("emotion", "7", TRAIN_DIR.resolve()) == "surprise"
    assert data.goemotions_label("emotion", "27", TRAIN_DIR.resolve()) == "neutral"
    assert data.goemotions_label("emotion", "25,27", TRAIN_DIR.resolve()) is None


def test_loaders_give_canonical_labels_and_a_clean_licence_option() -> None:
    texts, labels = data.load("sentiment", "dev", clean_licence=True)
    assert len(texts) == len(labels) > 4_000
    assert set(labels) == set(SENTIMENTS)
    everything, _ = data.load("sentiment", "dev")
    assert len(everything) > len(texts)
    assert data.detokenize("it does n't work , does it ?") == "it doesn't work, does it?"


def _quick(settings: Settings, output: Path) -> tuple[Path, dict[str, object]]:
    return train(
        settings_models=versions.models_dir(settings, "builtin-fast"),
        train_dir=TRAIN_DIR,
        seed=7,
        output=output,
        clean_licence=True,
        limit=600,
        config=SMALL,
    )


def test_training_is_reproducible_and_loadable(settings: Settings, tmp_path: Path) -> None:
    first, card = _quick(settings, tmp_path / "a")
    second, again = _quick(settings, tmp_path / "b")
    with np.load(first / "model.npz") as a, np.load(second / "model.npz") as b:
        assert np.array_equal(a["weights"], b["weights"])
        assert np.array_equal(a["bias"], b["bias"])
    assert card["version"] == again["version"]
    assert card["seed"] == 7 and card["data"]["clean_licence"] is True  # type: ignore[index]
    model = BuiltinFastAnalyzer(first)
    result = model.analyze(["so happy today", "this is awful"])
    assert [r.model_version for r in result] == [card["version"]] * 2
    splits = {"goemotions_dev", "goemotions_test", "all_sources_dev", "all_sources_test"}
    scores = card["scores"]
    assert isinstance(scores, dict) and set(scores) == splits


def test_a_promoted_version_is_what_build_analyzer_loads(settings: Settings) -> None:
    models = versions.models_dir(settings, "builtin-fast")
    directory, card = _quick(settings, models / "builtin-fast-test")
    # The version directory is named after the card's version when train picks it.
    directory.rename(models / str(card["version"]))
    assert (
        build_analyzer("builtin-fast", settings).version == versions.shipped("builtin-fast").version
    )
    versions.promote(settings, "builtin-fast", str(card["version"]))
    assert build_analyzer("builtin-fast", settings).version == card["version"]
    listed = [v.version for v in versions.versions(settings, "builtin-fast")]
    assert listed == [versions.shipped("builtin-fast").version, card["version"]]


class Fixed:
    """An analyzer that answers from a table, so expected metrics can be counted by hand."""

    name = "fixed"
    version = "fixed-1"

    def __init__(self, answers: dict[str, tuple[str, str]]) -> None:
        self.answers = answers

    def analyze(self, texts: Sequence[str]) -> list[Analysis]:
        out = []
        for text in texts:
            sentiment, emotion = self.answers[text]
            out.append(
                Analysis(sentiment, 1.0, {}, 0.0, emotion, 1.0, {}, self.version)  # type: ignore[arg-type]
            )
        return out

    def close(self) -> None:
        return None


def test_evaluate_metrics_on_a_hand_made_file(tmp_path: Path) -> None:
    rows = [
        {"text": "a", "sentiment": "positive", "emotion": "joy"},
        {"text": "b", "sentiment": "positive"},
        {"text": "c", "sentiment": "negative", "emotion": "anger"},
        {"text": "d", "sentiment": "neutral", "emotion": "anger"},
        {"text": "e", "emotion": "neutral"},
    ]
    path = tmp_path / "eval.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.writelines(json.dumps(row) + "\n" for row in rows)
    answers = {
        "a": ("positive", "joy"),
        "b": ("negative", "joy"),
        "c": ("negative", "anger"),
        "d": ("neutral", "joy"),
        "e": ("neutral", "neutral"),
    }
    tasks = evaluate(Fixed(answers), read_labelled(path), batch_size=2)["tasks"]
    sentiment, emotion = tasks["sentiment"], tasks["emotion"]
    assert sentiment["n"] == 4 and emotion["n"] == 4
    assert sentiment["accuracy"] == pytest.approx(3 / 4)
    # negative: P 1/2 R 1 F1 2/3; neutral: 1, 1, 1; positive: P 1 R 1/2 F1 2/3.
    assert sentiment["macro_f1"] == pytest.approx((2 / 3 + 1 + 2 / 3) / 3)
    assert sentiment["macro_recall"] == pytest.approx((1 + 1 + 0.5) / 3)
    assert sentiment["confusion"] == [[1, 0, 0], [0, 1, 0], [1, 0, 1]]
    # anger: P 1 R 1/2 F1 2/3; joy: P 1/2 R 1 F1 2/3; neutral: 1; other emotions absent.
    assert emotion["accuracy"] == pytest.approx(3 / 4)
    assert emotion["macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    assert emotion["macro_recall"] == pytest.approx((0.5 + 1 + 1) / 3)


def test_metrics_match_scikit_learn() -> None:
    from sklearn.metrics import accuracy_score, f1_score, recall_score

    rng = np.random.default_rng(3)
    gold = [SENTIMENTS[i] for i in rng.integers(0, 3, 500)]
    guess = [SENTIMENTS[i] for i in rng.integers(0, 3, 500)]
    report = classification_report(gold, guess, SENTIMENTS)
    assert report["accuracy"] == pytest.approx(accuracy_score(gold, guess))
    assert report["macro_f1"] == pytest.approx(f1_score(gold, guess, average="macro"))
    assert report["macro_recall"] == pytest.approx(recall_score(gold, guess, average="macro"))


def test_evaluate_rejects_unknown_labels(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "x", "sentiment": "happy"}\n', encoding="utf-8")
    with pytest.raises(ValidationFailed, match="happy"):
        read_labelled(path)


def test_evaluate_and_models_commands(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sentiflow.cli import app

    path = tmp_path / "eval.jsonl"
    path.write_text(
        '{"text": "I love it", "sentiment": "positive", "emotion": "joy"}\n'
        '{"text": "I hate it", "sentiment": "negative", "emotion": "anger"}\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("SENTIFLOW_DATA_DIR", str(settings.data_dir))
    result = CliRunner().invoke(
        app, ["evaluate", "--data", str(path), "--model", "lexicon", "--json"]
    )
    assert result.exit_code == 0, result.output
    scores = json.loads(result.stdout.strip().splitlines()[-1])
    assert scores["model"] == "lexicon" and scores["tasks"]["sentiment"]["n"] == 2
    listed = CliRunner().invoke(app, ["models", "--json"])
    assert listed.exit_code == 0, listed.output
    models = json.loads(listed.stdout.strip().splitlines()[-1])
    assert "builtin-fast" in models["backends"] and models["default"] == "builtin-fast"
    assert {m["backend"] for m in models["models"]} == {"builtin-fast", "lexicon"}


def test_umsab_languages_are_sources_with_their_own_split() -> None:
    texts, labels = data.load("sentiment", "train", sources=["umsab-fr"])
    assert len(texts) == 1_839 and set(labels) == set(SENTIMENTS)
    assert len(data.load("sentiment", "dev", sources=["umsab-fr"])[0]) == 324
    assert data.load("sentiment", "test", sources=["umsab-fr"]) == ([], [])
    assert "umsab-de" in data.SOURCES["sentiment"]
    assert "umsab-de" not in data.ENGLISH_SOURCES["sentiment"]


def test_distillation_pulls_the_model_toward_the_teacher(
    settings: Settings, tmp_path: Path
) -> None:
    """A teacher that calls every text positive: the distilled model says positive more."""
    texts = data.load("sentiment", "train", sources=["goemotions"])[0][:600]
    teacher = np.tile(np.array([[0.0, 0.0, 1.0]], dtype=np.float32), (len(texts), 1))
    # No offsets tuned on dev: they would pull the distilled model back toward the gold labels.
    config = replace(SMALL, tune_bias=False)

    def fit(name: str, soft: dict[str, tuple[list[str], Any]] | None) -> tuple[Path, Any]:
        return train(
            settings_models=versions.models_dir(settings, "builtin-fast"),
            train_dir=TRAIN_DIR,
            seed=7,
            output=tmp_path / name,
            clean_licence=True,
            limit=600,
            config=config,
            soft=soft,
        )

    plain, _ = fit("plain", None)
    distilled, card = fit("distilled", {"sentiment": (texts, teacher)})
    assert card["data"]["soft_examples"] == {"sentiment": 600}
    probe = data.load("sentiment", "dev", sources=["goemotions"])[0][:300]

    def positive_share(path: Path) -> float:
        probs = BuiltinFastAnalyzer(path).probabilities(probe)[0]
        return float((probs.argmax(axis=1) == SENTIMENTS.index("positive")).mean())

    assert positive_share(distilled) > positive_share(plain) + 0.1


def _tiny_splits(rows: list[tuple[str, str]]) -> dict[str, dict[str, tuple[list[str], list[str]]]]:
    """Sentiment rows (text, label) as both train and dev, beside a token emotion set."""
    texts, labels = [t for t, _ in rows], [label for _, label in rows]
    emotions = ([f"joy {i}" for i in range(10)], ["joy"] * 5 + ["anger"] * 5)
    return {
        "sentiment": {"train": (texts, labels), "dev": (texts, labels)},
        "emotion": {"train": emotions, "dev": emotions},
    }


def test_rows_in_other_languages_weigh_as_the_config_says() -> None:
    """A word that thirty English rows call negative and ten French rows call positive (the
    same features: the model lower-cases): at weight 1 the English rows win, at 10 the French."""
    classes = {"negative": "quel", "neutral": "dans", "positive": "bien"}
    english = [("zork", "negative")] * 30
    french = [("Zork", "positive")] * 10
    anchors = [(f"{word} {i}", label) for label, word in classes.items() for i in range(30)]
    splits = _tiny_splits(english + french + anchors)
    config = replace(SMALL, tune_bias=False, epochs=20, min_count=1)

    def label_of(text: str, weight: float) -> str:
        fitted = fit_model(
            splits,
            replace(config, language_weight=weight),
            languages={"fr": frozenset(t for t, _ in french)},
        )
        featurizer = featurizer_for(fitted.vocabulary, fitted.config)
        logits = scores(featurizer.transform([text]), fitted.weights, fitted.bias, 1)
        return SENTIMENTS[int(logits[0, : len(SENTIMENTS)].argmax())]

    assert label_of("zork", 1.0) == "negative"
    assert label_of("zork", 10.0) == "positive"


def test_a_language_head_answers_for_texts_of_its_language_only(tmp_path: Path) -> None:
    """Thirty English rows call "zork" negative, twenty French rows positive (the same features:
    the model lower-cases): the shared weights side with English, and only a text identified
    as French gets the French head's say."""
    english = [(f"zork {i}", "negative") for i in range(30)]
    french = [(f"Zork {i}", "positive") for i in range(20)]
    french += [(f"quel dommage {i}", "negative") for i in range(20)]
    anchors = [
        (f"{w} {i}", y) for y, w in (("neutral", "dans"), ("positive", "bien")) for i in range(30)
    ]
    splits = _tiny_splits(english + french + anchors)
    config = replace(SMALL, tune_bias=False, epochs=20, min_count=1, language_weight=1.0)
    # A strong L2 on the shared weights: thirty tiny rows would otherwise saturate them.
    config = replace(config, alpha={"sentiment": 3e-3, "emotion": 3e-3})
    fitted = fit_model(splits, config, languages={"fr": frozenset(t for t, _ in french)})
    assert fitted.heads is not None and fitted.heads.languages == ("fr",)
    save_version(fitted, tmp_path, {"version": "builtin-fast-heads"})
    model = BuiltinFastAnalyzer(tmp_path)

    def said(langs: list[str | None] | None) -> str:
        probs = model.probabilities(["zork"], langs)[0]
        return SENTIMENTS[int(probs[0].argmax())]

    assert said(None) == said([None]) == said(["en"]) == said(["de"]) == "negative"
    assert said(["fr"]) == "positive"
    # The same through `analyze`, one text of each in a batch.
    both = model.analyze(["zork", "zork"], ["en", "fr"])
    assert [a.sentiment for a in both] == ["negative", "positive"]


def test_models_that_answer_differently_never_share_a_version() -> None:
    splits = _tiny_splits(
        [(f"{w} {i}", y) for y, w in (("negative", "bad"), ("positive", "good")) for i in range(20)]
    )
    fitted = fit_model(splits, replace(SMALL, min_count=1))
    digest = model_digest(fitted)
    assert model_digest(fitted) == digest
    fitted.temperature["sentiment"] += 0.5
    assert model_digest(fitted) != digest


def test_a_sparse_language_head_scores_as_its_dense_weights() -> None:
    featurizer = Featurizer({"good": 1, "bad": 2}, bigram_bits=6, char_bits=8, char_orders=(2, 3))
    rng = np.random.default_rng(5)
    weights = rng.normal(size=(featurizer.n_features, 3)).astype(np.float32)
    weights[rng.random(featurizer.n_features) < 0.6] = 0  # features the language never had
    bias = np.array([0.1, -0.2, 0.3], np.float32)
    heads = LanguageHeads.from_dense({"es": (weights, bias)}, temperature=1.0)
    assert len(heads.features) == int(np.any(weights != 0, axis=1).sum())
    texts = ["good day", "bad bad day", "", "ñandú good"]
    blocks = featurizer.transform(texts)[:3]
    np.testing.assert_allclose(
        heads.scores("es", blocks, len(texts)),
        scores(blocks, weights, bias, len(texts)),
        rtol=1e-5,
        atol=1e-5,
    )


def test_a_plain_fit_is_the_fit_with_unit_weights() -> None:
    """Balancing is one thing whether or not rows carry weights: a fit without weights equals
    the fit with every weight 1, on classes of very different sizes."""
    rng = np.random.default_rng(3)
    x = rng.random((90, 6)).astype(np.float32)
    labels = ["negative"] * 60 + ["neutral"] * 20 + ["positive"] * 10
    config = replace(SMALL, epochs=5)
    plain = fit_task(x, labels, SENTIMENTS, 1e-4, config)
    ones = np.ones(len(labels), np.float32)
    unit = fit_task(x, labels, SENTIMENTS, 1e-4, config, ones, gold_rows=len(labels))
    np.testing.assert_allclose(plain[0], unit[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(plain[1], unit[1], rtol=1e-5, atol=1e-6)
