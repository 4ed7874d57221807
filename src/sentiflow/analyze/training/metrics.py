"""Classification metrics in plain numpy: accuracy, macro-F1, macro-recall, confusion matrix.

Kept free of scikit-learn so `sentiflow evaluate` works on a core install.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def classification_report(
    gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str]
) -> dict[str, Any]:
    """Scores over `labels` (the task's classes, in display order). Macro averages take every
    class that occurs in gold or predictions; a class with no gold and no prediction is left
    out rather than counted as 0."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold labels but {len(predicted)} predictions")
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for g, p in zip(gold, predicted, strict=True):
        matrix[index[g]][index[p]] += 1
    n = len(gold)
    correct = sum(matrix[i][i] for i in range(len(labels)))
    per_class: dict[str, dict[str, float]] = {}
    for i, label in enumerate(labels):
        support = sum(matrix[i])
        predicted_n = sum(row[i] for row in matrix)
        if support == 0 and predicted_n == 0:
            continue
        tp = matrix[i][i]
        precision = tp / predicted_n if predicted_n else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[label] = {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "support": float(support),
        }
    present = list(per_class.values())
    return {
        "n": n,
        "accuracy": correct / n if n else 0.0,
        "macro_f1": sum(c["f1"] for c in present) / len(present) if present else 0.0,
        "macro_recall": sum(c["recall"] for c in present) / len(present) if present else 0.0,
        "labels": list(labels),
        "confusion": matrix,
        "per_class": per_class,
    }
