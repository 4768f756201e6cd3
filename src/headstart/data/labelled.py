"""Labelled rows and their train/dev/test splits."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from headstart.data.languages import detect_languages
from headstart.record import DataRecord


@dataclass(frozen=True)
class LabelledTexts:
    """Rows of one split: texts and labels, plus what some tasks read beside them."""

    texts: list[str]
    labels: list[Any]  # a class name, a tuple of label names (multi-label) or a number (regression) per row
    extra: dict[str, list[str]] = field(default_factory=dict)  # more label columns (multi-task), by name
    pairs: list[str] | None = None  # the second text of each row, for sentence-pair tasks
    words: list[list[str]] | None = None  # the words of each row, for named entities (labels: a tag per word)
    soft: list[dict[str, float]] | None = None  # a label distribution per row (from crowd answers)
    language: list[str] | None = None  # the language of each row, when the data has a language/lang column

    def __len__(self) -> int:
        return len(self.texts)

    def inputs(self) -> list[str] | list[tuple[str, str]] | list[list[str]]:
        """What the model reads per row: its text, (text, second text) for pairs, or its words (NER)."""
        if self.words is not None:
            return self.words
        return self.texts if self.pairs is None else list(zip(self.texts, self.pairs, strict=True))

    def languages(self) -> list[str]:
        """Each row's language: from the data's language column, else detected (py3langid)."""
        if self.language is not None:
            return self.language
        return detect_languages(self.texts)

    def row_keys(self) -> list[str]:
        """One string per row's input (pairs joined), to compare and fingerprint rows."""
        return (
            self.texts
            if self.pairs is None
            else [f"{text}\x00{pair}" for text, pair in zip(self.texts, self.pairs, strict=True)]
        )

    def subset(self, indices: list[int]) -> LabelledTexts:
        """The rows at `indices`, in that order, with everything they carry."""

        def pick(values: list[Any] | None) -> list[Any] | None:
            return None if values is None else [values[i] for i in indices]

        return LabelledTexts(
            [self.texts[i] for i in indices],
            [self.labels[i] for i in indices],
            {column: [values[i] for i in indices] for column, values in self.extra.items()},
            pick(self.pairs),
            pick(self.words),
            pick(self.soft),
            pick(self.language),
        )

    def joined(self, other: LabelledTexts) -> LabelledTexts:
        """These rows, then `other`'s (what only one side carries is dropped)."""

        def join(mine: list[Any] | None, theirs: list[Any] | None) -> list[Any] | None:
            return None if mine is None or theirs is None else mine + theirs

        return LabelledTexts(
            self.texts + other.texts,
            self.labels + other.labels,
            {
                column: values + other.extra[column]
                for column, values in self.extra.items()
                if column in other.extra
            },
            join(self.pairs, other.pairs),
            join(self.words, other.words),
            join(self.soft, other.soft),
            join(self.language, other.language),
        )

    def fingerprint(self) -> str:
        """A short hash of the rows' inputs and labels: tells whether data changed since training."""
        digest = hashlib.sha256()
        for text, label in zip(self.row_keys(), self.labels, strict=True):
            digest.update(text.encode("utf-8") + b"\x00" + str(label).encode("utf-8") + b"\x01")
        return digest.hexdigest()[:16]


@dataclass(frozen=True)
class Splits:
    """Train, dev and test rows and what their labels are."""

    train: LabelledTexts
    dev: LabelledTexts
    test: LabelledTexts
    labels: list[str]  # sorted class (or label) names; index = output id; none for regression
    task: str = "classification"
    extra_labels: dict[str, list[str]] = field(default_factory=dict)  # the same for each extra label column
    pair_col: str | None = None  # the column of second texts, for sentence pairs

    def facts(self) -> DataRecord:
        """Rows per split and a fingerprint of each (`fingerprint`: the training split's)."""
        parts = {"train": self.train, "dev": self.dev, "test": self.test}
        return DataRecord(
            train=len(self.train),
            dev=len(self.dev),
            test=len(self.test),
            fingerprint=self.train.fingerprint(),
            fingerprints={name: part.fingerprint() for name, part in parts.items()},
        )


def label_names(labels: list[Any], task: str) -> list[Any]:
    """Every label name used (a multi-label row contributes each of its labels, a sentence each tag)."""
    return [name for row in labels for name in row] if task in ("multi-label", "ner") else labels
