"""Unlabelled texts, for domain-adaptive pretraining and distillation: a .txt file with one text
per line, or the text column of a table."""

from __future__ import annotations

from pathlib import Path

from headstart.data.columns import check_texts, find_text_column
from headstart.data.io import FORMATS, read_table
from headstart.errors import DataError


def read_texts(path: Path) -> list[str]:
    """Texts from a .txt file (one per non-blank line) or from the text column of a table."""
    if path.suffix.lower() in FORMATS:
        frame = read_table(path)
        source = f"'{path.name}'"
        return check_texts(frame[find_text_column(frame, None, source)], source)
    if not path.is_file():
        raise DataError(f"Unlabelled text file '{path}' does not exist; check the text_file option.")
    try:
        texts = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except UnicodeDecodeError:
        raise DataError(f"'{path}' is not UTF-8 text; re-save it as UTF-8.") from None
    if not texts:
        raise DataError(f"'{path}' holds no text; put one text per line.")
    return texts
