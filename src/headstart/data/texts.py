"""Unlabelled texts, for domain-adaptive pretraining and distillation (a .txt file with one text
per line, or the text column of a table), and the check of inputs to predict for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from headstart.data.columns import check_texts, find_text_column
from headstart.data.io import FORMATS, holds_lone_surrogate, read_table
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


def check_inputs(inputs: list[Any]) -> list[Any]:
    """The inputs to predict for, refused in one line when one is not text (a string, a pair of
    strings, or a list of words) or holds a lone UTF-16 surrogate, which no tokenizer takes."""
    for number, item in enumerate(inputs):
        parts = tuple(item) if isinstance(item, tuple | list) else (item,)
        if not all(isinstance(part, str) for part in parts):
            raise DataError(
                f"Input {number} is a {type(item).__name__}, not text; pass strings, (text, second text) "
                "pairs or word lists."
            )
        if any(holds_lone_surrogate(part) for part in parts):
            raise DataError(
                f"Input {number} holds a lone UTF-16 surrogate (\\ud800-\\udfff); pass valid Unicode."
            )
    return inputs
