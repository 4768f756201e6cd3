"""Finding the text, label and second-text columns of a table, and checking their cells."""

from __future__ import annotations

import pandas as pd

from headstart.data.label_cells import LabelFormat
from headstart.errors import DataError

TEXT_COLUMNS = ("text", "sentence", "content", "document", "body", "review", "message", "tweet", "comment")
PAIR_COLUMNS = ("text_pair", "text_b", "sentence2", "hypothesis", "question2")
LABEL_COLUMNS = (
    "label",
    "labels",
    "category",
    "class",
    "target",
    "topic",
    "sentiment",
    "intent",
    "y",
    "score",
    "rating",
)
LANGUAGE_COLUMNS = ("language", "lang")
MISSING_CELLS = ("", "nan", "NaN", "None", "null")


def find_column(
    frame: pd.DataFrame, given: str | None, candidates: tuple[str, ...], role: str, source: str, flag: str
) -> str:
    """The column named `given`, or else the first of `candidates` present (case-insensitive)."""
    columns = [str(column) for column in frame.columns]
    if given is not None:
        if given not in columns:
            raise DataError(
                f"{role.capitalize()} column '{given}' is not in {source}; its columns are {sorted(columns)}."
            )
        return given
    lowered = {column.lower(): column for column in columns}
    for candidate in candidates:
        if candidate in lowered:
            return lowered[candidate]
    raise DataError(f"No {role} column found in {source} (columns: {sorted(columns)}); name it with {flag}.")


def find_text_column(frame: pd.DataFrame, given: str | None, source: str) -> str:
    """The text column: the one named, or a conventional name (text, sentence, content, ...)."""
    return find_column(frame, given, TEXT_COLUMNS, "text", source, "--text-col")


def find_pair_column(frame: pd.DataFrame, given: str | None, source: str) -> str | None:
    """The second-text column of sentence pairs: the one named, or a conventional name if present."""
    if given is not None:
        return find_column(frame, given, (), "text pair", source, "--text-pair-col")
    lowered = {str(column).lower(): str(column) for column in frame.columns}
    return next((lowered[name] for name in PAIR_COLUMNS if name in lowered), None)


def find_label_column(
    frame: pd.DataFrame, given: str | None, source: str, label_format: LabelFormat
) -> str | None:
    """The label column; None when labels are one 0/1 column per label (which must all be there)."""
    if label_format.columns:
        for column in label_format.columns:
            find_column(frame, column, (), "label", source, "--label-cols")
        return None
    return find_column(frame, given, LABEL_COLUMNS, "label", source, "--label-col")


def find_language_column(frame: pd.DataFrame, text_col: str | None) -> str | None:
    """A `language`/`lang` column naming each row's language, if the table has one."""
    return next((c for c in frame.columns if str(c).lower() in LANGUAGE_COLUMNS and c != text_col), None)


def check_texts(texts: pd.Series, source: str, first_row: int = 2) -> list[str]:
    """Texts must be present and non-blank; `first_row` is the file line of the first data row."""
    blank = texts.isna() | texts.fillna("").astype(str).str.strip().eq("")
    if blank.any():
        rows = [int(i) + first_row for i in blank.to_numpy().nonzero()[0][:5]]
        raise DataError(
            f"{int(blank.sum())} row(s) of {source} have empty text (rows {rows}); fill or remove them."
        )
    return texts.astype(str).tolist()


def check_labels(labels: pd.Series, source: str, what: str, first_row: int = 2) -> list[str]:
    """Labels must be present: blank, NaN and null cells are refused with their rows."""
    missing = labels.isna() | labels.fillna("").astype(str).str.strip().isin(MISSING_CELLS)
    if missing.any():
        rows = [int(i) + first_row for i in missing.to_numpy().nonzero()[0][:5]]
        raise DataError(
            f"{int(missing.sum())} row(s) of {source} have no {what} (rows {rows}); label or remove them."
        )
    return labels.astype(str).str.strip().tolist()
