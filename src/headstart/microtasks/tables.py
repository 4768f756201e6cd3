"""Items from files, and settled items to files in the format the customer asked for.

A file of items has a text column, a language column (or one language for all; `detect` finds
each text's), and optionally an id column (`id` or `item`) and a `gold` column. Other columns go
to the item's data: a `predict --queue` file of a run's uncertain texts keeps its `candidates` that
way, so the model's doubts go to annotators as a label step's items.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from headstart.data.dataset import SOFT_COLUMN
from headstart.data.io import read_table, write_table_atomic
from headstart.data.languages import detect_languages
from headstart.errors import ConfigError, DataError
from headstart.extras import optional

EXPORT_FORMATS = ("csv", "jsonl", "parquet", "hf-dataset")
SKIPPED = {"annotator", "label"}  # a crowd queue's empty answer columns


def rows_from_file(path: str | Path, language: str | None) -> list[dict[str, Any]]:
    """Item rows of a file: text, language (the column, `language`, or detected), id, gold, data."""
    frame = read_table(path)
    if "text" not in frame.columns:
        raise DataError(f"'{Path(path).name}' has no text column; name the column of texts 'text'.")
    if language is None and "language" not in frame.columns:
        raise DataError(
            f"'{Path(path).name}' has no language column; add one, or pass --language CODE (or detect)."
        )
    texts = frame["text"].astype(str).tolist()
    languages = (
        frame["language"].astype(str).tolist()
        if language is None
        else detect_languages(texts)
        if language == "detect"
        else [language] * len(texts)
    )
    id_column = next((column for column in ("id", "item") if column in frame.columns), None)
    extra = [c for c in frame.columns if c not in {"text", "language", "gold", id_column, *SKIPPED}]
    rows = []
    for index, (text, code) in enumerate(zip(texts, languages, strict=True)):
        row: dict[str, Any] = {"text": text, "language": code}
        if id_column is not None:
            row["id"] = str(frame[id_column].iloc[index])
        if "gold" in frame.columns and pd.notna(frame["gold"].iloc[index]) and str(frame["gold"].iloc[index]):
            row["gold"] = _cell(frame["gold"].iloc[index])
        data = {c: str(frame[c].iloc[index]) for c in extra if pd.notna(frame[c].iloc[index])}
        if data:
            row["data"] = data
        rows.append(row)
    return rows


def _cell(value: Any) -> Any:
    """A gold cell: JSON when it parses (a list, an object, a number), else the string."""
    try:
        return json.loads(value) if isinstance(value, str) and value[:1] in "[{0123456789-tf" else value
    except json.JSONDecodeError:
        return value


def training_frame(rows: list[dict[str, Any]], project: str) -> pd.DataFrame:
    """Settled items of a single-label step as a labelled table: text, label and the posterior as
    the soft_label column `--soft-labels` trains on (rows of `export(..., soft=True)`)."""
    frame = pd.DataFrame(rows)
    if "label" in frame:  # rows of other last steps (tag, rate, several labels) have no one label
        frame = frame[frame["label"].map(lambda value: isinstance(value, str))]
    if frame.empty or "label" not in frame:
        raise DataError(
            f"Project '{project}' has no settled items of a single-label step to train on yet; "
            "see `headstart tasks status`."
        )
    probabilities = [column for column in frame.columns if column.startswith("p_")]
    soft = [
        json.dumps({column[2:]: row[column] for column in probabilities if row[column] > 0})
        for _, row in frame.iterrows()
    ]
    return pd.DataFrame({"text": frame["text"], "label": frame["label"], SOFT_COLUMN: soft})


def write_export(rows: list[dict[str, Any]], out: str | Path, kind: str) -> None:
    """Write rows as csv, jsonl, parquet (a file) or hf-dataset (a folder for `datasets.load_from_disk`)."""
    if kind not in EXPORT_FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(EXPORT_FORMATS)}; got {kind!r}.")
    out = Path(out)
    frame = pd.DataFrame(rows)
    for column in frame.columns:  # lists and objects (several labels, spans) as JSON text in tables
        if frame[column].map(lambda v: isinstance(v, list | dict)).any():
            frame[column] = frame[column].map(
                lambda v: json.dumps(v, ensure_ascii=False) if isinstance(v, list | dict) else v
            )
    if kind != "hf-dataset":
        if out.suffix.lower() != f".{kind}":
            raise ConfigError(f"--out '{out}' must end in .{kind} for --format {kind}.")
        write_table_atomic(frame, out)
        return
    earlier_export = out.is_dir() and (not any(out.iterdir()) or (out / "dataset_info.json").is_file())
    if out.exists() and not earlier_export:
        raise ConfigError(f"--out '{out}' exists and is not an earlier export; give a new folder.")
    with optional("--format hf-dataset"):
        from datasets import Dataset

    staging = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    Dataset.from_pandas(frame, preserve_index=False).save_to_disk(str(staging))
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)
