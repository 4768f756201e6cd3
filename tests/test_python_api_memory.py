"""The Python API on data in memory, on synthetic keyword texts (tests/conftest.py) with the
packaged MiniLM: lists, pandas DataFrames and `datasets.Dataset` go through the same checks as
files, an in-memory run writes nothing but its run directory, and `headstart.sklearn.TextClassifier`
behaves as a scikit-learn estimator (clone, Pipeline, cross_val_score, GridSearchCV, save/load)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline
from tests.conftest import synthetic_rows

import headstart
from headstart.sklearn import TextClassifier

ROWS = synthetic_rows(per_class=20, seed=31)
TEXTS, LABELS = [r["text"] for r in ROWS], [r["label"] for r in ROWS]
HELD_OUT = synthetic_rows(per_class=6, seed=32)
FAST = {"strategy": "features", "max_length": 48}


def files_under(folder: Path) -> set[Path]:
    return {path for path in folder.rglob("*") if path.is_file()}


def test_train_on_lists_writes_only_its_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cache = Path(os.environ["HEADSTART_CACHE"])
    before = files_under(cache) if cache.exists() else set()
    run = headstart.train(texts=TEXTS, labels=LABELS, out=tmp_path / "run", **FAST)
    assert run.metrics["test"]["accuracy"] >= 0.8
    assert run.config.data is None and run.config.in_memory.startswith("the texts given (60 rows, sha256 ")
    assert {p.relative_to(tmp_path).parts[0] for p in files_under(tmp_path)} == {"run"}
    assert (files_under(cache) if cache.exists() else set()) == before, (
        "no feature cache for data from memory"
    )
    again = headstart.load_run(tmp_path / "run")
    assert again.predict(["the striker scored a goal in the match"]) == ["sport"]


def test_dataframe_and_dataset_give_the_same_run_as_lists(tmp_path: Path) -> None:
    from datasets import Dataset

    frame = pd.DataFrame(ROWS)
    by_frame = headstart.train(frame, out=tmp_path / "frame", **FAST)
    by_dataset = headstart.train(Dataset.from_pandas(frame), out=tmp_path / "dataset", **FAST)
    by_lists = headstart.train(texts=TEXTS, labels=LABELS, out=tmp_path / "lists", **FAST)
    probe = [r["text"] for r in HELD_OUT]
    np.testing.assert_allclose(by_frame.predict_proba(probe), by_lists.predict_proba(probe), atol=1e-5)
    np.testing.assert_allclose(by_dataset.predict_proba(probe), by_lists.predict_proba(probe), atol=1e-5)
    assert by_frame.metrics["data"]["fingerprint"] == by_lists.metrics["data"]["fingerprint"]


def test_evaluate_and_predict_take_tables_and_lists(tmp_path: Path) -> None:
    run = headstart.train(texts=TEXTS, labels=LABELS, out=tmp_path / "run", **FAST)
    frame = pd.DataFrame(HELD_OUT)
    metrics = run.evaluate(frame)
    assert metrics["examples"] == 18 and metrics == run.evaluate(
        texts=frame.text.tolist(), labels=frame.label.tolist()
    )
    assert list((tmp_path / "run" / "evaluations").glob("memory-*/metrics.json"))
    assert run.predict(frame) == run.predict(frame.text.tolist()) == run.predict(frame.text)
    assert run.predict("the striker scored a goal") == ["sport"]  # one text


def test_in_memory_data_gets_the_same_one_line_errors_as_files(tmp_path: Path) -> None:
    with pytest.raises(
        headstart.DataError, match=r"1 row\(s\) of the texts given have empty text \(rows \[2\]\)"
    ):
        headstart.train(
            texts=["a goal", "shares", "  "], labels=["sport", "money", "sport"], out=tmp_path / "x"
        )
    with pytest.raises(headstart.DataError, match="texts= has 2 items but labels= has 3"):
        headstart.train(texts=["a", "b"], labels=["x", "y", "z"], out=tmp_path / "x")
    with pytest.raises(headstart.DataError, match="No text column found in the DataFrame given"):
        headstart.train(pd.DataFrame({"words": TEXTS, "label": LABELS}), out=tmp_path / "x")
    with pytest.raises(headstart.DataError, match="Data of type dict cannot be read"):
        headstart.train({"text": TEXTS}, out=tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_other_tasks_from_lists(tmp_path: Path, tiny_model: str) -> None:
    sets = [
        ("sport",) if label == "sport" else ("money", "tech") if label == "money" else ("tech",)
        for label in LABELS
    ]
    multi = headstart.train(texts=TEXTS, labels=sets, out=tmp_path / "multi", model=tiny_model, **FAST)
    assert multi.task.name == "multi-label" and multi.labels == ["money", "sport", "tech"]
    numbers = [float(len(text)) for text in TEXTS]
    regression = headstart.train(texts=TEXTS, labels=numbers, out=tmp_path / "reg", model=tiny_model, **FAST)
    assert regression.task.name == "regression"
    words = [text.split()[:6] for text in TEXTS]
    tags = [["B-kw" if word in ("goal", "shares", "chip") else "O" for word in row] for row in words]
    ner = headstart.train(texts=words, labels=tags, out=tmp_path / "ner", model=tiny_model, **FAST)
    assert ner.task.name == "ner" and ner.labels == ["O", "B-kw"]


def test_compressing_an_in_memory_run_asks_for_its_data_again(tmp_path: Path) -> None:
    frame = pd.DataFrame(ROWS)
    run = headstart.train(frame, out=tmp_path / "run", **FAST)
    with pytest.raises(headstart.DataError, match=r"trained on data from memory .*pass the same data again"):
        headstart.quantize(run.path, ("int8",))
    compared = headstart.quantize(run.path, ("int8",), data=frame)
    assert set(compared) == {"fp32", "int8"} and compared["fp32"]["accuracy"] >= 0.8


def test_sklearn_estimator_in_cross_val_score_pipeline_and_grid_search() -> None:
    estimator = TextClassifier(**FAST)
    assert clone(estimator).get_params() == estimator.get_params()
    scores = cross_val_score(estimator, TEXTS, LABELS, cv=3)
    assert len(scores) == 3 and scores.mean() >= 0.8
    pipeline = Pipeline([("classify", TextClassifier(**FAST))]).fit(TEXTS, LABELS)
    assert pipeline.score([r["text"] for r in HELD_OUT], [r["label"] for r in HELD_OUT]) >= 0.8
    grid = GridSearchCV(
        TextClassifier(**FAST), {"strategy_options": [{"c_values": [0.01]}, {"c_values": [1.0]}]}, cv=2
    )
    grid.fit(TEXTS, LABELS)
    assert grid.best_params_["strategy_options"]["c_values"][0] in (0.01, 1.0)
    assert list(grid.best_estimator_.classes_) == ["money", "sport", "tech"]


def test_sklearn_estimator_saves_and_loads_as_a_run(tmp_path: Path) -> None:
    fitted = TextClassifier(**FAST).fit(TEXTS, LABELS)
    probe = [r["text"] for r in HELD_OUT]
    probabilities = fitted.predict_proba(probe)
    assert probabilities.shape == (18, 3) and list(fitted.classes_) == ["money", "sport", "tech"]
    fitted.save(tmp_path / "saved")
    loaded = TextClassifier.load(tmp_path / "saved")
    np.testing.assert_allclose(loaded.predict_proba(probe), probabilities, atol=1e-6)
    assert headstart.load_run(tmp_path / "saved").predict(probe[:2]) == list(fitted.predict(probe[:2]))
    assert loaded.get_params()["strategy"] == "features"
