"""Predict a whole file: read, predict with progress, write atomically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from headstart.data.columns import check_texts, find_column, find_text_column
from headstart.data.io import FORMATS, read_table, write_table_atomic
from headstart.errors import DataError
from headstart.preparation import pseudonymizer_for
from headstart.privacy.pseudonyms import pseudonymize_frame
from headstart.runs import Run, load_run


def predict_file(
    run_dir: str | Path,
    input_path: str | Path,
    output_path: str | Path,
    text_col: str | None = None,
    text_pair_col: str | None = None,
    pseudonymize: str | None = None,
    variant: str = "fp32",
) -> int:
    """Write the input rows plus the predictions; returns the row count. With a key (`pseudonymize`, or
    the run's own), personal data in the rows is pseudonymized first.

    NER: `entities`, a JSON list of {start, end, label, text, score} per text.
    Classes: `predicted_label` and one `prob_<label>` column per class (a multi-task run adds
    `predicted_<column>` and `prob_<column>_<label>` per further column). Multi-label: `predicted_labels`
    (joined by the run's label separator) and `prob_<label>`. Regression: `predicted_value`.
    """
    output_path = Path(output_path)
    if output_path.suffix.lower() not in FORMATS:
        raise DataError(
            f"Output file '{output_path}' has unknown format '{output_path.suffix or '(none)'}'; use one "
            f"of {', '.join(sorted(FORMATS))}."
        )
    run = load_run(run_dir, variant)
    frame = read_table(input_path)
    pseudonymizer = pseudonymizer_for(run.config, pseudonymize)
    if pseudonymizer is not None:  # before anything is predicted or written: the output holds pseudonyms only
        frame = pseudonymize_frame(frame, pseudonymizer)
    inputs = _inputs(frame, run, f"'{Path(input_path).name}'", text_col, text_pair_col)
    result = pd.concat([frame, pd.DataFrame(prediction_columns(run, inputs), index=frame.index)], axis=1)
    write_table_atomic(result, output_path)
    return len(result)


def _inputs(
    frame: pd.DataFrame, run: Run, source: str, text_col: str | None, text_pair_col: str | None
) -> list[Any]:
    """The texts of the rows (with their second texts for a run trained on sentence pairs)."""
    texts = check_texts(frame[find_text_column(frame, text_col or run.config.text_col, source)], source)
    if run.config.text_pair_col is None:
        return list(texts)
    pair_col = find_column(
        frame, text_pair_col or run.config.text_pair_col, (), "text pair", source, "--text-pair-col"
    )
    return list(
        zip(texts, check_texts(frame[pair_col], f"{source} (second text, column '{pair_col}')"), strict=True)
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
