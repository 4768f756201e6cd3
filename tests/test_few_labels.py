"""Few labels: setfit, zero-shot, --shots/--train-size, learning curves and active learning (on the
synthetic keyword data of conftest.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.conftest import KEYWORDS, synthetic_rows

import headstart
from headstart.cli import main
from headstart.errors import ConfigError
from headstart.training import cpu_dropout
from headstart.workflows.active import choose, cluster_picks, uncertainty
from headstart.workflows.curves import labels_needed, parse_sizes

FAST = {"epochs": 1, "patience": 0, "refit": "no", "checkpoint_every": 0, "max_length": 32}


def test_shots_keep_that_many_per_class_and_leave_dev_and_test_whole(toy_csv: Path) -> None:
    from headstart.config import TrainConfig
    from headstart.preparation import prepare_splits

    whole = prepare_splits(TrainConfig(data=str(toy_csv)))
    few = prepare_splits(TrainConfig(data=str(toy_csv), shots=4))
    assert sorted(pd.Series(few.train.labels).value_counts().tolist()) == [4, 4, 4]
    assert few.test.texts == whole.test.texts and few.dev.texts == whole.dev.texts
    assert set(few.train.texts) <= set(whole.train.texts)
    assert len(prepare_splits(TrainConfig(data=str(toy_csv), train_size=20)).train) == 20


def test_setfit_tunes_the_encoder_on_bounded_pairs_then_fits_a_head(
    toy_csv: Path, tiny_model: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lean_attention_calls = []
    apply = cpu_dropout._DropoutAttention.apply
    monkeypatch.setattr(
        cpu_dropout._DropoutAttention,
        "apply",
        staticmethod(lambda *inputs: lean_attention_calls.append(1) or apply(*inputs)),
    )
    run = headstart.train(
        toy_csv,
        out=tmp_path / "sf",
        model=tiny_model,
        strategy="setfit",
        shots=4,
        seed=3,
        **FAST,
        strategy_options={"iterations": 50, "max_pairs": 60},
    )
    # 12 examples × 50 iterations × 2 would be 1,200 pairs: the cap cuts iterations to 60 // 24 = 2.
    assert run.metrics["training"]["setfit"] == {"pairs": 48, "iterations": 2}
    assert lean_attention_calls  # the pairs' attention kept no probabilities (training.lean_steps)
    assert run.metrics["data"]["train"] == 12
    texts = ["goal match striker", "shares bank profit"]
    np.testing.assert_allclose(
        headstart.load_run(run.path).predict_proba(texts), run.predict_proba(texts), atol=1e-5
    )
    assert not (tmp_path / ".sf.partial").exists()


def test_zero_shot_classifies_by_label_descriptions_without_training(toy_csv: Path, tmp_path: Path) -> None:
    descriptions = {label: ", ".join(words) for label, words in KEYWORDS.items()}
    run = headstart.train(
        toy_csv,
        out=tmp_path / "zs",
        strategy="zero-shot",
        model="minilm-l6",
        max_length=48,
        strategy_options={"descriptions": descriptions},
    )
    assert run.metrics["test"]["accuracy"] >= 0.8  # far above the 1/3 of chance, with no label learnt
    assert headstart.load_run(run.path).predict(["the striker scored a goal in the match"]) == ["sport"]
    with pytest.raises(ConfigError, match="unknown label"):
        headstart.train(
            toy_csv,
            out=tmp_path / "zs2",
            strategy="zero-shot",
            max_length=48,
            strategy_options={"descriptions": {"weather": "rain"}},
        )


def test_learning_curve_writes_curve_table_plot_and_labels_needed(
    toy_csv: Path, tiny_model: str, tmp_path: Path
) -> None:
    out = tmp_path / "curve"
    with pytest.raises(SystemExit) as done:
        main(
            [
                "learning-curve",
                str(toy_csv),
                "--sizes",
                "6,12,all",
                "--strategies",
                "features,zero-shot",
                "--seeds",
                "2",
                "--model",
                tiny_model,
                "--max-length",
                "32",
                "--out",
                str(out),
                "-q",
            ]
        )
    assert done.value.code == 0
    curve = pd.read_csv(out / "curve.csv")
    assert sorted(curve[curve.strategy == "features"]["size"]) == [6, 12, 84]
    assert curve[curve.strategy == "features"]["count"].tolist() == [2, 2, 2]
    assert curve[curve.strategy == "zero-shot"]["size"].tolist() == [0]  # no labels: one reference point
    assert (out / "curve.png").stat().st_size > 10_000 and "labels for 95 %" in (out / "curve.md").read_text()
    before = (out / "runs.csv").read_text()
    main_again = [
        "learning-curve",
        str(toy_csv),
        "--sizes",
        "6,12,all",
        "--strategies",
        "features,zero-shot",
        "--seeds",
        "2",
        "--model",
        tiny_model,
        "--max-length",
        "32",
        "--out",
        str(out),
        "-q",
    ]
    with pytest.raises(SystemExit):
        main(main_again)  # every run is done: nothing retrains, the same rows come back
    assert (out / "runs.csv").read_text() == before


def test_labels_needed_reads_the_first_size_reaching_each_share() -> None:
    curve = pd.DataFrame(
        {
            "strategy": ["a"] * 4,
            "size": [8, 16, 32, 64],
            "mean": [0.5, 0.9, 0.95, 0.98],
            "std": 0.0,
            "count": 3,
        }
    )
    row = labels_needed(curve).iloc[0]
    assert (row["labels_for_90pct"], row["labels_for_95pct"], row["labels_for_98pct"]) == (16, 32, 64)
    assert parse_sizes("8, 16,all") == [8, 16, None]
    with pytest.raises(ConfigError, match="--sizes"):
        parse_sizes("8,x")


def test_uncertainty_and_clusters_choose_unsure_and_varied_rows() -> None:
    probabilities = np.array([[0.98, 0.01, 0.01], [0.34, 0.33, 0.33], [0.5, 0.495, 0.005], [0.9, 0.05, 0.05]])
    assert (
        np.argmax(uncertainty(probabilities, "entropy")) == 1
        and np.argmax(uncertainty(probabilities, "margin")) == 2
    )
    # Two groups of near-duplicates: one pick from each, never two from the same group.
    points = np.array([[1.0, 0.0], [0.99, 0.05], [0.98, 0.1], [0.0, 1.0], [0.05, 0.99]])
    assert sorted(cluster_picks(points, [0, 1, 2, 3, 4], 2)) in ([1, 3], [1, 4])
    picked = choose(
        np.tile(probabilities, (5, 1)), np.random.default_rng(0).normal(size=(20, 8)), 4, labelled=[1, 5]
    )
    assert len(set(picked)) == 4 and not {1, 5} & set(picked)


def test_suggest_writes_annotation_tasks_of_the_most_uncertain_texts(
    tiny_run: headstart.Run, tmp_path: Path
) -> None:
    pool = tmp_path / "pool.csv"
    texts = [row["text"] for row in synthetic_rows(per_class=20, seed=61)] + [
        "goal shares chip",
        "match profit robot",
    ]
    pd.DataFrame({"id": range(len(texts)), "text": texts}).to_csv(pool, index=False)
    with pytest.raises(SystemExit) as done:
        main(
            [
                "suggest",
                str(pool),
                "--run",
                str(tiny_run.path),
                "-k",
                "4",
                "--out",
                str(tmp_path / "tasks.csv"),
                "-q",
            ]
        )
    assert done.value.code == 0
    tasks = pd.read_csv(tmp_path / "tasks.csv")
    assert list(tasks.columns) == ["item", "text", "uncertainty", "predicted"] and len(tasks) == 4
    scores = uncertainty(tiny_run.predict_proba(texts), "margin")
    shortlist = {texts[i] for i in np.argsort(-scores)[:20]}  # the 5 × k least sure texts
    assert set(tasks.text) <= shortlist and tasks.item.nunique() == 4


def test_simulation_replays_active_learning_against_random(toy_csv: Path, tmp_path: Path) -> None:
    from headstart.workflows.active import simulate

    result = simulate(toy_csv, out=tmp_path / "sim", seeds=2, start=6, step=6, budget=0.4, max_length=32)
    assert set(result.method) == {"margin", "random"} and result.seed.nunique() == 2
    assert result.groupby("method").labels.max().tolist() == [
        30,
        30,
    ]  # 40 % of the 84-text pool, in steps of 6
    summary = json.loads((tmp_path / "sim" / "summary.json").read_text())
    assert summary["pool"] == 84 and 0 < summary["full_data_accuracy"] <= 1
    assert (tmp_path / "sim" / "simulation.png").is_file()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["suggest"], "Give an unlabelled POOL"),
        (["suggest", "--dataset", "bbc-news", "--budget", "1.5"], "0 < --budget ≤ 1"),
        (["learning-curve", "--dataset", "bbc-news", "--sizes", "8,x"], "--sizes takes whole numbers"),
        (["train", "--dataset", "bbc-news", "--shots", "0"], "shots"),
    ],
)
def test_few_label_commands_refuse_bad_input_in_one_line(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    with pytest.raises(SystemExit) as done:
        main([*argv, "--out", str(tmp_path / "out")])
    error = capsys.readouterr().err
    assert (
        done.value.code == 2
        and message in error
        and "Traceback" not in error
        and len(error.strip().splitlines()) == 1
    )
    assert not (tmp_path / "out").exists()
