"""Read tables of text from CSV, TSV, JSONL, Parquet, Excel and CoNLL files (or standard input),
with one-line errors for bad files.

Text files are read as people save them: UTF-8 with or without a byte-order mark (Excel's "CSV
UTF-8"), UTF-16 with one, or the `encoding` given; the delimiter of a CSV is sniffed among
`,` `;` tab `|` (European spreadsheets write `;`) unless `delimiter` is given; a cell may hold a
whole document.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from headstart.data.ner import parse_conll
from headstart.errors import DataError

FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".xlsx": "xlsx",
    ".conll": "conll",
    ".bio": "conll",
    ".iob": "conll",
}
DELIMITERS = ",;\t|"
BOMS = ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))
csv.field_size_limit(
    min(sys.maxsize, 2**31 - 1)
)  # a cell may hold a whole document (the default stops at 128 KiB)
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # JSON's "\\ud800" escapes decode to these


def holds_lone_surrogate(text: str) -> bool:
    """Whether `text` holds a UTF-16 surrogate that no encoder (UTF-8, Arrow, tokenizers) accepts."""
    return _LONE_SURROGATE.search(text) is not None


def read_table(
    path: str | Path, encoding: str | None = None, delimiter: str | None = None, keep_types: bool = False
) -> pd.DataFrame:
    """Read a whole file into a DataFrame of strings (missing cells None); `keep_types` keeps the
    numbers and lists that JSONL, Parquet and Excel store (to pass rows through unchanged)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"Data file '{path}' does not exist; check the path.")
    if not path.is_file():
        raise DataError(
            f"'{path}' is a directory, not a data file; pass a CSV, TSV, JSONL, Parquet or Excel file."
        )
    data_format = FORMATS.get(path.suffix.lower())
    if data_format is None:
        known = ", ".join(sorted(FORMATS))
        raise DataError(
            f"Data file '{path}' has unknown format '{path.suffix or '(none)'}'; use one of {known}."
        )
    if path.stat().st_size == 0:
        raise DataError(f"Data file '{path}' is empty; it needs a header row and at least one data row.")
    if data_format == "parquet":
        frame = _read_parquet(path)
    elif data_format == "xlsx":
        frame = _read_excel(path)
    else:
        text = decode(path.read_bytes(), f"Data file '{path}'", encoding)
        if data_format == "jsonl":
            frame = read_jsonl(text, f"'{path}'", keep_types=True)
        elif data_format == "conll":
            frame = parse_conll(text.splitlines(), f"'{path}'")
        else:
            frame = read_delimited(text, f"'{path}'", delimiter or ("\t" if data_format == "tsv" else None))
    if frame.empty or len(frame.columns) == 0:
        raise DataError(f"Data file '{path}' has no data rows; add rows below the header.")
    return frame if keep_types or data_format in ("csv", "tsv", "conll") else as_strings(frame)


def decode(raw: bytes, what: str, encoding: str | None = None) -> str:
    """Bytes as text: in `encoding`, or by the byte-order mark (UTF-8 or UTF-16), else strict UTF-8."""
    if encoding is not None:
        try:
            return raw.decode(encoding)
        except LookupError:
            raise DataError(
                f"Unknown encoding '{encoding}'; use e.g. utf-8, utf-16, cp1252 or latin-1."
            ) from None
        except UnicodeDecodeError as error:
            line = raw[: error.start].count(b"\n") + 1
            raise DataError(f"{what} is not valid {encoding} (line {line}); check --encoding.") from None
    for mark, codec in BOMS:
        if raw.startswith(mark):
            return raw.decode(codec)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise DataError(
            f"{what} is not valid UTF-8 (byte 0x{raw[error.start]:02x} on line {line}); re-save it as "
            "UTF-8 or give its --encoding (e.g. cp1252)."
        ) from None


def sniff_delimiter(text: str) -> str:
    """The delimiter of a CSV text among `,` `;` tab `|`; a comma when it cannot be told."""
    sample = "\n".join(text.splitlines()[:50])
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:  # one column, or no consistent delimiter
        return ","


def read_delimited(text: str, source: str, delimiter: str | None = None) -> pd.DataFrame:
    """A delimited text (CSV or TSV) as a table; every row must have the header's fields."""
    delimiter = delimiter or sniff_delimiter(text)
    kind = "TSV" if delimiter == "\t" else "CSV"
    # The csv module rather than pandas: pandas turns surplus fields into an index without a word.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader, [])
        rows = []
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise DataError(
                    f"Line {reader.line_num} of {source} has {len(row)} fields but the header has "
                    f"{len(header)}; the file is not well-formed {kind}: fix its quoting or separators "
                    "(or give --delimiter)."
                )
            rows.append([cell if cell != "" else None for cell in row])
    except csv.Error as error:
        raise DataError(
            f"Line {reader.line_num} of {source} is not well-formed {kind} ({error}); fix its quoting."
        ) from None
    if not header or not any(name.strip() for name in header):
        raise DataError(f"Data file {source} has no header row; add one naming the text and label columns.")
    return pd.DataFrame(rows, columns=[name.strip() for name in header], dtype=object)


def read_jsonl(text: str, source: str, keep_types: bool = False) -> pd.DataFrame:
    """One JSON object per line as a table (of strings unless `keep_types`)."""
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError(
                f"Line {number} of {source} is not valid JSON ({error.msg}); each line must hold one JSON "
                "object."
            ) from None
        if not isinstance(row, dict):
            raise DataError(
                f"Line {number} of {source} holds a {type(row).__name__}, not a JSON object; write one "
                "object per line."
            )
        if holds_lone_surrogate(json.dumps(row, ensure_ascii=False)):
            raise DataError(
                f"Line {number} of {source} escapes a lone UTF-16 surrogate (\\ud800-\\udfff); "
                "write valid Unicode."
            )
        rows.append(row)
    frame = pd.DataFrame(rows)
    return frame if keep_types else as_strings(frame)


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(path)
    except Exception as error:  # pyarrow raises several unrelated types for a damaged file
        raise DataError(
            f"Data file '{path}' is not a readable Parquet file ({type(error).__name__}); re-export it."
        ) from None
    return frame


def _read_excel(path: Path) -> pd.DataFrame:
    """The first sheet of an .xlsx workbook (openpyxl), its first row the header."""
    try:
        frame = pd.read_excel(path, sheet_name=0, dtype=object, engine="openpyxl")
    except Exception as error:  # openpyxl and zipfile raise several types for a damaged file
        raise DataError(
            f"Data file '{path}' is not a readable Excel workbook ({type(error).__name__}); re-save "
            "it as .xlsx."
        ) from None
    frame.columns = [str(column).strip() for column in frame.columns]
    return frame


def as_strings(frame: pd.DataFrame) -> pd.DataFrame:
    """Cells become strings, missing cells None: the same shape the CSV reader gives. Lists (label
    sets in JSONL or Parquet) become JSON lists, which the multi-label reader parses; integral
    numbers (Excel's 1.0) lose their '.0'."""

    def as_string(value: object) -> str | None:
        if isinstance(value, list | tuple | np.ndarray):
            items = [item.item() if isinstance(item, np.generic) else item for item in value]
            return json.dumps(items, ensure_ascii=False)
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return None
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)

    frame = frame.copy()
    frame.columns = [str(column) for column in frame.columns]
    cells = frame.astype(object).map(as_string).astype(object)  # pandas 3 would infer str, missing NaN
    return cells.where(cells.notna(), None)


def write_table_atomic(frame: pd.DataFrame, path: str | Path) -> None:
    """Write CSV/TSV/JSONL/Parquet/Excel to a temporary file, then rename it into place."""
    path = Path(path)
    data_format = FORMATS.get(path.suffix.lower())
    if data_format is None:
        known = ", ".join(sorted(set(FORMATS) - {".conll", ".bio", ".iob"}))
        raise DataError(
            f"Output file '{path}' has unknown format '{path.suffix or '(none)'}'; use one of {known}."
        )
    if data_format == "conll":
        raise DataError(f"Cannot write '{path}' as CoNLL; write predictions to .csv, .jsonl or .parquet.")
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        if data_format in ("csv", "tsv"):
            flat_cells(frame).to_csv(temporary, index=False, sep="\t" if data_format == "tsv" else ",")
        elif data_format == "jsonl":
            frame.to_json(temporary, orient="records", lines=True, force_ascii=False)
        elif data_format == "xlsx":
            flat_cells(frame).to_excel(temporary, index=False, engine="openpyxl")
        else:
            _write_parquet(frame, temporary)
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)


def flat_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """Lists and dicts (kept from JSONL rows) as JSON text, for formats whose cells hold text."""
    nested = [c for c in frame.columns if frame[c].map(lambda v: isinstance(v, list | dict)).any()]
    if not nested:
        return frame
    frame = frame.copy()
    for column in nested:
        frame[column] = frame[column].map(
            lambda v: json.dumps(v, ensure_ascii=False) if isinstance(v, list | dict) else v
        )
    return frame


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Parquet keeps the rows' types; a column of mixed types (JSONL allows it) is written as text."""
    import pyarrow

    try:
        frame.to_parquet(path, index=False)
    except (pyarrow.ArrowException, ValueError, TypeError):
        mixed = [c for c in frame.columns if frame[c].dtype == object]
        as_text = frame.copy()
        as_text[mixed] = as_strings(frame[mixed])
        as_text.to_parquet(path, index=False)
