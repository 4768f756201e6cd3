"""From a table to validated train/dev/test splits of (text, label)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from headstart.data.bundled import load_bundled
from headstart.data.io import read_table
from headstart.errors import DataError, DataWarning
from headstart.data.ner import is_ner_frame, ner_rows
from headstart.tasks import detect_task, labels_from_columns, parse_multi_labels, parse_numbers

if TYPE_CHECKING:
    from headstart.config import TrainConfig

TEXT_COLUMNS = ("text", "sentence", "content", "document", "body", "review", "message", "tweet", "comment")
SOFT_COLUMN = "soft_label"  # a JSON {label: probability} per row, made from crowd answers
PAIR_COLUMNS = ("text_pair", "text_b", "sentence2", "hypothesis", "question2")
LABEL_COLUMNS = ("label", "labels", "category", "class", "target", "topic", "sentiment", "intent", "y", "score", "rating")
SPLIT_NAMES = {"train": "train", "dev": "dev", "validation": "dev", "valid": "dev", "val": "dev", "test": "test"}


@dataclass(frozen=True)
class LabelFormat:
    """How label cells are read: the task (None: detect it), the separator of several labels in
    one cell, or one 0/1 column per label."""

    task: str | None = None
    separator: str = "|"
    columns: tuple[str, ...] = ()

    def resolved(self, cells: pd.Series | None) -> LabelFormat:
        if self.task is not None:
            return self
        task = "multi-label" if self.columns else detect_task(cells, self.separator)
        return dataclasses.replace(self, task=task)


@dataclass(frozen=True)
class LabelledTexts:
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
        """What the model reads per row: its text, (text, second text) for sentence pairs, or its words (NER)."""
        if self.words is not None:
            return self.words
        return self.texts if self.pairs is None else list(zip(self.texts, self.pairs))

    def languages(self) -> list[str]:
        """Each row's language: from the data's language column, else detected (py3langid)."""
        if self.language is not None:
            return self.language
        from headstart.evaluation.languages import detect_languages

        return detect_languages(self.texts)

    def keys(self) -> list[str]:
        """One string per row's input (pairs joined), to compare and fingerprint rows."""
        return self.texts if self.pairs is None else [f"{text}\x00{pair}" for text, pair in zip(self.texts, self.pairs)]

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for text, label in zip(self.keys(), self.labels):
            digest.update(text.encode("utf-8") + b"\x00" + str(label).encode("utf-8") + b"\x01")
        return digest.hexdigest()[:16]


@dataclass(frozen=True)
class Splits:
    train: LabelledTexts
    dev: LabelledTexts
    test: LabelledTexts
    labels: list[str]  # sorted class (or label) names; index = output id; none for regression
    task: str = "classification"
    extra_labels: dict[str, list[str]] = field(default_factory=dict)  # the same for each extra label column
    pair_col: str | None = None  # the column of second texts, for sentence pairs


def find_column(frame: pd.DataFrame, given: str | None, candidates: tuple[str, ...], role: str, source: str, flag: str) -> str:
    columns = [str(column) for column in frame.columns]
    if given is not None:
        if given not in columns:
            raise DataError(f"{role.capitalize()} column '{given}' is not in {source}; its columns are {sorted(columns)}.")
        return given
    lowered = {column.lower(): column for column in columns}
    for candidate in candidates:
        if candidate in lowered:
            return lowered[candidate]
    raise DataError(f"No {role} column found in {source} (columns: {sorted(columns)}); name it with {flag}.")


def find_text_column(frame: pd.DataFrame, given: str | None, source: str) -> str:
    return find_column(frame, given, TEXT_COLUMNS, "text", source, "--text-col")


def check_texts(texts: pd.Series, source: str, first_row: int = 2) -> list[str]:
    """Texts must be present and non-blank; `first_row` is the file line of the first data row."""
    blank = texts.isna() | texts.fillna("").astype(str).str.strip().eq("")
    if blank.any():
        rows = [int(i) + first_row for i in blank.to_numpy().nonzero()[0][:5]]
        raise DataError(f"{int(blank.sum())} row(s) of {source} have empty text (rows {rows}); fill or remove them.")
    return texts.astype(str).tolist()


def find_pair_column(frame: pd.DataFrame, given: str | None, source: str) -> str | None:
    """The second-text column of sentence pairs: the one named, or a conventional name if present."""
    if given is not None:
        return find_column(frame, given, (), "text pair", source, "--text-pair-col")
    lowered = {str(column).lower(): str(column) for column in frame.columns}
    return next((lowered[name] for name in PAIR_COLUMNS if name in lowered), None)


LANGUAGE_COLUMNS = ("language", "lang")


def to_labelled(frame: pd.DataFrame, text_col: str | None, label_col: str | None, source: str, extra_cols: tuple[str, ...] = (),
                pair_col: str | None = None, label_format: LabelFormat = LabelFormat("classification")) -> LabelledTexts:
    if label_format.task == "ner":
        words, tags = ner_rows(frame, source)
        return LabelledTexts([" ".join(row) for row in words], list(tags), words=words)
    texts = check_texts(frame[text_col], source)
    pairs = None if pair_col is None else check_texts(frame[pair_col], f"{source} (second text, column '{pair_col}')")
    extra = {column: check_labels(frame[find_column(frame, column, (), "label", source, "--option columns=[...]")],
                                  source, f"'{column}' label") for column in extra_cols}
    soft = [json.loads(cell) for cell in frame[SOFT_COLUMN]] if SOFT_COLUMN in frame else None
    language_col = next((c for c in frame.columns if str(c).lower() in LANGUAGE_COLUMNS and c != text_col), None)
    language = None if language_col is None else frame[language_col].fillna("und").astype(str).str.strip().str.lower().tolist()
    return LabelledTexts(texts, read_labels(frame, label_col, source, label_format), extra, pairs, soft=soft, language=language)


def read_labels(frame: pd.DataFrame, label_col: str | None, source: str, label_format: LabelFormat) -> list[Any]:
    if label_format.columns:
        return labels_from_columns(frame, list(label_format.columns), source)
    assert label_col is not None
    if label_format.task == "multi-label":
        return parse_multi_labels(frame[label_col], label_format.separator, source)
    labels = check_labels(frame[label_col], source, "label")
    return parse_numbers(pd.Series(labels), source) if label_format.task == "regression" else labels


def check_labels(labels: pd.Series, source: str, what: str) -> list[str]:
    missing = labels.isna() | labels.fillna("").astype(str).str.strip().isin(["", "nan", "NaN", "None", "null"])
    if missing.any():
        rows = [int(i) + 2 for i in missing.to_numpy().nonzero()[0][:5]]
        raise DataError(f"{int(missing.sum())} row(s) of {source} have no {what} (rows {rows}); label or remove them.")
    return labels.astype(str).str.strip().tolist()


def load_frame(data: str | None, dataset: str | None, annotations: str | None = None, aggregation: str = "ds",
               seed: int = 0) -> tuple[pd.DataFrame, str]:
    if dataset is not None:
        return load_bundled(dataset), f"bundled dataset '{dataset}'"
    if annotations is not None:
        return consensus_frame(annotations, aggregation, seed), f"the consensus of '{Path(annotations).name}'"
    assert data is not None  # TrainConfig guarantees exactly one source
    return read_table(data), f"'{Path(data).name}'"


def consensus_frame(annotations: str, method: str, seed: int) -> pd.DataFrame:
    """Crowd answers aggregated into one row per item: text, consensus label, and the posterior
    label distribution (JSON) for training on soft labels."""
    from headstart.labels.aggregate import aggregate, read_answers

    answers = read_answers(annotations)
    if "text" not in answers:
        raise DataError(f"'{Path(annotations).name}' has no text column; training needs each item's text beside the answers.")
    result = aggregate(answers, method, seed)
    soft = [json.dumps({label: round(float(p), 6) for label, p in row.items() if p > 0}) for _, row in result.probabilities.iterrows()]
    return pd.DataFrame({"text": result.labels["text"].to_numpy(), "label": result.labels["label"].to_numpy(), SOFT_COLUMN: soft})


def find_label_column(frame: pd.DataFrame, given: str | None, source: str, label_format: LabelFormat) -> str | None:
    if label_format.columns:  # one 0/1 column per label: they must all be there
        for column in label_format.columns:
            find_column(frame, column, (), "label", source, "--label-cols")
        return None
    return find_column(frame, given, LABEL_COLUMNS, "label", source, "--label-col")


def load_labelled(path: str, text_col: str | None, label_col: str | None, extra_cols: tuple[str, ...] = (),
                  pair_col: str | None = None, pairs_expected: bool | None = None,
                  label_format: LabelFormat = LabelFormat("classification")) -> LabelledTexts:
    """One labelled file. `pairs_expected` (when known) makes a missing or surplus pair column an error."""
    frame = read_table(path)
    source = f"'{Path(path).name}'"
    if label_format.task == "ner":
        return to_labelled(frame, None, None, source, label_format=label_format)
    text_col = find_text_column(frame, text_col, source)
    label_col = find_label_column(frame, label_col, source, label_format)
    pair_col = find_pair_column(frame, pair_col, source)
    if pairs_expected is not None and pairs_expected != (pair_col is not None):
        raise DataError(f"{source} {'has no second-text column' if pairs_expected else f'has a second-text column {pair_col!r}'} "
                        f"but the model was trained {'on' if pairs_expected else 'without'} sentence pairs; give the same columns as in training.")
    return to_labelled(frame, text_col, label_col, source, extra_cols, pair_col, label_format)


def load_splits(
    data: str | None = None,
    dataset: str | None = None,
    dev_data: str | None = None,
    test_data: str | None = None,
    text_col: str | None = None,
    label_col: str | None = None,
    dev_size: float = 0.1,
    test_size: float = 0.2,
    seed: int = 42,
    sample: int | None = None,
    extra_label_cols: tuple[str, ...] = (),
    text_pair_col: str | None = None,
    label_format: LabelFormat = LabelFormat(),
    annotations: str | None = None,
    aggregation: str = "ds",
) -> Splits:
    """Train/dev/test from one file (its split column or a seeded stratified split) or separate files.

    `extra_label_cols` are further label columns read beside the main one (multi-task training).
    """
    frame, source = load_frame(data, dataset, annotations, aggregation, seed)
    if label_format.task == "ner" or (label_format.task is None and is_ner_frame(frame)):
        label_format, text_col, label_col, pair_col = dataclasses.replace(label_format, task="ner"), None, None, None
    else:
        text_col = find_text_column(frame, text_col, source)
        label_col = find_label_column(frame, label_col, source, label_format)
        label_format = label_format.resolved(None if label_col is None else frame[label_col])
        pair_col = find_pair_column(frame, text_pair_col, source)
    split_col = next((c for c in frame.columns if str(c).lower() == "split"), None)

    if split_col is not None:
        names = frame[split_col].fillna("").astype(str).str.strip().str.lower()
        unknown = sorted(set(names) - set(SPLIT_NAMES))
        if unknown:
            raise DataError(f"Column '{split_col}' of {source} holds {unknown}; use train, dev (or validation) and test.")
        parts = {name: to_labelled(frame[names.map(SPLIT_NAMES) == name], text_col, label_col, f"{source} ({name} split)", extra_label_cols, pair_col, label_format)
                 for name in ("train", "dev", "test")}
        for name in ("train", "dev"):
            if len(parts[name]) == 0:
                raise DataError(f"The '{split_col}' column of {source} has no '{name}' rows; add some or drop the column.")
        train, dev, test = parts["train"], parts["dev"], parts["test"] if len(parts["test"]) else parts["dev"]
        train = stratified_sample(train, sample, seed, source)
    else:
        everything = to_labelled(frame, text_col, label_col, source, extra_label_cols, pair_col, label_format)
        if label_format.task == "classification":
            check_classes(everything.labels, source)
        everything = stratified_sample(everything, sample, seed, source)
        train, dev, test = everything, None, None
        if test_data is None:
            train, test = stratified_split(train, test_size, seed, source)
        if dev_data is None:
            train, dev = stratified_split(train, dev_size / (1 - (test_size if test_data is None else 0)), seed, source)
        if dev_data is not None:
            dev = load_labelled(dev_data, text_col, label_col, extra_label_cols, text_pair_col, pair_col is not None, label_format)
        if test_data is not None:
            test = load_labelled(test_data, text_col, label_col, extra_label_cols, text_pair_col, pair_col is not None, label_format)

    labels = task_classes(train.labels, label_format.task, f"the training split of {source}")
    extra_labels = {column: check_classes(train.extra[column], f"column '{column}' of the training split of {source}")
                    for column in extra_label_cols}
    for name, part in (("dev", dev), ("test", test)):
        main = (("label", labels, label_names(part.labels, label_format.task)),) if labels else ()
        for column, known, given in (*main, *((column, extra_labels[column], part.extra[column]) for column in extra_label_cols)):
            unseen = sorted(set(given) - set(known))
            if unseen:
                raise DataError(f"The {name} data has {column} value(s) {unseen[:5]} never seen in training; fix them or add training examples.")
    warn_duplicates(train, test)
    return Splits(train=train, dev=dev, test=test, labels=labels, task=label_format.task, extra_labels=extra_labels, pair_col=pair_col)


def label_names(labels: list[Any], task: str) -> list[str]:
    """Every label name used (a multi-label row contributes each of its labels, a sentence each tag)."""
    return [name for row in labels for name in row] if task in ("multi-label", "ner") else labels


def task_classes(labels: list[Any], task: str, source: str) -> list[str]:
    """The model's outputs: classes, the labels of a multi-label task, or none for regression."""
    if task == "classification":
        return check_classes(labels, source)
    if task == "regression":
        if len(set(labels)) < 2:
            raise DataError(f"The labels of {source} hold one value ({labels[0]}); regression needs varied numbers.")
        return []
    names = sorted(set(label_names(labels, task)) - {"O"})
    if not names:
        raise DataError(f"No row of {source} has a label; a {task} task needs labelled rows.")
    return ["O", *names] if task == "ner" else names


def splits_for(config: TrainConfig, extra_label_cols: tuple[str, ...] = ()) -> Splits:
    """The splits a training config describes (with personal data pseudonymized when it asks)."""
    splits = load_splits(config.data, config.dataset, config.dev_data, config.test_data, config.text_col, config.label_col,
                       config.dev_size, config.test_size, config.seed, config.sample, extra_label_cols, config.text_pair_col,
                       label_format_for(config), config.annotations, config.aggregation)
    if config.shots is not None or config.train_size is not None:
        source = config.data or config.dataset or "the data"
        train = per_class_sample(splits.train, config.shots, config.seed) if config.shots is not None else splits.train
        splits = dataclasses.replace(splits, train=stratified_sample(train, config.train_size, config.seed, source))
    if config.pseudonymize is None:
        return splits
    from headstart.privacy.pseudonyms import Pseudonymizer, load_names_run, pseudonymize_texts, read_key

    pseudonymizer = Pseudonymizer(read_key(config.pseudonymize, create=True), load_names_run(config.pseudonymize_names))
    return dataclasses.replace(splits, **{name: pseudonymize_texts(getattr(splits, name), pseudonymizer) for name in ("train", "dev", "test")})


def label_format_for(config: TrainConfig) -> LabelFormat:
    return LabelFormat(config.task, config.label_sep, tuple(config.label_cols or ()))


def check_classes(labels: list[str], source: str) -> list[str]:
    classes = sorted(set(labels))
    if len(classes) < 2:
        raise DataError(f"The label column of {source} has {len(classes)} distinct value ({classes}); a classifier needs at least 2. Check --label-col or the file.")
    return classes


def stratified_split(part: LabelledTexts, fraction: float | int, seed: int, source: str) -> tuple[LabelledTexts, LabelledTexts]:
    """Split keeping class proportions (for classes; label sets and numbers are split at random)."""
    if not all(isinstance(label, str) for label in part.labels):
        train_idx, held_idx = train_test_split(range(len(part)), test_size=fraction, random_state=seed)
        return _subset(part, train_idx), _subset(part, held_idx)
    counts = pd.Series(part.labels).value_counts()
    rare = sorted(counts[counts < 3].index.tolist())
    if rare:
        raise DataError(
            f"Label(s) {rare[:5]} of {source} have fewer than 3 examples, too few to split into train/dev/test; "
            "add examples or give --dev-data and --test-data files."
        )
    try:
        train_idx, held_idx = train_test_split(range(len(part)), test_size=fraction, random_state=seed, stratify=part.labels)
    except ValueError as error:
        raise DataError(f"Cannot split {source} ({error}); give --dev-data and --test-data files or more data.") from None
    return _subset(part, train_idx), _subset(part, held_idx)


def stratified_sample(part: LabelledTexts, size: int | None, seed: int, source: str) -> LabelledTexts:
    """`size` rows with the label proportions of `part` (all of it when size is None or larger)."""
    if size is None or size >= len(part):
        return part
    _, sample = stratified_split(part, size, seed, source)
    return sample


def per_class_sample(part: LabelledTexts, shots: int, seed: int) -> LabelledTexts:
    """At most `shots` rows of each class, drawn at random with the seed (few-shot training sets)."""
    if not all(isinstance(label, str) for label in part.labels):
        raise DataError("--shots needs single-label classes; use --train-size for multi-label, regression or NER data.")
    rng = np.random.default_rng(seed)
    chosen = []
    for label in sorted(set(part.labels)):
        rows = [i for i, value in enumerate(part.labels) if value == label]
        chosen.extend(rng.choice(rows, size=min(shots, len(rows)), replace=False).tolist())
    return _subset(part, sorted(chosen))


def _subset(part: LabelledTexts, indices: list[int]) -> LabelledTexts:
    return LabelledTexts([part.texts[i] for i in indices], [part.labels[i] for i in indices],
                         {column: [values[i] for i in indices] for column, values in part.extra.items()},
                         None if part.pairs is None else [part.pairs[i] for i in indices],
                         None if part.words is None else [part.words[i] for i in indices],
                         None if part.soft is None else [part.soft[i] for i in indices],
                         None if part.language is None else [part.language[i] for i in indices])


def warn_duplicates(train: LabelledTexts, test: LabelledTexts) -> int:
    train_texts = {text.strip() for text in train.keys()}
    duplicated = sum(text.strip() in train_texts for text in test.keys())
    if duplicated:
        warnings.warn(
            f"{duplicated} test text(s) also appear in the training data, which inflates test scores; deduplicate the file.",
            DataWarning,
            stacklevel=2,
        )
    return duplicated
