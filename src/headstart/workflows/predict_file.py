"""Predict a whole file (or standard input, or a few texts): read, predict with progress, write
atomically."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from headstart.data.io import (
    FORMATS,
    as_strings,
    decode,
    flat_cells,
    read_delimited,
    read_jsonl,
    read_table,
    write_table_atomic,
)
from headstart.data.memory import Table
from headstart.errors import ConfigError, DataError
from headstart.evaluation.conformal import check_coverage
from headstart.labels.aggregate import ITEM_COLUMNS
from headstart.preparation import prediction_inputs, pseudonymizer_for
from headstart.privacy.pseudonyms import pseudonymize_frame
from headstart.runs import Run, load_run

STDIO = "-"  # a file name that means standard input or output


def predict_file(
    run_dir: str | Path,
    input_path: str | Path,
    output_path: str | Path,
    text_col: str | None = None,
    text_pair_col: str | None = None,
    pseudonymize: str | None = None,
    variant: str = "auto",
    encoding: str | None = None,
    delimiter: str | None = None,
    device: str = "auto",
    precision: str = "fp32",
    coverage: float | None = None,
    queue: str | Path | None = None,
) -> int:
    """Write the input rows plus the predictions; returns the row count. `-` as the input reads
    JSONL or CSV from standard input, `-` as the output writes to standard output (JSONL for
    JSONL input, else CSV). With a key (`pseudonymize`, or the run's own), personal data in the
    rows is pseudonymized first.

    NER: `entities`, a JSON list of {start, end, label, text, score} per text.
    Classes: `predicted_label` and one `prob_<label>` column per class (a multi-task run adds
    `predicted_<column>` and `prob_<column>_<label>` per further column). Multi-label: `predicted_labels`
    (joined by the run's label separator) and `prob_<label>`. Regression: `predicted_value`.
    With `coverage` (classes only): `label_set`, the conformal set of labels (joined by the run's
    label separator), and `uncertain`, true where it is not one label; `queue` writes
    those rows as annotation tasks in the crowd answers format (item, annotator and label left
    empty for the annotator, text, candidates).
    """
    output_path = str(output_path)
    check_output_format(output_path)
    check_set_options(coverage, queue)
    rows, source, lines = input_rows(input_path, encoding, delimiter)
    run = load_run(run_dir, variant, device, precision)
    if coverage is not None:
        run.check_label_sets(coverage)
    pseudonymizer = pseudonymizer_for(run.config, pseudonymize)
    if pseudonymizer is not None:  # before anything is predicted or written: the output holds pseudonyms only
        rows = pseudonymize_frame(rows, pseudonymizer)
    inputs = prediction_inputs(run.config, Table(as_strings(rows), source), text_col, text_pair_col)
    columns = prediction_columns(run, inputs)
    if coverage is not None:
        columns |= label_set_columns(run, columns, coverage)
    result = pd.concat([rows, pd.DataFrame(columns, index=rows.index)], axis=1)
    if queue is not None:
        write_table_atomic(uncertain_queue(result, inputs, run.config.label_sep), queue)
    if output_path == STDIO:
        sys.stdout.write(
            result.to_json(orient="records", lines=True, force_ascii=False)
            if lines
            else flat_cells(result).to_csv(index=False)
        )
        sys.stdout.flush()
    else:
        write_table_atomic(result, output_path)
    return len(result)


def check_output_format(path: str | Path | None) -> None:
    """A file to write (None: none; - is standard output) has an extension headstart writes."""
    if path is not None and str(path) != STDIO and Path(path).suffix.lower() not in FORMATS:
        raise DataError(
            f"Output file '{path}' has unknown format '{Path(path).suffix or '(none)'}'; "
            f"use one of {', '.join(sorted(FORMATS))}, or - for standard output."
        )


def check_set_options(coverage: float | None, queue: str | Path | None) -> None:
    """`--coverage` is a probability; `--queue` is a file (of a format headstart writes) and needs it."""
    if queue is not None and str(queue) == STDIO:
        raise ConfigError("--queue needs a file name: standard output holds the predictions, not the queue.")
    check_output_format(queue)
    if coverage is not None:
        check_coverage(coverage)
    elif queue is not None:
        raise ConfigError("--queue writes the texts whose label set is uncertain; give --coverage too.")


def input_rows(
    input_path: str | Path, encoding: str | None, delimiter: str | None
) -> tuple[pd.DataFrame, str, bool]:
    """The rows to predict with their values as stored (an id stays a number), where they came
    from, and whether they came as JSON lines (standard input: sniffed)."""
    if str(input_path) != STDIO:
        rows = read_table(input_path, encoding, delimiter, keep_types=True)
        return rows, f"'{Path(input_path).name}'", Path(input_path).suffix.lower() in (".jsonl", ".ndjson")
    text = decode(sys.stdin.buffer.read(), "Standard input", encoding)
    if not text.strip():
        raise DataError("Standard input is empty; pipe in JSON lines or a CSV with a header row.")
    lines = text.lstrip().startswith("{")
    source = "standard input"
    rows = read_jsonl(text, source, keep_types=True) if lines else read_delimited(text, source, delimiter)
    return rows, source, lines


def predict_texts(
    run_dir: str | Path,
    texts: list[str],
    variant: str = "auto",
    device: str = "auto",
    precision: str = "fp32",
    coverage: float | None = None,
) -> list[dict[str, Any]]:
    """The answer for each of a few texts (see `answers`; `with_label_sets` with `coverage`)."""
    run = load_run(run_dir, variant, device, precision)
    if run.config.text_pair_col is not None:
        raise DataError(
            f"'{run_dir}' reads sentence pairs; predict a file with both columns instead of --text."
        )
    if coverage is None:
        return answers(run, list(texts))
    run.check_label_sets(coverage)
    return with_label_sets(run, answers(run, list(texts)), coverage)


def answers(run: Run, inputs: list[Any]) -> list[dict[str, Any]]:
    """The JSON answer for each input: label and probabilities, labels (multi-label), a value
    (regression), or entities with character offsets (NER). `headstart serve` answers the same."""
    task = run.task
    if task.name == "ner":
        return [{"entities": found} for found in run.predict(inputs, show_progress=False)]
    outputs = run.predictor.outputs(inputs, show_progress=False)
    decided = task.decide(outputs)
    if task.name == "regression":
        return [{"value": float(value)} for value in decided]
    key = "labels" if task.name == "multi-label" else "label"
    return [
        {
            key: list(choice) if key == "labels" else choice,
            "probabilities": {label: round(float(p), 6) for label, p in zip(task.classes, row, strict=True)},
        }
        for choice, row in zip(decided, outputs, strict=True)
    ]


def with_label_sets(run: Run, results: list[dict[str, Any]], coverage: float) -> list[dict[str, Any]]:
    """Classification answers with `label_set` (a list, most probable first) and `uncertain`."""
    probabilities = np.array([[result["probabilities"][label] for label in run.labels] for result in results])
    sets = run.label_sets(probabilities, coverage)
    return [
        result | {"label_set": labels, "uncertain": len(labels) != 1}
        for result, labels in zip(results, sets, strict=True)
    ]


def label_set_columns(run: Run, columns: Mapping[str, Any], coverage: float) -> dict[str, Any]:
    """`label_set` and `uncertain` at `coverage` (see `predict_file`), from the `prob_<label>`
    columns already predicted (a dict or a DataFrame of them)."""
    sets = run.label_sets(np.column_stack([columns[f"prob_{label}"] for label in run.labels]), coverage)
    return {
        "label_set": [run.config.label_sep.join(labels) for labels in sets],
        "uncertain": [len(labels) != 1 for labels in sets],
    }


def uncertain_queue(
    result: pd.DataFrame, inputs: list[Any], label_sep: str, source: str | None = None
) -> pd.DataFrame:
    """The uncertain rows as tasks in the crowd answers format: the input's own item id when it has
    one (else the row number), after `source:` when the queue gathers several files; annotator and
    label empty for the annotator, the text and the candidate labels, most probable first."""
    id_column = next((c for c in result.columns if str(c).lower() in ITEM_COLUMNS), None)
    uncertain = result["uncertain"].to_numpy(dtype=bool)
    chosen = result[uncertain]
    texts = [text for text, unsure in zip(inputs, uncertain, strict=True) if unsure]
    items = list(chosen[id_column] if id_column is not None else chosen.index)
    return pd.DataFrame(
        {
            "item": items if source is None else [f"{source}:{item}" for item in items],
            "annotator": "",
            "label": "",
            "text": [text if isinstance(text, str) else " / ".join(text) for text in texts],
            "candidates": [
                labels.replace(label_sep, " | ") or "(none likely)" for labels in chosen["label_set"]
            ],
        }
    )


def prediction_columns(run: Run, inputs: list[Any]) -> dict[str, Any]:
    """The columns `predict_file` adds, by name (see its docstring)."""
    if run.task.name == "ner":  # entities with character offsets into each text, as JSON
        return {"entities": [json.dumps(found, ensure_ascii=False) for found in run.predict(inputs)]}
    columns: dict[str, Any] = {}
    for head, outputs in run.predictor.predict_heads(inputs).items():
        labels = run.head_labels[head]
        prefix = "prob" if head == "label" else f"prob_{head}"
        if head != "label":  # a multi-task run's further column: its classes
            columns[f"predicted_{head}"] = [labels[i] for i in outputs.argmax(axis=1)]
        elif run.task.name == "multi-label":
            columns["predicted_labels"] = [run.config.label_sep.join(row) for row in run.task.decide(outputs)]
        elif run.task.name == "regression":
            columns["predicted_value"] = outputs
            continue
        else:
            columns["predicted_label"] = run.task.decide(outputs)
        columns.update({f"{prefix}_{label}": outputs[:, i] for i, label in enumerate(labels)})
    return columns
