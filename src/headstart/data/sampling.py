"""Stratified splits and samples of labelled rows, and the classes they must hold."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from headstart.data.labelled import LabelledTexts
from headstart.errors import DataError


def check_classes(labels: list[str], source: str) -> list[str]:
    """The sorted classes of single-label data; at least two are needed."""
    classes = sorted(set(labels))
    if len(classes) < 2:
        raise DataError(
            f"The label column of {source} has {len(classes)} distinct value ({classes}); a classifier needs "
            "at least 2. Check --label-col or the file."
        )
    return classes


def stratified_split(
    part: LabelledTexts, fraction: float | int, seed: int, source: str
) -> tuple[LabelledTexts, LabelledTexts]:
    """Split keeping class proportions (for classes; label sets and numbers are split at random)."""
    if not all(isinstance(label, str) for label in part.labels):
        train_idx, held_idx = train_test_split(range(len(part)), test_size=fraction, random_state=seed)
        return part.subset(train_idx), part.subset(held_idx)
    counts = pd.Series(part.labels).value_counts()
    rare = sorted(counts[counts < 3].index.tolist())
    if rare:
        raise DataError(
            f"Label(s) {rare[:5]} of {source} have fewer than 3 "
            "examples, too few to split into train/dev/test; "
            "add examples or give --dev-data and --test-data files."
        )
    try:
        train_idx, held_idx = train_test_split(
            range(len(part)), test_size=fraction, random_state=seed, stratify=part.labels
        )
    except ValueError as error:
        raise DataError(
            f"Cannot split {source} ({error}); give --dev-data and --test-data files or more data."
        ) from None
    return part.subset(train_idx), part.subset(held_idx)


def stratified_sample(part: LabelledTexts, size: int | None, seed: int, source: str) -> LabelledTexts:
    """`size` rows with the label proportions of `part` (all of it when size is None or larger)."""
    if size is None or size >= len(part):
        return part
    _, sample = stratified_split(part, size, seed, source)
    return sample


def per_class_sample(part: LabelledTexts, shots: int, seed: int) -> LabelledTexts:
    """At most `shots` rows of each class, drawn at random with the seed (few-shot training sets)."""
    if not all(isinstance(label, str) for label in part.labels):
        raise DataError(
            "--shots needs single-label classes; use --train-size for multi-label, regression or NER data."
        )
    rng = np.random.default_rng(seed)
    chosen = []
    for label in sorted(set(part.labels)):
        rows = [i for i, value in enumerate(part.labels) if value == label]
        chosen.extend(rng.choice(rows, size=min(shots, len(rows)), replace=False).tolist())
    return part.subset(sorted(chosen))
