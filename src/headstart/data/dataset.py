"""From a table to validated train/dev/test splits of (text, label).

This layer only reads, finds columns, checks and splits; crowd aggregation and pseudonymisation
are composed on top of it by `headstart.preparation`.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from headstart.data.bundled import load_bundled
from headstart.data.columns import (
    check_labels,
    check_texts,
    find_column,
    find_label_column,
    find_language_column,
    find_pair_column,
    find_text_column,
)
from headstart.data.io import read_table
from headstart.data.label_cells import LabelFormat, labels_from_columns, parse_multi_labels, parse_numbers
from headstart.data.labelled import LabelledTexts, Splits, label_names
from headstart.data.ner import is_ner_frame, ner_rows
from headstart.data.sampling import check_classes, stratified_sample, stratified_split
from headstart.errors import DataError, DataWarning

CLASSES = LabelFormat("classification")  # single-label classes, the default of files read on their own
SOFT_COLUMN = "soft_label"  # a JSON {label: probability} per row, made from crowd answers
SPLIT_NAMES = {
    "train": "train",
    "dev": "dev",
    "validation": "dev",
    "valid": "dev",
    "val": "dev",
    "test": "test",
}


def to_labelled(
    frame: pd.DataFrame,
    text_col: str | None,
    label_col: str | None,
    source: str,
    extra_cols: tuple[str, ...] = (),
    pair_col: str | None = None,
    label_format: LabelFormat = CLASSES,
) -> LabelledTexts:
    """The rows of `frame` as checked texts and labels (the columns already found)."""
    if label_format.task == "ner":
        words, tags = ner_rows(frame, source)
        return LabelledTexts([" ".join(row) for row in words], list(tags), words=words)
    assert text_col is not None  # found by the caller for every text task
    texts = check_texts(frame[text_col], source)
    pairs = (
        None
        if pair_col is None
        else check_texts(frame[pair_col], f"{source} (second text, column '{pair_col}')")
    )
    extra = {
        column: check_labels(
            frame[find_column(frame, column, (), "label", source, "--option columns=[...]")],
            source,
            f"'{column}' label",
        )
        for column in extra_cols
    }
    soft = [json.loads(cell) for cell in frame[SOFT_COLUMN]] if SOFT_COLUMN in frame else None
    language_col = find_language_column(frame, text_col)
    language = (
        None
        if language_col is None
        else frame[language_col].fillna("und").astype(str).str.strip().str.lower().tolist()
    )
    labels = read_labels(frame, label_col, source, label_format)
    return LabelledTexts(texts, labels, extra, pairs, soft=soft, language=language)


def read_labels(
    frame: pd.DataFrame, label_col: str | None, source: str, label_format: LabelFormat
) -> list[Any]:
    """One label per row as the format says: a class, a label set, or a number."""
    if label_format.columns:
        return list(labels_from_columns(frame, list(label_format.columns), source))
    assert label_col is not None  # find_label_column gives one unless labels are 0/1 columns
    if label_format.task == "multi-label":
        return list(parse_multi_labels(frame[label_col], label_format.separator, source))
    labels = check_labels(frame[label_col], source, "label")
    return (
        list(parse_numbers(pd.Series(labels), source)) if label_format.task == "regression" else list(labels)
    )


def load_frame(data: str | None, dataset: str | None) -> tuple[pd.DataFrame, str]:
    """The table of a file or of a bundled dataset, and how messages name it."""
    if dataset is not None:
        return load_bundled(dataset), f"bundled dataset '{dataset}'"
    assert data is not None  # TrainConfig guarantees a source
    return read_table(data), f"'{Path(data).name}'"


def load_labelled(
    path: str,
    text_col: str | None,
    label_col: str | None,
    extra_cols: tuple[str, ...] = (),
    pair_col: str | None = None,
    pairs_expected: bool | None = None,
    label_format: LabelFormat = CLASSES,
) -> LabelledTexts:
    """One labelled file. `pairs_expected` (when known) makes a missing or surplus pair column an error."""
    frame = read_table(path)
    source = f"'{Path(path).name}'"
    if label_format.task == "ner":
        return to_labelled(frame, None, None, source, label_format=label_format)
    text_col = find_text_column(frame, text_col, source)
    label_col = find_label_column(frame, label_col, source, label_format)
    pair_col = find_pair_column(frame, pair_col, source)
    if pairs_expected is not None and pairs_expected != (pair_col is not None):
        found = "has no second-text column" if pairs_expected else f"has a second-text column {pair_col!r}"
        raise DataError(
            f"{source} {found} but the model was trained {'on' if pairs_expected else 'without'} "
            "sentence pairs; give the same columns as in training."
        )
    return to_labelled(frame, text_col, label_col, source, extra_cols, pair_col, label_format)


@dataclass(frozen=True)
class SplitRequest:
    """How one table becomes train/dev/test: its columns, label format, held-out files or
    fractions, the seed, and an optional stratified sample."""

    dev_data: str | None = None
    test_data: str | None = None
    text_col: str | None = None
    label_col: str | None = None
    dev_size: float = 0.1
    test_size: float = 0.2
    seed: int = 42
    sample: int | None = None
    extra_label_cols: tuple[str, ...] = ()  # further label columns read beside the main one (multi-task)
    text_pair_col: str | None = None
    label_format: LabelFormat = field(default_factory=LabelFormat)


def load_splits(data: str | None = None, dataset: str | None = None, **request: Any) -> Splits:
    """Train/dev/test of a file or bundled dataset; `request` holds SplitRequest's fields."""
    frame, source = load_frame(data, dataset)
    return split_frame(frame, source, SplitRequest(**request))


def split_frame(frame: pd.DataFrame, source: str, request: SplitRequest = SplitRequest()) -> Splits:
    """Train/dev/test from one table: its `split` column, else a seeded stratified split (dev 10 %,
    test 20 % by default), unless separate dev or test files are given."""
    columns = _find_columns(frame, source, request)
    split_col = next((c for c in frame.columns if str(c).lower() == "split"), None)
    if split_col is not None:
        train, dev, test = _split_by_column(frame, source, split_col, request, columns)
    else:
        train, dev, test = _split_at_random(frame, source, request, columns)
    task = columns.label_format.task
    assert task is not None  # resolved by _find_columns
    labels = task_classes(train.labels, task, f"the training split of {source}")
    extra_labels = {
        column: check_classes(train.extra[column], f"column '{column}' of the training split of {source}")
        for column in request.extra_label_cols
    }
    for name, part in (("dev", dev), ("test", test)):
        _check_known(name, part, labels, extra_labels, task)
    warn_duplicates(train, test)
    return Splits(
        train=train,
        dev=dev,
        test=test,
        labels=labels,
        task=task,
        extra_labels=extra_labels,
        pair_col=columns.pair,
    )


@dataclass(frozen=True)
class _Columns:
    """The columns found in a table, and its label format with the task resolved."""

    text: str | None
    label: str | None
    pair: str | None
    label_format: LabelFormat


def _find_columns(frame: pd.DataFrame, source: str, request: SplitRequest) -> _Columns:
    """Columns named in the request or found by convention (NER tables need none)."""
    label_format = request.label_format
    if label_format.task == "ner" or (label_format.task is None and is_ner_frame(frame)):
        return _Columns(None, None, None, dataclasses.replace(label_format, task="ner"))
    text_col = find_text_column(frame, request.text_col, source)
    label_col = find_label_column(frame, request.label_col, source, label_format)
    return _Columns(
        text_col,
        label_col,
        find_pair_column(frame, request.text_pair_col, source),
        label_format.resolved(None if label_col is None else frame[label_col]),
    )


def _labelled(frame: pd.DataFrame, source: str, request: SplitRequest, columns: _Columns) -> LabelledTexts:
    return to_labelled(
        frame,
        columns.text,
        columns.label,
        source,
        request.extra_label_cols,
        columns.pair,
        columns.label_format,
    )


def _split_by_column(
    frame: pd.DataFrame, source: str, split_col: str, request: SplitRequest, columns: _Columns
) -> tuple[LabelledTexts, LabelledTexts, LabelledTexts]:
    """The table's own split column (train, dev or validation, test); no test rows: dev tests."""
    names = frame[split_col].fillna("").astype(str).str.strip().str.lower()
    unknown = sorted(set(names) - set(SPLIT_NAMES))
    if unknown:
        raise DataError(
            f"Column '{split_col}' of {source} holds {unknown}; use train, dev (or validation) and test."
        )
    parts = {
        name: _labelled(frame[names.map(SPLIT_NAMES) == name], f"{source} ({name} split)", request, columns)
        for name in ("train", "dev", "test")
    }
    for name in ("train", "dev"):
        if len(parts[name]) == 0:
            raise DataError(
                f"The '{split_col}' column of {source} has no '{name}' rows; add some or drop the column."
            )
    train = stratified_sample(parts["train"], request.sample, request.seed, source)
    return train, parts["dev"], parts["test"] if len(parts["test"]) else parts["dev"]


def _split_at_random(
    frame: pd.DataFrame, source: str, request: SplitRequest, columns: _Columns
) -> tuple[LabelledTexts, LabelledTexts, LabelledTexts]:
    """A seeded stratified split of the table, or the given dev and test files."""
    train = _labelled(frame, source, request, columns)
    if columns.label_format.task == "classification":
        check_classes(train.labels, source)
    train = stratified_sample(train, request.sample, request.seed, source)
    dev = test = None
    if request.test_data is None:
        train, test = stratified_split(train, request.test_size, request.seed, source)
    if request.dev_data is None:
        held_out = request.dev_size / (1 - (request.test_size if request.test_data is None else 0))
        train, dev = stratified_split(train, held_out, request.seed, source)
    if request.dev_data is not None:
        dev = _held_out_file(request.dev_data, request, columns)
    if request.test_data is not None:
        test = _held_out_file(request.test_data, request, columns)
    assert dev is not None and test is not None
    return train, dev, test


def _held_out_file(path: str, request: SplitRequest, columns: _Columns) -> LabelledTexts:
    """A separate dev or test file, read with the training table's columns."""
    return load_labelled(
        path,
        columns.text,
        columns.label,
        request.extra_label_cols,
        request.text_pair_col,
        columns.pair is not None,
        columns.label_format,
    )


def _check_known(
    name: str, part: LabelledTexts, labels: list[str], extra_labels: dict[str, list[str]], task: str
) -> None:
    """Dev and test may hold only labels the training split has."""
    main = (("label", labels, label_names(part.labels, task)),) if labels else ()
    extra = ((column, known, part.extra[column]) for column, known in extra_labels.items())
    for column, known, given in (*main, *extra):
        unseen = sorted(set(given) - set(known))
        if unseen:
            raise DataError(
                f"The {name} data has {column} value(s) {unseen[:5]} never "
                "seen in training; fix them or add training examples."
            )


def task_classes(labels: list[Any], task: str, source: str) -> list[str]:
    """The model's outputs: classes, the labels of a multi-label task, or none for regression."""
    if task == "classification":
        return check_classes(labels, source)
    if task == "regression":
        if len(set(labels)) < 2:
            raise DataError(
                f"The labels of {source} hold one value ({labels[0]}); regression needs varied numbers."
            )
        return []
    names = sorted(set(label_names(labels, task)) - {"O"})
    if not names:
        raise DataError(f"No row of {source} has a label; a {task} task needs labelled rows.")
    return ["O", *names] if task == "ner" else names


def warn_duplicates(train: LabelledTexts, test: LabelledTexts) -> int:
    """Warn when test texts also appear in training; returns how many do."""
    train_texts = {text.strip() for text in train.row_keys()}
    duplicated = sum(text.strip() in train_texts for text in test.row_keys())
    if duplicated:
        warnings.warn(
            f"{duplicated} test text(s) also appear in the training "
            "data, which inflates test scores; deduplicate the file.",
            DataWarning,
            stacklevel=2,
        )
    return duplicated
