"""Data given from memory in the Python API: a pandas DataFrame, a Hugging Face `datasets.Dataset`,
or lists (`texts=`, `labels=`, `text_pairs=`), made into the same table of strings a file gives,
so the same checks and one-line errors apply.

Lists say their task by their shape: a label per text (classes, or numbers for regression), a
list of labels per text (multi-label), or for named entities a list of words per text with a list
of tags (`texts=[["Alice", "lives", "in", "Oslo"]]`, `labels=[["B-person", "O", "O", "B-loc"]]`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from headstart.data.io import FORMATS, as_strings, read_table
from headstart.errors import DataError


@dataclass(frozen=True)
class Table:
    """A table of string cells, how messages name it, and the number messages give its first row
    (2 for a file under its header line, 0 for data from memory)."""

    frame: pd.DataFrame
    source: str
    first_row: int = 2
    in_memory: bool = False

    def fingerprint(self) -> str:
        """A short hash of every cell: recorded with a run trained on data from memory."""
        digest = hashlib.sha256(self.frame.to_json(orient="split", force_ascii=False).encode("utf-8"))
        return digest.hexdigest()[:16]

    def description(self) -> str:
        """What config.yaml records of data from memory: its kind, size and hash."""
        return f"{self.source} ({len(self.frame)} rows, sha256 {self.fingerprint()})"


def is_path(data: Any) -> bool:
    """A file path (str or Path) rather than data."""
    return isinstance(data, str | Path)


def is_data_file(data: Any) -> bool:
    """A str or Path naming a table file by its extension (a plain str is otherwise a text)."""
    return isinstance(data, Path) or (isinstance(data, str) and Path(data).suffix.lower() in FORMATS)


def is_table(data: Any) -> bool:
    """A pandas DataFrame or a Hugging Face dataset (rather than a list of texts)."""
    return isinstance(data, pd.DataFrame) or type(data).__module__.split(".")[0] == "datasets"


def file_table(path: str | Path, encoding: str | None = None, delimiter: str | None = None) -> Table:
    """A file read as a table (see `headstart.data.io.read_table`)."""
    return Table(read_table(path, encoding, delimiter), f"'{Path(path).name}'")


def memory_table(
    data: Any = None,
    *,
    texts: Sequence[Any] | None = None,
    labels: Sequence[Any] | None = None,
    text_pairs: Sequence[str] | None = None,
) -> Table:
    """A DataFrame, a `datasets.Dataset` or lists as a table of strings."""
    if data is not None and texts is not None:
        raise DataError(
            "Give the data either as a table (a DataFrame or Dataset) or as texts=/labels= lists, not both."
        )
    if data is not None:
        return Table(
            as_strings(_frame(data)), f"the {type(data).__name__} given", first_row=0, in_memory=True
        )
    if texts is None:
        raise DataError(
            "No data given: pass a file, a DataFrame, a datasets.Dataset, or texts= (and labels=)."
        )
    return Table(
        _lists_frame(list(texts), labels, text_pairs), "the texts given", first_row=0, in_memory=True
    )


def _frame(data: Any) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        if data.empty:
            raise DataError("The DataFrame given has no rows; pass labelled rows.")
        return data.reset_index(drop=True)
    module = type(data).__module__.split(".")[0]
    if module == "datasets" and hasattr(data, "to_pandas"):
        frame = data.to_pandas()
        if not isinstance(frame, pd.DataFrame):  # an iterable dataset gives batches
            raise DataError("Pass a datasets.Dataset (one split, loaded in memory), e.g. dataset['train'].")
        return frame
    if module == "datasets":
        raise DataError(f"A {type(data).__name__} holds several splits; pass one, e.g. dataset['train'].")
    raise DataError(
        f"Data of type {type(data).__name__} cannot be read; pass a file path, a pandas DataFrame, a "
        "datasets.Dataset, or texts= and labels= lists."
    )


def _lists_frame(texts: list[Any], labels: Sequence[Any] | None, pairs: Sequence[str] | None) -> pd.DataFrame:
    """Lists as the columns a file would have: text/label/text_pair, or tokens/tags for NER."""
    if not texts:
        raise DataError("texts= is empty; pass at least one text.")
    for name, values in (("labels", labels), ("text_pairs", pairs)):
        if values is not None and len(values) != len(texts):
            raise DataError(
                f"texts= has {len(texts)} items but {name}= has {len(values)}; give one per text."
            )
    if all(isinstance(text, list | tuple) for text in texts):  # words per text: named entities
        words = {"tokens": [json.dumps(list(row), ensure_ascii=False) for row in texts]}
        if labels is not None:
            words["tags"] = [json.dumps([str(tag) for tag in tags]) for tags in labels]
        return pd.DataFrame(words, dtype=object)
    columns: dict[str, list[str | None]] = {"text": [None if text is None else str(text) for text in texts]}
    if pairs is not None:
        columns["text_pair"] = [None if pair is None else str(pair) for pair in pairs]
    if labels is not None:
        columns["label"] = [_label_cell(label) for label in labels]
    return pd.DataFrame(columns, dtype=object)


def _label_cell(label: Any) -> str | None:
    """A label as a file would hold it: a label set as a JSON list, anything else as text."""
    if label is None:
        return None
    if isinstance(label, list | tuple | set | frozenset):
        return json.dumps(sorted(str(item) for item in label), ensure_ascii=False)
    return str(label)
