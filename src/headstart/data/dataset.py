"""From a table (a file, or data from memory) to validated train/dev/test splits of (text, label).

This layer only reads, finds columns, checks and splits; crowd aggregation and pseudonymisation
are composed on top of it by `headstart.preparation`.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from dataclasses import dataclass, field
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
from headstart.data.label_cells import LabelFormat, labels_from_columns, parse_multi_labels, parse_numbers
from headstart.data.labelled import LabelledTexts, Splits, label_names
from headstart.data.memory import Table, file_table
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
    table: Table,
    text_col: str | None,
    label_col: str | None,
    extra_cols: tuple[str, ...] = (),
    pair_col: str | None = None,
    label_format: LabelFormat = CLASSES,
) -> LabelledTexts:
    """The rows of `table` as checked texts and labels (the columns already found)."""
    frame, source, first = table.frame, table.source, table.first_row
    if label_format.task == "ner":
        words, tags = ner_rows(frame, source)
        return LabelledTexts([" ".join(row) for row in words], list(tags), words=words)
    assert text_col is not None  # found by the caller for every text task
    texts = check_texts(frame[text_col], source, first)
    pairs = None
    if pair_col is not None:
        pairs = check_texts(frame[pair_col], f"{source} (second text, column '{pair_col}')", first)
    extra = {
        column: check_labels(
            frame[find_column(frame, column, (), "label", source, "--option columns=[...]")],
            source,
            f"'{column}' label",
            first,
        )
        for column in extra_cols
    }
    soft = [json.loads(cell) for cell in frame[SOFT_COLUMN]] if SOFT_COLUMN in frame else None
    language_col = find_language_column(frame, text_col)
    language = None
    if language_col is not None:
        language = frame[language_col].fillna("und").astype(str).str.strip().str.lower().tolist()
    labels = read_labels(table, label_col, label_format)
    return LabelledTexts(texts, labels, extra, pairs, soft=soft, language=language)


def read_labels(table: Table, label_col: str | None, label_format: LabelFormat) -> list[Any]:
    """One label per row as the format says: a class, a label set, or a number."""
    frame, source, first = table.frame, table.source, table.first_row
    if label_format.columns:
        return list(labels_from_columns(frame, list(label_format.columns), source, first))
    assert label_col is not None  # find_label_column gives one unless labels are 0/1 columns
    if label_format.task == "multi-label":
        return list(parse_multi_labels(frame[label_col], label_format.separator, source, first))
    labels = check_labels(frame[label_col], source, "label", first)
    if label_format.task == "regression":
        return list(parse_numbers(pd.Series(labels), source, first))
    return list(labels)


def load_table(
    data: str | None, dataset: str | None, encoding: str | None = None, delimiter: str | None = None
) -> Table:
    """The table of a file or of a bundled dataset."""
    if dataset is not None:
        return Table(load_bundled(dataset), f"bundled dataset '{dataset}'")
    assert data is not None  # TrainConfig guarantees a source
    return file_table(data, encoding, delimiter)


def labelled_table(
    table: Table,
    text_col: str | None,
    label_col: str | None,
    extra_cols: tuple[str, ...] = (),
    pair_col: str | None = None,
    pairs_expected: bool | None = None,
    label_format: LabelFormat = CLASSES,
) -> LabelledTexts:
    """One labelled table, its columns found. `pairs_expected` (when known) makes a missing or
    surplus pair column an error."""
    frame, source = table.frame, table.source
    if label_format.task == "ner":
        return to_labelled(table, None, None, label_format=label_format)
    text_col = find_text_column(frame, text_col, source)
    label_col = find_label_column(frame, label_col, source, label_format)
    pair_col = find_pair_column(frame, pair_col, source)
    if pairs_expected is not None and pairs_expected != (pair_col is not None):
        found = "has no second-text column" if pairs_expected else f"has a second-text column {pair_col!r}"
        raise DataError(
            f"{source} {found} but the model was trained {'on' if pairs_expected else 'without'} "
            "sentence pairs; give the same columns as in training."
        )
    return to_labelled(table, text_col, label_col, extra_cols, pair_col, label_format)


def load_labelled(
    path: str,
    text_col: str | None,
    label_col: str | None,
    extra_cols: tuple[str, ...] = (),
    pair_col: str | None = None,
    pairs_expected: bool | None = None,
    label_format: LabelFormat = CLASSES,
) -> LabelledTexts:
    """One labelled file (see `labelled_table`)."""
    return labelled_table(
        file_table(path), text_col, label_col, extra_cols, pair_col, pairs_expected, label_format
    )


@dataclass(frozen=True)
class SplitRequest:
    """How one table becomes train/dev/test: its columns, label format, held-out files (or tables
    from memory) or fractions, the seed, and an optional stratified sample."""

    dev_data: str | Table | None = None
    test_data: str | Table | None = None
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
    return split_table(load_table(data, dataset), SplitRequest(**request))


def split_table(table: Table, request: SplitRequest = SplitRequest()) -> Splits:
    """Train/dev/test from one table: its `split` column, else a seeded stratified split (dev 10 %,
    test 20 % by default), unless separate dev or test data is given."""
    columns = _find_columns(table, request)
    split_col = next((c for c in table.frame.columns if str(c).lower() == "split"), None)
    if split_col is not None:
        train, dev, test = _split_by_column(table, split_col, request, columns)
    else:
        train, dev, test = _split_at_random(table, request, columns)
    task = columns.label_format.task
    assert task is not None  # resolved by _find_columns
    source = table.source
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


def _find_columns(table: Table, request: SplitRequest) -> _Columns:
    """Columns named in the request or found by convention (NER tables need none)."""
    frame, source, label_format = table.frame, table.source, request.label_format
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


def _labelled(table: Table, request: SplitRequest, columns: _Columns) -> LabelledTexts:
    return to_labelled(
        table, columns.text, columns.label, request.extra_label_cols, columns.pair, columns.label_format
    )


def _split_by_column(
    table: Table, split_col: str, request: SplitRequest, columns: _Columns
) -> tuple[LabelledTexts, LabelledTexts, LabelledTexts]:
    """The table's own split column (train, dev or validation, test); no test rows: dev tests."""
    frame, source = table.frame, table.source
    names = frame[split_col].fillna("").astype(str).str.strip().str.lower()
    unknown = sorted(set(names) - set(SPLIT_NAMES))
    if unknown:
        raise DataError(
            f"Column '{split_col}' of {source} holds {unknown}; use train, dev (or validation) and test."
        )
    parts = {}
    for name in ("train", "dev", "test"):
        rows = frame[names.map(SPLIT_NAMES) == name]
        parts[name] = _labelled(
            dataclasses.replace(table, frame=rows, source=f"{source} ({name} split)"), request, columns
        )
    for name in ("train", "dev"):
        if len(parts[name]) == 0:
            raise DataError(
                f"The '{split_col}' column of {source} has no '{name}' rows; add some or drop the column."
            )
    train = stratified_sample(parts["train"], request.sample, request.seed, source)
    return train, parts["dev"], parts["test"] if len(parts["test"]) else parts["dev"]


def _split_at_random(
    table: Table, request: SplitRequest, columns: _Columns
) -> tuple[LabelledTexts, LabelledTexts, LabelledTexts]:
    """A seeded stratified split of the table, or the given dev and test data."""
    source = table.source
    train = _labelled(table, request, columns)
    if columns.label_format.task == "classification":
        check_classes(train.labels, source)
    train = stratified_sample(train, request.sample, request.seed, source)
    dev = test = None
    if request.test_data is None and request.test_size == 0:
        test = train.subset([])  # no test split: the run is scored on dev only
    elif request.test_data is None:
        train, test = stratified_split(train, request.test_size, request.seed, source)
    if request.dev_data is None:
        held_out = request.dev_size / (1 - (request.test_size if request.test_data is None else 0))
        train, dev = stratified_split(train, held_out, request.seed, source)
    if request.dev_data is not None:
        dev = _held_out(request.dev_data, request, columns)
    if request.test_data is not None:
        test = _held_out(request.test_data, request, columns)
    assert dev is not None and test is not None
    return train, dev, test


def _held_out(data: str | Table, request: SplitRequest, columns: _Columns) -> LabelledTexts:
    """Separate dev or test data, read with the training table's columns."""
    table = data if isinstance(data, Table) else file_table(data)
    return labelled_table(
        table,
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
