"""What a model predicts for a text: one class, any set of labels, or a number.

A task reads the label cells of a table, turns labels into training targets, names the loss,
turns model outputs into predictions, and scores them. It is detected from the labels (or set
with --task) and saved with the run as task.json, with what it learnt besides the weights:
per-label decision thresholds (multi-label) or the target scale (regression).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, mean_squared_error, precision_recall_fscore_support

from headstart.errors import ConfigError, DataError
from headstart.evaluation.metrics import classification_metrics

if TYPE_CHECKING:
    from headstart.training.batching import Encoded

TRUE_CELLS = {"1", "1.0", "true", "yes", "y"}
FALSE_CELLS = {"0", "0.0", "false", "no", "n", ""}


class Task(ABC):
    name: ClassVar[str]
    primary_metric: ClassVar[str]  # chooses epochs and hyper-parameters on dev; higher is better
    learns_decision: ClassVar[bool] = False  # True when fit_decision learns something from dev outputs
    token_level: ClassVar[bool] = False  # True when the model gives logits per token, not per text

    def __init__(self, classes: list[str]) -> None:
        self.classes = classes  # class or label names (none for regression)

    @property
    def outputs(self) -> int:
        """Number of logits the model gives per text."""
        return len(self.classes)

    @abstractmethod
    def targets(self, labels: list[Any]) -> list[Any]:
        """What the loss compares the logits with, per row."""

    @abstractmethod
    def loss(self, logits: torch.Tensor, targets: torch.Tensor, class_weights: torch.Tensor | None = None) -> torch.Tensor: ...

    @abstractmethod
    def predict(self, logits: torch.Tensor) -> np.ndarray:
        """Model outputs as people read them: probabilities, or values."""

    @abstractmethod
    def decide(self, outputs: np.ndarray) -> list[Any]:
        """Predicted labels (or values) from `predict`'s outputs."""

    @abstractmethod
    def metrics(self, outputs: np.ndarray, labels: list[Any]) -> dict[str, Any]:
        """Test metrics of outputs against true labels; holds `primary_metric`."""

    def text_outputs(self, rows: torch.Tensor | list[torch.Tensor], encoded: Encoded, pool: str) -> Any:
        """Outputs per text from one row of logits per encoded row (a long text's windows pooled)."""
        logits = torch.stack(rows) if isinstance(rows, list) else rows
        return self.predict(encoded.pool(logits, pool))

    def fit_decision(self, outputs: np.ndarray, labels: list[Any]) -> None:
        """Learn what turns outputs into decisions from dev data (nothing by default)."""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "classes": self.classes}


class Classification(Task):
    name = "classification"
    primary_metric = "macro_f1"

    def targets(self, labels: list[str]) -> list[int]:
        index = {label: i for i, label in enumerate(self.classes)}
        return [index[label] for label in labels]

    def loss(self, logits: torch.Tensor, targets: torch.Tensor, class_weights: torch.Tensor | None = None) -> torch.Tensor:
        return F.cross_entropy(logits, targets, weight=class_weights)

    def predict(self, logits: torch.Tensor) -> np.ndarray:
        return torch.softmax(logits, dim=-1).numpy()

    def decide(self, outputs: np.ndarray) -> list[str]:
        return [self.classes[i] for i in outputs.argmax(axis=1)]

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

    def targets(self, labels: list[tuple[str, ...]]) -> list[list[float]]:
        index = {label: i for i, label in enumerate(self.classes)}
        rows = []
        for row in labels:
            hot = [0.0] * len(self.classes)
            for label in row:
                hot[index[label]] = 1.0
            rows.append(hot)
        return rows

    def loss(self, logits: torch.Tensor, targets: torch.Tensor, class_weights: torch.Tensor | None = None) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(logits, targets.float())

    def predict(self, logits: torch.Tensor) -> np.ndarray:
        return torch.sigmoid(logits).numpy()

    def decide(self, outputs: np.ndarray) -> list[tuple[str, ...]]:
        chosen = outputs >= np.array(self.thresholds)
        return [tuple(label for label, on in zip(self.classes, row) if on) for row in chosen]

    def fit_decision(self, outputs: np.ndarray, labels: list[tuple[str, ...]]) -> None:
        """Per label, the threshold with the best dev F1 (ties: the one nearest 0.5)."""
        truth = np.array(self.targets(labels), dtype=bool)
        candidates = np.round(np.arange(0.05, 0.96, 0.05), 2)
        thresholds = []
        for column in range(len(self.classes)):
            scores = [f1_score(truth[:, column], outputs[:, column] >= t, zero_division=0) for t in candidates]
            best = max(scores)
            thresholds.append(float(min((t for t, s in zip(candidates, scores) if s == best), key=lambda t: abs(t - 0.5))))
        self.thresholds = thresholds

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
                label: {"precision": float(p), "recall": float(r), "f1": float(s), "support": int(n), "threshold": t}
                for label, p, r, s, n, t in zip(self.classes, precision, recall, f1, support, self.thresholds)
            },
        }

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "thresholds": self.thresholds}


class Regression(Task):
    """A number per text: one output trained with MSE on standardised targets (so the learning
    rate suits any scale), and turned back to the data's scale on prediction."""

    name = "regression"
    primary_metric = "spearman"

    def __init__(self, classes: list[str] | None = None, mean: float = 0.0, scale: float = 1.0) -> None:
        super().__init__([])
        self.mean, self.scale = mean, scale

    @property
    def outputs(self) -> int:
        return 1

    def fit_scale(self, values: list[float]) -> None:
        self.mean = float(np.mean(values))
        self.scale = float(np.std(values)) or 1.0

    def targets(self, labels: list[float]) -> list[float]:
        return [(value - self.mean) / self.scale for value in labels]

    def loss(self, logits: torch.Tensor, targets: torch.Tensor, class_weights: torch.Tensor | None = None) -> torch.Tensor:
        return F.mse_loss(logits.squeeze(-1), targets.float())

    def predict(self, logits: torch.Tensor) -> np.ndarray:
        return logits.squeeze(-1).numpy() * self.scale + self.mean

    def decide(self, outputs: np.ndarray) -> list[float]:
        return [float(value) for value in outputs]

    def metrics(self, outputs: np.ndarray, labels: list[float]) -> dict[str, Any]:
        truth = np.asarray(labels, dtype=float)
        constant = np.ptp(outputs) == 0 or np.ptp(truth) == 0  # correlation is undefined
        return {
            "examples": int(len(truth)),
            "pearson": 0.0 if constant else float(pearsonr(truth, outputs)[0]),
            "spearman": 0.0 if constant else float(spearmanr(truth, outputs)[0]),
            "mse": float(mean_squared_error(truth, outputs)),
            "mae": float(mean_absolute_error(truth, outputs)),
        }

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "classes": [], "mean": self.mean, "scale": self.scale}


class NamedEntities(Task):
    """A BIO tag per word: logits per token, the loss on each word's first sub-token only, and
    entity-level precision, recall and F1 per type (seqeval, exact span and type match)."""

    name = "ner"
    primary_metric = "f1"
    token_level = True

    def targets(self, labels: list[tuple[str, ...]]) -> list[list[int]]:
        index = {tag: i for i, tag in enumerate(self.classes)}
        return [[index[tag] for tag in tags] for tags in labels]

    def loss(self, logits: torch.Tensor, targets: torch.Tensor, class_weights: torch.Tensor | None = None) -> torch.Tensor:
        # logits (batch, tokens, tags); targets -100 on special tokens and on non-first sub-tokens
        return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100)

    def predict(self, logits: torch.Tensor) -> np.ndarray:
        return torch.softmax(logits, dim=-1).numpy()

    def text_outputs(self, rows: torch.Tensor | list[torch.Tensor], encoded: Encoded, pool: str) -> list[np.ndarray]:
        """Tag probabilities per word of each text. A word is read at its first sub-token; when
        windows overlap, from the window where that sub-token sits farthest from an edge. Words cut
        off by truncation get 'O'."""
        assert encoded.word_ids is not None and encoded.text_words is not None
        best: dict[tuple[int, int], tuple[int, torch.Tensor]] = {}
        for row, (logits, word_ids) in enumerate(zip(rows, encoded.word_ids)):
            text = encoded.doc_ids[row] if encoded.doc_ids is not None else row
            for position, word in enumerate(word_ids):
                if word is None or (position and word_ids[position - 1] == word):
                    continue
                margin = min(position, len(word_ids) - 1 - position)
                if (text, word) not in best or margin > best[(text, word)][0]:
                    best[(text, word)] = (margin, logits[position])
        unseen = torch.full((len(self.classes),), -1e4)
        unseen[0] = 0.0  # "O"
        return [self.predict(torch.stack([best.get((text, word), (0, unseen))[1] for word in range(count)]))
                for text, count in enumerate(encoded.text_words)]

    def decide(self, outputs: list[np.ndarray]) -> list[tuple[str, ...]]:
        from headstart.data.ner import bio_tags

        return [tuple(bio_tags([self.classes[i] for i in probs.argmax(axis=1)], "prediction")[0]) for probs in outputs]

    def entities(self, text: str, offsets: list[tuple[int, int]], tags: tuple[str, ...], probs: np.ndarray) -> list[dict[str, Any]]:
        """Entity spans with character offsets into `text` and a score (mean tag probability)."""
        from headstart.data.ner import tags_to_spans

        found = []
        for first, last, kind in tags_to_spans(list(tags)):
            start, end = offsets[first][0], offsets[last - 1][1]
            found.append({"start": start, "end": end, "label": kind, "text": text[start:end],
                          "score": round(float(probs[first:last].max(axis=1).mean()), 4)})
        return found

    def metrics(self, outputs: list[np.ndarray], labels: list[tuple[str, ...]]) -> dict[str, Any]:
        from seqeval.metrics import classification_report

        predicted = [list(tags) for tags in self.decide(outputs)]
        truth = [list(tags) for tags in labels]
        report = classification_report(truth, predicted, output_dict=True, zero_division=0)
        micro = report["micro avg"]
        correct = sum(p == t for ps, ts in zip(predicted, truth) for p, t in zip(ps, ts))
        return {
            "examples": len(truth),
            "precision": float(micro["precision"]), "recall": float(micro["recall"]), "f1": float(micro["f1-score"]),
            "macro_f1": float(report["macro avg"]["f1-score"]),
            "token_accuracy": correct / max(1, sum(len(ts) for ts in truth)),
            "per_class": {kind: {"precision": float(v["precision"]), "recall": float(v["recall"]), "f1": float(v["f1-score"]),
                                 "support": int(v["support"])}
                          for kind, v in report.items() if kind not in ("micro avg", "macro avg", "weighted avg")},
        }


TASKS: dict[str, type[Task]] = {cls.name: cls for cls in (Classification, MultiLabel, Regression, NamedEntities)}


def task_from_dict(values: dict[str, Any]) -> Task:
    values = dict(values)
    name = values.pop("name")
    if name not in TASKS:
        raise ConfigError(f"Task '{name}' is unknown to this headstart version; upgrade headstart.")
    return TASKS[name](**values)


def parse_multi_labels(cells: pd.Series, separator: str, source: str) -> list[tuple[str, ...]]:
    """Label sets from JSON lists (JSONL, Parquet) or separator-joined strings (CSV); blank = no label."""
    rows = []
    for line, cell in enumerate(cells.tolist(), start=2):
        text = "" if cell is None else str(cell).strip()
        if text.startswith("["):
            try:
                values = json.loads(text)
            except json.JSONDecodeError:
                raise DataError(f"Row {line} of {source} holds '{text[:40]}', not a JSON list of labels; fix it.") from None
        else:
            values = text.split(separator) if text else []
        rows.append(tuple(sorted({str(value).strip() for value in values if str(value).strip()})))
    return rows


def labels_from_columns(frame: pd.DataFrame, columns: list[str], source: str) -> list[tuple[str, ...]]:
    """Label sets from one 0/1 column per label."""
    rows: list[list[str]] = [[] for _ in range(len(frame))]
    for column in columns:
        for row, cell in enumerate(frame[column].tolist()):
            text = "" if cell is None else str(cell).strip().lower()
            if text not in TRUE_CELLS | FALSE_CELLS:
                raise DataError(f"Row {row + 2} of {source} has {cell!r} in label column '{column}'; use 1/0 (or true/false).")
            if text in TRUE_CELLS:
                rows[row].append(column)
    return [tuple(row) for row in rows]


def parse_numbers(cells: pd.Series, source: str) -> list[float]:
    values = pd.to_numeric(cells, errors="coerce")
    bad = values.isna() | ~np.isfinite(values.fillna(0))
    if bad.any():
        rows = [int(i) + 2 for i in bad.to_numpy().nonzero()[0][:5]]
        raise DataError(f"{int(bad.sum())} row(s) of {source} have a label that is not a number (rows {rows}); "
                        "regression needs numeric labels, or pass --task classification.")
    return values.astype(float).tolist()


def detect_task(cells: pd.Series, separator: str) -> str:
    """multi-label when cells hold lists or the separator; regression when every label is a number
    and they are not a handful of integer codes; classification otherwise."""
    text = cells.dropna().astype(str).str.strip()
    if text.str.startswith("[").any() or text.str.contains(separator, regex=False).any():
        return "multi-label"
    numbers = pd.to_numeric(text, errors="coerce")
    if len(text) and numbers.notna().all():
        integer_codes = (numbers == numbers.round()).all() and numbers.nunique() <= 10
        if not integer_codes:
            return "regression"
    return "classification"
