"""The data a run trains and is evaluated on, as its config describes it: read and split by
`data`, with crowd answers aggregated first (--annotations) and personal data pseudonymized
(--pseudonymize) before anything is trained on or written.

`data/` only reads, checks and splits; this step composes it with `labels/` and `privacy/`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from headstart.config import TrainConfig
from headstart.data.columns import check_texts, find_column, find_text_column
from headstart.data.dataset import SOFT_COLUMN, SplitRequest, labelled_table, load_table, split_table
from headstart.data.label_cells import LabelFormat
from headstart.data.labelled import LabelledTexts, Splits, label_names
from headstart.data.memory import Table, is_path, memory_table
from headstart.data.sampling import per_class_sample, stratified_sample
from headstart.errors import ConfigError, DataError
from headstart.inference.predictor import load_predictor
from headstart.labels.aggregate import aggregate, method_name, read_answers
from headstart.privacy.pseudonyms import (
    NAME_TYPES,
    NameFinder,
    Pseudonymizer,
    pseudonymize_texts,
    read_key,
    tags_names,
)
from headstart.tasks import Task


def label_format_for(config: TrainConfig) -> LabelFormat:
    """How the config says label cells are read."""
    return LabelFormat(config.task, config.label_sep, tuple(config.label_cols or ()))


def consensus_frame(annotations: str, method: str, seed: int) -> pd.DataFrame:
    """Crowd answers aggregated into one row per item: text, consensus label, and the posterior
    label distribution (JSON) for training on soft labels."""
    if method_name(method) == "crowdlab":
        raise ConfigError(
            "--aggregation crowdlab needs a model of its own; run `headstart labels aggregate "
            f"{annotations} --method crowdlab -o gold.csv` first and train on gold.csv."
        )
    answers = read_answers(annotations)
    if "text" not in answers:
        raise DataError(
            f"'{Path(annotations).name}' has no text column; "
            "training needs each item's text beside the answers."
        )
    result = aggregate(answers, method, seed)
    soft = [
        json.dumps({label: round(float(p), 6) for label, p in row.items() if p > 0})
        for _, row in result.probabilities.iterrows()
    ]
    return pd.DataFrame(
        {
            "text": result.labels["text"].to_numpy(),
            "label": result.labels["label"].to_numpy(),
            SOFT_COLUMN: soft,
        }
    )


def name_finder(run_dir: str | Path | None) -> NameFinder | None:
    """The person and place names a NER run finds, as privacy's NameFinder (None: no run given)."""
    if run_dir is None:
        return None
    predictor = load_predictor(Path(run_dir))
    if not tags_names(predictor.task.name, predictor.task.classes):
        raise ConfigError(
            f"'{run_dir}' is not a NER run that tags people or places "
            f"(types {sorted(NAME_TYPES)}); train one on such data."
        )
    return lambda texts: predictor.predict(texts, show_progress=False)


def pseudonymizer_for(
    config: TrainConfig, key_file: str | None = None, create: bool = False
) -> Pseudonymizer | None:
    """The pseudonymizer of a key file (default: the config's own), None when there is no key."""
    key_file = key_file or config.pseudonymize
    if key_file is None:
        return None
    return Pseudonymizer(read_key(key_file, create=create), name_finder(config.pseudonymize_names))


@dataclass(frozen=True)
class MemoryData:
    """Tables given from memory in the Python API, standing in for the config's files."""

    data: Table | None = None
    dev_data: Table | None = None
    test_data: Table | None = None


def training_config(
    data: Any,
    config: TrainConfig | None,
    texts: Sequence[Any] | None,
    labels: Sequence[Any] | None,
    text_pairs: Sequence[str] | None,
    options: dict[str, Any],
) -> tuple[TrainConfig, MemoryData]:
    """The config of a `train` call, and the tables it was given from memory (recorded in the
    config by kind, size and hash, as `in_memory`)."""
    tables = {
        name: options.pop(name)
        for name in ("dev_data", "test_data")
        if name in options and options[name] is not None and not is_path(options[name])
    }
    memory = MemoryData(**{name: memory_table(value) for name, value in tables.items()})
    if data is not None and not is_path(data) or texts is not None:
        memory = dataclasses.replace(
            memory, data=memory_table(data, texts=texts, labels=labels, text_pairs=text_pairs)
        )
    sources: dict[str, Any] = {}
    if memory.data is not None:
        sources = {"data": None, "dataset": None, "annotations": None, "in_memory": memory.data.description()}
    elif data is not None:
        sources = {"data": str(data), "dataset": None, "annotations": None, "in_memory": None}
    options = {**options, **sources, **{name: None for name in tables}}
    if config is None:
        return TrainConfig.from_dict(options), memory
    return (config.replace(**options) if options else config), memory


def source_table(config: TrainConfig, memory: MemoryData | None = None) -> Table:
    """The table the config trains on: a file, a bundled dataset, the consensus of crowd answers,
    or the data from memory it records (which must be given again)."""
    if config.in_memory is not None:
        if memory is None or memory.data is None:
            raise DataError(
                f"This run was trained on data from memory ({config.in_memory}); pass the same data "
                "again (data=...) to rebuild its splits."
            )
        return memory.data
    if config.annotations is not None:
        frame = consensus_frame(config.annotations, config.aggregation, config.seed)
        return Table(frame, f"the consensus of '{Path(config.annotations).name}'")
    return load_table(config.data, config.dataset, config.encoding, config.delimiter)


def prepare_splits(
    config: TrainConfig, extra_label_cols: tuple[str, ...] = (), memory: MemoryData | None = None
) -> Splits:
    """Train/dev/test as the config describes them, few-shot sampled and pseudonymized when asked."""
    memory = memory or MemoryData()
    request = SplitRequest(
        memory.dev_data or config.dev_data,
        memory.test_data or config.test_data,
        config.text_col,
        config.label_col,
        config.dev_size,
        config.test_size,
        config.seed,
        config.sample,
        extra_label_cols,
        config.text_pair_col,
        label_format_for(config),
    )
    splits = split_table(source_table(config, memory), request)
    if config.shots is not None or config.train_size is not None:
        train = (
            per_class_sample(splits.train, config.shots, config.seed)
            if config.shots is not None
            else splits.train
        )
        train = stratified_sample(
            train, config.train_size, config.seed, config.data or config.dataset or "the data"
        )
        splits = dataclasses.replace(splits, train=train)
    pseudonymizer = pseudonymizer_for(config, create=True)
    if pseudonymizer is None:
        return splits
    return dataclasses.replace(
        splits,
        train=pseudonymize_texts(splits.train, pseudonymizer),
        dev=pseudonymize_texts(splits.dev, pseudonymizer),
        test=pseudonymize_texts(splits.test, pseudonymizer),
    )


def prepare_labelled(
    config: TrainConfig,
    table: Table,
    task: Task,
    text_col: str | None = None,
    label_col: str | None = None,
    text_pair_col: str | None = None,
    key_file: str | None = None,
) -> LabelledTexts:
    """Labelled data to evaluate a run on, read as its training data was (the same columns unless
    others are named) and pseudonymized with `key_file` or the run's own key."""
    labelled = labelled_table(
        table,
        text_col or config.text_col,
        label_col or config.label_col,
        pair_col=text_pair_col or config.text_pair_col,
        pairs_expected=config.text_pair_col is not None,
        label_format=label_format_for(config),
    )
    pseudonymizer = pseudonymizer_for(config, key_file)
    if pseudonymizer is not None:
        labelled = pseudonymize_texts(labelled, pseudonymizer)
    unseen = sorted(set(label_names(labelled.labels, task.name)) - set(task.classes)) if task.classes else []
    if unseen:
        raise DataError(
            f"{table.source} has label(s) {unseen[:5]} never seen in training (known: {task.classes}); "
            "fix the labels or retrain."
        )
    return labelled


def prediction_inputs(
    config: TrainConfig, table: Table, text_col: str | None = None, text_pair_col: str | None = None
) -> list[Any]:
    """What a run reads from each row of a table: its text, or (text, second text) for a run
    trained on sentence pairs (the training columns unless others are named)."""
    frame, source, first = table.frame, table.source, table.first_row
    texts = check_texts(frame[find_text_column(frame, text_col or config.text_col, source)], source, first)
    if config.text_pair_col is None:
        return list(texts)
    pair_col = find_column(
        frame, text_pair_col or config.text_pair_col, (), "text pair", source, "--text-pair-col"
    )
    pairs = check_texts(frame[pair_col], f"{source} (second text, column '{pair_col}')", first)
    return list(zip(texts, pairs, strict=True))
