"""How label cells are read: which task they describe, and label sets, numbers or 0/1 columns."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from headstart.errors import DataError

TRUE_CELLS = {"1", "1.0", "true", "yes", "y"}
FALSE_CELLS = {"0", "0.0", "false", "no", "n", ""}


@dataclass(frozen=True)
class LabelFormat:
    """How label cells are read: the task (None: detect it), the separator of several labels in
    one cell, or one 0/1 column per label."""

    task: str | None = None
    separator: str = "|"
    columns: tuple[str, ...] = ()

    def resolved(self, cells: pd.Series | None) -> LabelFormat:
        """The format with its task set: as given, or detected from the label cells."""
        if self.task is not None:
            return self
        task = "multi-label" if self.columns or cells is None else detect_task(cells, self.separator)
        return dataclasses.replace(self, task=task)


def parse_multi_labels(
    cells: pd.Series, separator: str, source: str, first_row: int = 2
) -> list[tuple[str, ...]]:
    """Label sets from JSON lists (JSONL, Parquet) or separator-joined strings (CSV); blank = no label."""
    rows = []
    for line, cell in enumerate(cells.tolist(), start=first_row):
        text = "" if cell is None else str(cell).strip()
        if text.startswith("["):
            try:
                values = json.loads(text)
            except json.JSONDecodeError:
                raise DataError(
                    f"Row {line} of {source} holds '{text[:40]}', not a JSON list of labels; fix it."
                ) from None
        else:
            values = text.split(separator) if text else []
        rows.append(tuple(sorted({str(value).strip() for value in values if str(value).strip()})))
    return rows


def labels_from_columns(
    frame: pd.DataFrame, columns: list[str], source: str, first_row: int = 2
) -> list[tuple[str, ...]]:
    """Label sets from one 0/1 column per label."""
    rows: list[list[str]] = [[] for _ in range(len(frame))]
    for column in columns:
        for row, cell in enumerate(frame[column].tolist()):
            text = "" if cell is None else str(cell).strip().lower()
            if text not in TRUE_CELLS | FALSE_CELLS:
                raise DataError(
                    f"Row {row + first_row} of {source} has {cell!r} in label "
                    f"column '{column}'; use 1/0 (or true/false)."
                )
            if text in TRUE_CELLS:
                rows[row].append(column)
    return [tuple(row) for row in rows]


def parse_numbers(cells: pd.Series, source: str, first_row: int = 2) -> list[float]:
    """Numeric labels (regression); non-numbers are refused with their rows."""
    values = pd.to_numeric(cells, errors="coerce")
    bad = values.isna() | ~np.isfinite(values.fillna(0))
    if bad.any():
        rows = [int(i) + first_row for i in bad.to_numpy().nonzero()[0][:5]]
        raise DataError(
            f"{int(bad.sum())} row(s) of {source} have a label that is not a number (rows {rows}); "
            "regression needs numeric labels, or pass --task classification."
        )
    return values.astype(float).tolist()


def detect_task(cells: pd.Series, separator: str) -> str:
    """multi-label when cells hold lists or the separator; regression when every label is a number
    and they are not a handful of integer codes; classification otherwise."""
    text = cells.dropna().astype(str).str.strip()
    if text.str.startswith("[").any() or text.str.contains(separator, regex=False).any():
        return "multi-label"
    numbers = pd.to_numeric(text, errors="coerce")
    if len(text) and numbers.notna().all():
        integer_codes = (numbers == numbers.round()).all() and numbers.nunique() <= 10
        if not integer_codes:
            return "regression"
    return "classification"
