"""The files people really have, written byte for byte as spreadsheets write them: Excel's "CSV
UTF-8" (a byte-order mark, CRLF line ends), a European semicolon CSV in Windows-1252, UTF-16 with a
byte-order mark (Excel's "Unicode Text", tab-separated), a tab file, an .xlsx workbook (written with
openpyxl, the library LibreOffice-compatible tools use; no Excel runs here), and a CSV with a 1 MB
cell among normal rows."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd
import pytest
from tests.conftest import synthetic_rows

import headstart
from headstart.cli import main
from headstart.data.dataset import load_splits
from headstart.data.io import read_table, write_table_atomic

ROWS = synthetic_rows(per_class=10, seed=5)


def csv_bytes(rows: list[dict[str, str]], delimiter: str = ",", line_end: str = "\r\n") -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), delimiter=delimiter, lineterminator=line_end)
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def test_excel_csv_utf8_with_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbf" + csv_bytes([{**r, "text": r["text"] + " café"} for r in ROWS]).encode())
    frame = read_table(path)
    assert list(frame.columns) == ["text", "label"]  # not '\ufefftext'
    assert frame.text[0].endswith("café") and len(frame) == len(ROWS)
    assert sorted(load_splits(str(path), text_col="text").labels) == ["money", "sport", "tech"]


def test_european_semicolon_csv_in_windows_1252(tmp_path: Path) -> None:
    path = tmp_path / "european.csv"
    rows = [
        {"text": r["text"] + ", déjà vu; encore", "label": r["label"]} for r in ROWS
    ]  # commas inside texts
    path.write_bytes(csv_bytes(rows, delimiter=";").encode("cp1252"))
    with pytest.raises(headstart.DataError, match="not valid UTF-8 .*--encoding"):
        read_table(path)
    frame = read_table(path, encoding="cp1252")
    assert list(frame.columns) == ["text", "label"] and frame.text[0].endswith("déjà vu; encore")
    assert read_table(path, encoding="cp1252", delimiter=";").equals(frame)


def test_utf16_with_byte_order_mark_and_tabs(tmp_path: Path) -> None:
    path = tmp_path / "unicode-text.tsv"
    path.write_bytes(csv_bytes(ROWS, delimiter="\t").encode("utf-16"))  # Python writes the BOM, as Excel does
    frame = read_table(path)
    assert list(frame.columns) == ["text", "label"] and frame.label.tolist() == [r["label"] for r in ROWS]


def test_tab_separated_file_named_csv_is_sniffed(tmp_path: Path) -> None:
    path = tmp_path / "tabs.csv"
    path.write_text(csv_bytes(ROWS, delimiter="\t", line_end="\n"), encoding="utf-8")
    assert list(read_table(path).columns) == ["text", "label"]


def test_xlsx_workbook_trains_from_the_cli(
    tmp_path: Path, tiny_model: str, capsys: pytest.CaptureFixture
) -> None:
    path = tmp_path / "labels.xlsx"
    frame = pd.DataFrame(ROWS)
    frame.insert(2, "score", range(len(frame)))  # a numeric column: Excel stores it as a number
    frame.to_excel(path, index=False, engine="openpyxl")
    read = read_table(path)
    assert read.label.tolist() == frame.label.tolist() and read.score[3] == "3"
    with pytest.raises(SystemExit) as done:
        main(
            [
                "train",
                str(path),
                "--model",
                tiny_model,
                "--strategy",
                "features",
                "--max-length",
                "32",
                "--out",
                str(tmp_path / "run"),
                "--json",
                "-q",
            ]
        )
    assert done.value.code == 0
    assert headstart.load_run(tmp_path / "run").metrics["data"]["train"] == 21


def test_a_one_megabyte_cell_is_read_and_trained_on(tmp_path: Path, tiny_model: str) -> None:
    rows = synthetic_rows(per_class=10, seed=6)
    rows[0] = {"text": rows[0]["text"] + " goal" * 200_000, "label": rows[0]["label"]}  # ~1 MB of text
    path = tmp_path / "long.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    assert path.stat().st_size > 1_000_000
    assert len(read_table(path).text[0]) > 1_000_000
    options = {"model": tiny_model, "strategy": "features", "max_length": 32, "seed": 1}
    truncated = headstart.train(path, out=tmp_path / "truncated", **options)
    windows = headstart.train(path, out=tmp_path / "windows", stride=8, **options)
    assert truncated.metrics["data"]["train"] == windows.metrics["data"]["train"] == 21
    assert windows.config.stride == 8 and len(windows.predict([rows[0]["text"]])) == 1


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".parquet", ".xlsx"])
def test_rows_kept_as_stored_are_written_to_every_format(tmp_path: Path, suffix: str) -> None:
    """What `predict` and `privacy pseudonymize` pass through: JSONL values as they were stored, a
    list as JSON text where cells hold text, a column of mixed types as text in Parquet."""
    path = tmp_path / "in.jsonl"
    path.write_text('{"id": 7, "tags": ["a", "b"], "text": "x"}\n{"id": "b", "text": "y"}\n')
    rows = read_table(path, keep_types=True)
    assert rows.id.tolist() == [7, "b"] and rows.tags[0] == ["a", "b"]
    write_table_atomic(rows, tmp_path / f"out{suffix}")
    again = read_table(tmp_path / f"out{suffix}")
    assert again.values.tolist() == [["7", '["a", "b"]', "x"], ["b", None, "y"]]
