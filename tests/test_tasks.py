"""Multi-label classification and regression, end to end and in their error cases.

The data is synthetic, made for the property under test: multi-label texts carry the keywords of
one or two topics (their label set), and regression texts carry 0-6 praise words (their score,
plus noise).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.conftest import FILLER, KEYWORDS

import headstart
from headstart.cli import main
from headstart.data.label_cells import detect_task


def multi_label_rows(count: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        topics = sorted(rng.sample(sorted(KEYWORDS), rng.choice([1, 1, 2])))
        words = [rng.choice(FILLER) for _ in range(rng.randint(4, 16))]
        for topic in topics:
            for word in rng.sample(KEYWORDS[topic], 2):
                words.insert(rng.randrange(len(words) + 1), word)
        rows.append({"text": " ".join(words), "labels": topics})
    return rows


def regression_rows(count: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        praise = rng.randint(0, 6)
        words = [rng.choice(FILLER) for _ in range(rng.randint(4, 12))] + ["great"] * praise
        rng.shuffle(words)
        rows.append({"text": " ".join(words), "score": round(praise + rng.gauss(0, 0.3), 3)})
    return rows


def test_multi_label_from_jsonl_lists_learns_tunes_thresholds_and_predicts_sets(tmp_path: Path) -> None:
    path = tmp_path / "topics.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in multi_label_rows(240, seed=1)), encoding="utf-8")
    run = headstart.train(path, out=tmp_path / "run", strategy="features", max_length=48)
    assert run.config.task == "multi-label" and run.labels == ["money", "sport", "tech"]
    test = run.metrics["test"]
    assert test["micro_f1"] >= 0.85 and test["macro_f1"] >= 0.85 and test["subset_accuracy"] >= 0.6
    assert set(test["per_class"]) == {"money", "sport", "tech"}
    assert all(0.05 <= scores["threshold"] <= 0.95 for scores in test["per_class"].values())
    reloaded = headstart.load_run(run.path)
    assert reloaded.task.thresholds == run.task.thresholds
    assert reloaded.predict(["goal striker shares bank", "laptop chip"]) == [("money", "sport"), ("tech",)]
    probabilities = reloaded.predict_proba(["goal striker shares bank"])
    assert (
        probabilities.shape == (1, 3) and probabilities[0].sum() > 1.2
    )  # independent per label, not a softmax

    with pytest.raises(SystemExit) as stop:
        main(["predict", str(run.path), str(path), "-o", str(tmp_path / "out.csv"), "--quiet"])
    assert stop.value.code == 0
    written = pd.read_csv(tmp_path / "out.csv")
    assert {"predicted_labels", "prob_money", "prob_sport", "prob_tech"} <= set(written.columns)


@pytest.mark.parametrize("layout", ["separator", "columns"])
def test_multi_label_csv_layouts(layout: str, tmp_path: Path) -> None:
    rows = multi_label_rows(150, seed=2)
    if layout == "separator":
        frame = pd.DataFrame(
            {"text": [r["text"] for r in rows], "topics": [";".join(r["labels"]) for r in rows]}
        )
        options = {"label_col": "topics", "label_sep": ";"}
    else:
        frame = pd.DataFrame(
            {
                "text": [r["text"] for r in rows],
                **{t: [int(t in r["labels"]) for r in rows] for t in sorted(KEYWORDS)},
            }
        )
        options = {"label_cols": sorted(KEYWORDS)}
    frame.to_csv(tmp_path / "data.csv", index=False)
    run = headstart.train(
        tmp_path / "data.csv", out=tmp_path / "run", strategy="features", max_length=48, **options
    )
    assert run.config.task == "multi-label" and run.metrics["test"]["micro_f1"] >= 0.8
    evaluation = run.evaluate(tmp_path / "data.csv", out=tmp_path / "ev")
    assert evaluation["examples"] == 150 and not (tmp_path / "ev" / "confusion_matrix.png").exists()


def test_regression_learns_the_score_and_predicts_numbers(tmp_path: Path) -> None:
    pd.DataFrame(regression_rows(300, seed=3)).to_csv(tmp_path / "scores.csv", index=False)
    run = headstart.train(tmp_path / "scores.csv", out=tmp_path / "run", strategy="features", max_length=32)
    assert run.config.task == "regression" and run.labels == []
    test = run.metrics["test"]
    assert test["spearman"] >= 0.8 and test["pearson"] >= 0.8 and test["mae"] < 1.0
    low, high = headstart.load_run(run.path).predict(
        ["the a of to", "great great great great great great the"]
    )
    assert isinstance(low, float) and high - low > 2.5  # back on the data's scale, not standardised
    with pytest.raises(headstart.ConfigError, match="predicts numbers"):
        run.predict_proba(["great"])
    with pytest.raises(SystemExit) as stop:
        main(
            [
                "predict",
                str(run.path),
                str(tmp_path / "scores.csv"),
                "-o",
                str(tmp_path / "out.csv"),
                "--quiet",
            ]
        )
    assert stop.value.code == 0 and "predicted_value" in pd.read_csv(tmp_path / "out.csv")


def test_regression_fine_tunes_through_the_shared_loop(tmp_path: Path, tiny_options: dict) -> None:
    pd.DataFrame(regression_rows(200, seed=4)).to_csv(tmp_path / "scores.csv", index=False)
    run = headstart.train(
        tmp_path / "scores.csv",
        out=tmp_path / "run",
        strategy="finetune",
        **{**tiny_options, "epochs": 3, "max_length": 32},
    )
    assert run.metrics["dev_metric"] == "spearman" and run.metrics["test"]["spearman"] >= 0.8
    assert "dev_spearman" in run.metrics["training"]["history"][0]


def test_task_detection() -> None:
    assert detect_task(pd.Series(["sport", "money"]), "|") == "classification"
    assert (
        detect_task(pd.Series(["1", "2", "3", "1"]), "|") == "classification"
    )  # a few integer codes: classes
    assert detect_task(pd.Series(["0.5", "3.25", "4"]), "|") == "regression"
    assert detect_task(pd.Series(["sport|money", "tech"]), "|") == "multi-label"
    assert detect_task(pd.Series(['["sport"]', "[]"]), "|") == "multi-label"


def run_cli(argv: list[str], capsys: pytest.CaptureFixture) -> str:
    with pytest.raises(SystemExit) as stop:
        main(argv)
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


def test_task_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rows = multi_label_rows(60, seed=5)
    frame = pd.DataFrame({"text": [r["text"] for r in rows], "labels": ["|".join(r["labels"]) for r in rows]})
    frame.to_csv(tmp_path / "train.csv", index=False)
    frame.head(10).assign(labels="sport|weather").to_csv(tmp_path / "test.csv", index=False)
    err = run_cli(
        [
            "train",
            str(tmp_path / "train.csv"),
            "--test-data",
            str(tmp_path / "test.csv"),
            "--out",
            str(tmp_path / "x"),
        ],
        capsys,
    )
    assert "value(s) ['weather'] never seen in training" in err

    frame.assign(sport=["1"] * 59 + ["maybe"], money="0", tech="1").to_csv(
        tmp_path / "columns.csv", index=False
    )
    err = run_cli(
        [
            "train",
            str(tmp_path / "columns.csv"),
            "--label-cols",
            "sport",
            "--label-cols",
            "money",
            "--out",
            str(tmp_path / "x"),
        ],
        capsys,
    )
    assert "'maybe' in label column 'sport'" in err

    pd.DataFrame({"text": ["a b", "c d", "e f"] * 10, "label": ["x", "2.5", "3"] * 10}).to_csv(
        tmp_path / "mixed.csv", index=False
    )
    err = run_cli(
        ["train", str(tmp_path / "mixed.csv"), "--task", "regression", "--out", str(tmp_path / "x")], capsys
    )
    assert "not a number" in err and "rows [2, 5, 8, 11, 14]" in err

    err = run_cli(
        ["train", str(tmp_path / "mixed.csv"), "--task", "ranking", "--out", str(tmp_path / "x")], capsys
    )
    assert "'task' must be one of" in err
    pd.DataFrame(regression_rows(40, seed=6)).to_csv(tmp_path / "scores.csv", index=False)
    err = run_cli(
        ["train", str(tmp_path / "scores.csv"), "--class-weights", "--out", str(tmp_path / "x")], capsys
    )
    assert "--class-weights applies to single-label classification" in err
    assert not (tmp_path / "x").exists()
    np.testing.assert_equal(sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")), [])
