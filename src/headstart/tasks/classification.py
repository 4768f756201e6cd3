"""One class per text, or any set of labels per text."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support
from typing_extensions import override

from headstart.tasks.base import Task
from headstart.tasks.metrics import classification_metrics


class Classification(Task):
    """One class per text: softmax over the classes, cross-entropy."""

    name = "classification"
    primary_metric = "macro_f1"

    @override
    def targets(self, labels: list[str]) -> list[int]:
        index = {label: i for i, label in enumerate(self.classes)}
        return [index[label] for label in labels]

    @override
    def loss(
        self, logits: torch.Tensor, targets: torch.Tensor, class_weights: torch.Tensor | None = None
    ) -> torch.Tensor:
        return F.cross_entropy(logits, targets, weight=class_weights)

    @override
    def predict(self, logits: torch.Tensor) -> np.ndarray:
        return torch.softmax(logits, dim=-1).numpy()

    @override
    def decide(self, outputs: np.ndarray) -> list[str]:
        return [self.classes[i] for i in outputs.argmax(axis=1)]

    @override
    def metrics(self, outputs: np.ndarray, labels: list[str]) -> dict[str, Any]:
        return classification_metrics(outputs, np.array(self.targets(labels)), self.classes)


class MultiLabel(Task):
    """Any subset of the labels per text: one sigmoid per label, binary cross-entropy, and a
    decision threshold per label tuned on the dev split."""

    name = "multi-label"
    primary_metric = "macro_f1"
    learns_decision = True

    def __init__(self, classes: list[str], thresholds: list[float] | None = None) -> None:
        super().__init__(classes)
        self.thresholds = thresholds or [0.5] * len(classes)

    @override
    def targets(self, labels: list[tuple[str, ...]]) -> list[list[float]]:
        index = {label: i for i, label in enumerate(self.classes)}
        rows = []
        for row in labels:
            hot = [0.0] * len(self.classes)
            for label in row:
                hot[index[label]] = 1.0
            rows.append(hot)
        return rows

    @override
    def loss(
        self, logits: torch.Tensor, targets: torch.Tensor, class_weights: torch.Tensor | None = None
    ) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(logits, targets.float())

    @override
    def predict(self, logits: torch.Tensor) -> np.ndarray:
        return torch.sigmoid(logits).numpy()

    @override
    def decide(self, outputs: np.ndarray) -> list[tuple[str, ...]]:
        chosen = outputs >= np.array(self.thresholds)
        return [tuple(label for label, on in zip(self.classes, row, strict=True) if on) for row in chosen]

    def fit_decision(self, outputs: np.ndarray, labels: list[tuple[str, ...]]) -> None:
        """Per label, the threshold with the best dev F1 (ties: the one nearest 0.5)."""
        truth = np.array(self.targets(labels), dtype=bool)
        candidates = np.round(np.arange(0.05, 0.96, 0.05), 2)
        thresholds = []
        for column in range(len(self.classes)):
            scores = [
                f1_score(truth[:, column], outputs[:, column] >= t, zero_division=0) for t in candidates
            ]
            best = max(scores)
            thresholds.append(
                float(
                    min(
                        (t for t, s in zip(candidates, scores, strict=True) if s == best),
                        key=lambda t: abs(t - 0.5),
                    )
                )
            )
        self.thresholds = thresholds

    @override
    def metrics(self, outputs: np.ndarray, labels: list[tuple[str, ...]]) -> dict[str, Any]:
        truth = np.array(self.targets(labels), dtype=int)
        predicted = (outputs >= np.array(self.thresholds)).astype(int)
        precision, recall, f1, support = precision_recall_fscore_support(truth, predicted, zero_division=0)
        return {
            "examples": int(len(truth)),
            "subset_accuracy": float(accuracy_score(truth, predicted)),
            "micro_f1": float(f1_score(truth, predicted, average="micro", zero_division=0)),
            "macro_f1": float(f1_score(truth, predicted, average="macro", zero_division=0)),
            "per_class": {
                label: {
                    "precision": float(p),
                    "recall": float(r),
                    "f1": float(s),
                    "support": int(n),
                    "threshold": t,
                }
                for label, p, r, s, n, t in zip(
                    self.classes, precision, recall, f1, support, self.thresholds, strict=True
                )
            },
        }

    @override
    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "thresholds": self.thresholds}
