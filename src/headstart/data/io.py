"""Read tables of text from CSV, TSV, JSONL and Parquet, with one-line errors for bad files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd

from headstart.data.ner import read_conll
from headstart.errors import DataError

FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".conll": "conll",
    ".bio": "conll",
    ".iob": "conll",
}


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a whole file into a DataFrame of strings (missing cells stay NaN)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"Data file '{path}' does not exist; check the path.")
    if not path.is_file():
        raise DataError(f"'{path}' is a directory, not a data file; pass a CSV, TSV, JSONL or Parquet file.")
    data_format = FORMATS.get(path.suffix.lower())
    if data_format is None:
        known = ", ".join(sorted(FORMATS))
        raise DataError(
            f"Data file '{path}' has unknown format '{path.suffix or '(none)'}'; use one of {known}."
        )
    if path.stat().st_size == 0:
        raise DataError(f"Data file '{path}' is empty; it needs a header row and at least one data row.")
    reader = {
        "csv": _read_delimited,
        "tsv": _read_delimited,
        "jsonl": _read_jsonl,
        "parquet": _read_parquet,
        "conll": _read_conll,
    }[data_format]
    frame = reader(path)
    if frame.empty or len(frame.columns) == 0:
        raise DataError(f"Data file '{path}' has no data rows; add rows below the header.")
    return frame


def _check_utf8(path: Path) -> None:
    raw = path.read_bytes()
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise DataError(
            f"Data file '{path}' is not valid UTF-8 (byte "
            f"0x{raw[error.start]:02x} on line {line}); re-save it as UTF-8."
        ) from None


def _read_delimited(path: Path) -> pd.DataFrame:
    _check_utf8(path)
    tsv = FORMATS[path.suffix.lower()] == "tsv"
    kind = "TSV" if tsv else "CSV"
    # The csv module rather than pandas: pandas turns surplus fields into an index without a word.
    with path.open(encoding="utf-8", newline="") as stream:
        reader = csv.reader(stream, delimiter="\t" if tsv else ",", strict=True)
        try:
            header = next(reader, [])
            rows = []
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue
                if len(row) != len(header):
                    raise DataError(
                        f"Line {reader.line_num} of '{path}' has {len(row)} fields but the header has "
                        f"{len(header)}; the file is not well-formed {kind}: fix its quoting or separators."
                    )
                rows.append([cell if cell != "" else None for cell in row])
        except csv.Error as error:
            raise DataError(
                f"Line {reader.line_num} of '{path}' is not well-formed {kind} ({error}); fix its quoting."
            ) from None
    if not header or not any(name.strip() for name in header):
        raise DataError(f"Data file '{path}' has no header row; add one naming the text and label columns.")
    return pd.DataFrame(rows, columns=[name.strip() for name in header], dtype=object)


def _read_jsonl(path: Path) -> pd.DataFrame:
    _check_utf8(path)
    rows = []
    with path.open(encoding="utf-8") as stream:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataError(
                    f"Line {number} of '{path}' is not valid JSON "
                    f"({error.msg}); each line must hold one JSON object."
                ) from None
            if not isinstance(row, dict):
                raise DataError(
                    f"Line {number} of '{path}' holds a {type(row).__name__}, "
                    "not a JSON object; write one object per line."
                )
            rows.append(row)
    return _as_strings(pd.DataFrame(rows))


def _read_conll(path: Path) -> pd.DataFrame:
    _check_utf8(path)
    return read_conll(path)


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(path)
    except Exception as error:  # pyarrow raises several unrelated types for a damaged file
        raise DataError(
            f"Data file '{path}' is not a readable Parquet file ({type(error).__name__}); re-export it."
        ) from None
    return _as_strings(frame)


def _as_strings(frame: pd.DataFrame) -> pd.DataFrame:
    """Cells become strings, missing cells None: the same shape the CSV reader gives. Lists (label
    sets in JSONL or Parquet) become JSON lists, which the multi-label reader parses."""

    def as_string(value: object) -> str | None:
        if isinstance(value, (list, tuple, np.ndarray)):
            return json.dumps(
                [item.item() if isinstance(item, np.generic) else item for item in value], ensure_ascii=False
            )
        return None if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)

    return frame.astype(object).map(as_string)


def write_table_atomic(frame: pd.DataFrame, path: str | Path) -> None:
    """Write CSV/TSV/JSONL/Parquet to a temporary file, then rename it into place."""
    path = Path(path)
    data_format = FORMATS.get(path.suffix.lower())
    if data_format is None:
        known = ", ".join(sorted(FORMATS))
        raise DataError(
            f"Output file '{path}' has unknown format '{path.suffix or '(none)'}'; use one of {known}."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        if data_format == "conll":
            raise DataError(f"Cannot write '{path}' as CoNLL; write predictions to .csv, .jsonl or .parquet.")
        if data_format == "csv":
            frame.to_csv(temporary, index=False)
        elif data_format == "tsv":
            frame.to_csv(temporary, index=False, sep="\t")
        elif data_format == "jsonl":
            frame.to_json(temporary, orient="records", lines=True, force_ascii=False)
        else:
            frame.to_parquet(temporary, index=False)
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)
