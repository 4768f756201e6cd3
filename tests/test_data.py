"""Reading files, finding columns, splitting."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from tests.conftest import synthetic_rows

from headstart.data.bundled import load_bundled
from headstart.data.dataset import load_splits
from headstart.data.io import read_table, write_table_atomic

ROWS = synthetic_rows(per_class=20, seed=4)


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".parquet"])
def test_every_format_round_trips(suffix: str, tmp_path: Path) -> None:
    frame = pd.DataFrame(ROWS)
    frame.loc[0, "text"] = 'quoted "words", commas, and ünïcödé'
    path = tmp_path / f"data{suffix}"
    write_table_atomic(frame, path)
    assert read_table(path).to_dict("records") == frame.to_dict("records")


def test_columns_are_found_by_name_or_given(tmp_path: Path) -> None:
    pd.DataFrame(
        {"id": range(60), "Review": [r["text"] for r in ROWS], "Sentiment": [r["label"] for r in ROWS]}
    ).to_csv(tmp_path / "a.csv", index=False)
    assert sorted(load_splits(str(tmp_path / "a.csv")).labels) == ["money", "sport", "tech"]
    pd.DataFrame({"body_text": [r["text"] for r in ROWS], "y_true": [r["label"] for r in ROWS]}).to_csv(
        tmp_path / "b.csv", index=False
    )
    splits = load_splits(str(tmp_path / "b.csv"), text_col="body_text", label_col="y_true")
    assert len(splits.train) + len(splits.dev) + len(splits.test) == 60


def test_stratified_split_is_seeded_and_keeps_proportions(tmp_path: Path) -> None:
    rows = synthetic_rows(per_class=50, seed=1) + synthetic_rows(
        per_class=10, seed=2, classes={"rare": ["x", "y"]}
    )
    pd.DataFrame(rows).to_csv(tmp_path / "d.csv", index=False)
    first = load_splits(str(tmp_path / "d.csv"), seed=7)
    again = load_splits(str(tmp_path / "d.csv"), seed=7)
    other = load_splits(str(tmp_path / "d.csv"), seed=8)
    assert first == again and first.test.texts != other.test.texts
    assert len(first.test) == 32 and len(first.dev) == 16 and len(first.train) == 112
    assert Counter(first.test.labels)["rare"] == 2  # 20 % of 10
    assert not set(first.train.texts) & set(first.test.texts) - set(first.train.texts)


def test_split_column_is_used_as_given(tmp_path: Path) -> None:
    frame = pd.DataFrame(ROWS)
    frame["split"] = ["train"] * 40 + ["validation"] * 10 + ["test"] * 10
    frame.to_csv(tmp_path / "s.csv", index=False)
    splits = load_splits(str(tmp_path / "s.csv"))
    assert (len(splits.train), len(splits.dev), len(splits.test)) == (40, 10, 10)
    assert splits.test.texts == frame.text[50:].tolist()


def test_bundled_bbc_news_is_deduplicated() -> None:
    frame = load_bundled("bbc-news")
    assert len(frame) == 2127 and frame.text.is_unique
    assert sorted(frame.label.unique()) == ["business", "entertainment", "politics", "sports", "tech"]
