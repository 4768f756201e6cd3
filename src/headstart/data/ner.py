"""Named-entity data: CoNLL column files and JSONL (tokens + tags, or text + character spans),
read into one table shape (a `tokens` and a `tags` column of JSON lists, BIO tags), and the
conversions between tags, word spans and character spans."""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from headstart.errors import DataError, DataWarning

WORD = re.compile(r"\w+|[^\w\s]", re.UNICODE)  # how raw text is cut into words, for spans and prediction


def read_conll(path: Path) -> pd.DataFrame:
    """A CoNLL file in UTF-8 (see `parse_conll`)."""
    return parse_conll(path.read_text(encoding="utf-8").splitlines(), f"'{path}'")


def parse_conll(lines: Iterable[str], source: str) -> pd.DataFrame:
    """One word per line, its tag in the last column; blank lines end sentences; -DOCSTART- skipped."""
    rows: list[dict[str, str]] = []
    words: list[str] = []
    tags: list[str] = []
    for number, line in enumerate(lines, start=1):
        fields = line.split()
        if not fields or fields[0] == "-DOCSTART-":
            if words:
                rows.append({"tokens": json.dumps(words, ensure_ascii=False), "tags": json.dumps(tags)})
                words, tags = [], []
            continue
        if len(fields) < 2:
            raise DataError(
                f"Line {number} of {source} has a word but no tag; CoNLL lines are 'word<TAB>tag', with "
                "a blank line between sentences."
            )
        words.append(fields[0])
        tags.append(fields[-1])
    if words:
        rows.append({"tokens": json.dumps(words, ensure_ascii=False), "tags": json.dumps(tags)})
    if not rows:
        raise DataError(f"{source} holds no sentences; write one 'word<TAB>tag' per line.")
    return pd.DataFrame(rows, dtype=object)


def words_and_offsets(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    """The words of a raw text (as `WORD` cuts them) and their character spans."""
    matches = list(WORD.finditer(text))
    return [m.group() for m in matches], [m.span() for m in matches]


def joined_words(words: list[str]) -> tuple[str, list[tuple[int, int]]]:
    """Pre-split words as one text (joined by spaces) and each word's character span in it."""
    offsets, position = [], 0
    for word in words:
        offsets.append((position, position + len(word)))
        position += len(word) + 1
    return " ".join(words), offsets


def bio_tags(tags: list[str], where: str) -> tuple[list[str], int]:
    """BIO tags from BIO or BIOES tags, with invalid sequences repaired (an I- that does not continue
    an entity of its type starts one). Returns the tags and the number of repairs."""
    result, repairs = [], 0
    for position, tag in enumerate(tags):
        prefix, _, kind = tag.partition("-")
        if tag == "O":
            result.append("O")
            continue
        if prefix not in {"B", "I", "E", "S"} or not kind:
            raise DataError(
                f"{where} has tag '{tag}'; use O, or B-/I- (BIO) "
                "or B-/I-/E-/S- (BIOES) before the entity type."
            )
        prefix = {"S": "B", "E": "I"}[prefix] if prefix in "SE" else prefix
        previous = result[position - 1] if position else "O"
        if prefix == "I" and previous[2:] != kind:
            prefix, repairs = "B", repairs + 1
        result.append(f"{prefix}-{kind}")
    return result, repairs


def tags_to_spans(tags: list[str]) -> list[tuple[int, int, str]]:
    """Entities as (first word, last word + 1, type) from valid BIO tags."""
    spans: list[tuple[int, int, str]] = []
    for position, tag in enumerate(tags):
        if tag.startswith("B-"):
            spans.append((position, position + 1, tag[2:]))
        elif tag.startswith("I-") and spans and spans[-1][1] == position and spans[-1][2] == tag[2:]:
            spans[-1] = (spans[-1][0], position + 1, tag[2:])
    return spans


def spans_to_words(text: str, entities: list[dict], where: str) -> tuple[list[str], list[str]]:
    """Words of `text` and their BIO tags from character spans [{"start", "end", "label"}]."""
    words, offsets = words_and_offsets(text)
    tags = ["O"] * len(words)
    for entity in sorted(entities, key=lambda e: e.get("start", 0)):
        try:
            start, end, label = int(entity["start"]), int(entity["end"]), str(entity["label"])
        except (KeyError, TypeError, ValueError):
            raise DataError(
                f"{where} has entity {entity!r}; each needs integer 'start', 'end' and a 'label'."
            ) from None
        if not 0 <= start < end <= len(text):
            raise DataError(
                f"{where} has an entity at [{start}, {end}) outside its text of {len(text)} characters."
            )
        inside = [i for i, (a, b) in enumerate(offsets) if a < end and b > start]
        for rank, index in enumerate(inside):
            tags[index] = f"{'B' if rank == 0 else 'I'}-{label}"
    return words, tags


def ner_rows(frame: pd.DataFrame, source: str) -> tuple[list[list[str]], list[tuple[str, ...]]]:
    """Words and BIO tags per row, from `tokens` + `tags` columns or `text` + `entities` columns."""
    columns = {str(c).lower(): c for c in frame.columns}
    all_words, all_tags, repairs, first_repair = [], [], 0, None
    for number, row in enumerate(frame.to_dict("records"), start=1):
        where = f"Row {number} of {source}"
        if "tokens" in columns and "tags" in columns:
            words, tags = _json_list(row[columns["tokens"]], where), _json_list(row[columns["tags"]], where)
            if len(words) != len(tags):
                raise DataError(
                    f"{where} has {len(words)} tokens but {len(tags)} tags; give one tag per token."
                )
        elif "text" in columns and ("entities" in columns or "spans" in columns):
            spans = _json_list(row[columns.get("entities", columns.get("spans"))], where)
            words, tags = spans_to_words(str(row[columns["text"]] or ""), spans, where)
        else:
            raise DataError(
                f"{source} is not NER data: give 'tokens' and 'tags' columns, 'text' and 'entities' "
                "(character spans), or a CoNLL file (.conll); its columns are "
                f"{sorted(map(str, frame.columns))}."
            )
        if not words:
            raise DataError(f"{where} has no words; remove empty sentences.")
        tags, repaired = bio_tags([str(tag) for tag in tags], where)
        if repaired and first_repair is None:
            first_repair = number
        repairs += repaired
        all_words.append([str(word) for word in words])
        all_tags.append(tuple(tags))
    if repairs:
        warnings.warn(
            f"{repairs} I- tag(s) in {source} did not continue an "
            f"entity of their type (first in row {first_repair}); "
            "they were read as B- (entity starts).",
            DataWarning,
            stacklevel=3,
        )
    return all_words, all_tags


def is_ner_frame(frame: pd.DataFrame) -> bool:
    """Whether a table holds named-entity data (tokens + tags, or text + entities)."""
    columns = {str(c).lower() for c in frame.columns}
    return {"tokens", "tags"} <= columns or ("text" in columns and bool({"entities", "spans"} & columns))


def _json_list(cell: object, where: str) -> list:
    try:
        value = json.loads(cell) if isinstance(cell, str) else cell
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, list):
        raise DataError(f"{where} holds {str(cell)[:40]!r} where a JSON list belongs; fix the row.")
    return value
