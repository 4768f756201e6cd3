"""Quality metrics of a classifier's probabilities against true labels."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

METRIC_NAMES = {
    "accuracy": "accuracy",
    "macro_f1": "macro-F1",
    "micro_f1": "micro-F1",
    "f1": "entity F1",
    "ece": "expected calibration error",
    "subset_accuracy": "subset accuracy (all labels right)",
    "pearson": "Pearson r",
    "spearman": "Spearman ρ",
    "mse": "mean squared error",
    "mae": "mean absolute error",
}


def expected_calibration_error(probabilities: np.ndarray, true_ids: np.ndarray, bins: int = 15) -> float:
    """Mean |accuracy - confidence| over equal-width confidence bins, weighted by bin size (Guo et
    al. 2017)."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == true_ids
    edges = np.linspace(0.0, 1.0, bins + 1)
    error = 0.0
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        in_bin = (confidence > low) & (confidence <= high)
        if in_bin.any():
            error += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(error)


def classification_metrics(
    probabilities: np.ndarray, true_ids: np.ndarray, labels: list[str]
) -> dict[str, Any]:
    """Accuracy, macro-F1, ECE, per-class scores and the confusion matrix."""
    predicted = probabilities.argmax(axis=1)
    class_ids = list(range(len(labels)))
    precision, recall, f1, support = precision_recall_fscore_support(
        true_ids, predicted, labels=class_ids, zero_division=0
    )
    return {
        "examples": int(len(true_ids)),
        "accuracy": float(accuracy_score(true_ids, predicted)),
        "macro_f1": float(f1_score(true_ids, predicted, labels=class_ids, average="macro", zero_division=0)),
        "ece": expected_calibration_error(probabilities, true_ids),
        "per_class": {
            label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
        },
        "confusion_matrix": confusion_matrix(true_ids, predicted, labels=class_ids).tolist(),
    }
