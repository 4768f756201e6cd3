"""Named entities: a BIO tag per word."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from seqeval.metrics import classification_report
from typing_extensions import override

from headstart.data.ner import bio_tags, tags_to_spans
from headstart.encoding import Encoded
from headstart.tasks.base import Task


class NamedEntities(Task):
    """A BIO tag per word: logits per token, the loss on each word's first sub-token only, and
    entity-level precision, recall and F1 per type (seqeval, exact span and type match)."""

    name = "ner"
    primary_metric = "f1"
    token_level = True

    @override
    def targets(self, labels: list[tuple[str, ...]]) -> list[list[int]]:
        index = {tag: i for i, tag in enumerate(self.classes)}
        return [[index[tag] for tag in tags] for tags in labels]

    @override
    def loss(
        self, logits: torch.Tensor, targets: torch.Tensor, class_weights: torch.Tensor | None = None
    ) -> torch.Tensor:
        # logits (batch, tokens, tags); targets -100 on special tokens and on non-first sub-tokens
        return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100)

    @override
    def predict(self, logits: torch.Tensor) -> np.ndarray:
        return torch.softmax(logits, dim=-1).numpy()

    def text_outputs(
        self, rows: torch.Tensor | list[torch.Tensor], encoded: Encoded, pool: str
    ) -> list[np.ndarray]:
        """Tag probabilities per word of each text. A word is read at its first sub-token; when
        windows overlap, from the window where that sub-token sits farthest from an edge. Words cut
        off by truncation get 'O'."""
        assert encoded.word_ids is not None and encoded.text_words is not None
        best: dict[tuple[int, int], tuple[int, torch.Tensor]] = {}
        for row, (logits, word_ids) in enumerate(zip(rows, encoded.word_ids, strict=True)):
            text = encoded.doc_ids[row] if encoded.doc_ids is not None else row
            for position, word in enumerate(word_ids):
                if word is None or (position and word_ids[position - 1] == word):
                    continue
                margin = min(position, len(word_ids) - 1 - position)
                if (text, word) not in best or margin > best[(text, word)][0]:
                    best[(text, word)] = (margin, logits[position])
        unseen = torch.full((len(self.classes),), -1e4)
        unseen[0] = 0.0  # "O"
        return [
            self.predict(torch.stack([best.get((text, word), (0, unseen))[1] for word in range(count)]))
            for text, count in enumerate(encoded.text_words)
        ]

    @override
    def decide(self, outputs: list[np.ndarray]) -> list[tuple[str, ...]]:
        return [
            tuple(bio_tags([self.classes[i] for i in probs.argmax(axis=1)], "prediction")[0])
            for probs in outputs
        ]

    def entities(
        self, text: str, offsets: list[tuple[int, int]], tags: tuple[str, ...], probs: np.ndarray
    ) -> list[dict[str, Any]]:
        """Entity spans with character offsets into `text` and a score (mean tag probability)."""
        found = []
        for first, last, kind in tags_to_spans(list(tags)):
            start, end = offsets[first][0], offsets[last - 1][1]
            found.append(
                {
                    "start": start,
                    "end": end,
                    "label": kind,
                    "text": text[start:end],
                    "score": round(float(probs[first:last].max(axis=1).mean()), 4),
                }
            )
        return found

    @override
    def metrics(self, outputs: list[np.ndarray], labels: list[tuple[str, ...]]) -> dict[str, Any]:
        predicted = [list(tags) for tags in self.decide(outputs)]
        truth = [list(tags) for tags in labels]
        if all(tag == "O" for tags in truth + predicted for tag in tags):
            # No entity on either side: seqeval's macro average would be the mean of nothing (NaN).
            report = {"micro avg": {"precision": 0.0, "recall": 0.0, "f1-score": 0.0}}
            report["macro avg"] = report["micro avg"]
        else:
            report = classification_report(truth, predicted, output_dict=True, zero_division=0)
        micro = report["micro avg"]
        correct = sum(
            p == t for ps, ts in zip(predicted, truth, strict=True) for p, t in zip(ps, ts, strict=True)
        )
        return {
            "examples": len(truth),
            "precision": float(micro["precision"]),
            "recall": float(micro["recall"]),
            "f1": float(micro["f1-score"]),
            "macro_f1": float(report["macro avg"]["f1-score"]),
            "token_accuracy": correct / max(1, sum(len(ts) for ts in truth)),
            "per_class": {
                kind: {
                    "precision": float(v["precision"]),
                    "recall": float(v["recall"]),
                    "f1": float(v["f1-score"]),
                    "support": int(v["support"]),
                }
                for kind, v in report.items()
                if kind not in ("micro avg", "macro avg", "weighted avg")
            },
        }
