"""Multi-task strategy: one encoder, one head per label column, weighted summed losses.

The data is synthetic: the topic keywords of conftest plus a tone word ('great'/'awful'...) chosen
independently, so the second column can only be learnt by its own head.
"""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from tests.conftest import synthetic_rows

import headstart
from headstart.cli import main
from headstart.strategies import make_strategy
from headstart.tasks import Classification

TONES = {"good": ["great", "excellent", "wonderful"], "bad": ["awful", "terrible", "dreadful"]}


@pytest.fixture(scope="module")
def two_label_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = random.Random(7)
    rows = []
    for row in synthetic_rows(per_class=40, seed=3):
        tone = rng.choice(sorted(TONES))
        rows.append({"text": f"{row['text']} {rng.choice(TONES[tone])}", "label": row["label"], "tone": tone})
    path = tmp_path_factory.mktemp("multi") / "two_labels.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_multitask_learns_every_column_and_predicts_them_all(
    two_label_csv: Path, tiny_options: dict, tmp_path: Path
) -> None:
    options = {**tiny_options, "epochs": 3, "lr": 3e-4}
    run = headstart.train(
        two_label_csv,
        out=tmp_path / "mt",
        strategy="multitask",
        strategy_options={"columns": ["tone"]},
        **options,
    )
    assert run.metrics["test"]["accuracy"] >= 0.9
    assert run.metrics["test"]["heads"]["tone"]["accuracy"] >= 0.9
    assert run.head_labels == {"label": ["money", "sport", "tech"], "tone": ["bad", "good"]}
    predicted = headstart.load_run(run.path).predict_heads(["goal striker great", "bank shares awful"])
    assert predicted == {"label": ["sport", "money"], "tone": ["good", "bad"]}

    with pytest.raises(SystemExit) as stop:
        main(["predict", str(run.path), str(two_label_csv), "-o", str(tmp_path / "out.csv"), "--quiet"])
    assert stop.value.code == 0
    written = pd.read_csv(tmp_path / "out.csv")
    assert {"predicted_label", "predicted_tone", "prob_sport", "prob_tone_good"} <= set(written.columns)
    assert (written["predicted_tone"] == written["tone"]).mean() >= 0.9


def test_a_zero_weight_column_is_not_learnt(two_label_csv: Path, tiny_options: dict, tmp_path: Path) -> None:
    options = {**tiny_options, "epochs": 3, "lr": 3e-4}
    run = headstart.train(
        two_label_csv,
        out=tmp_path / "mt0",
        strategy="multitask",
        strategy_options={"columns": ["tone"], "weights": [0.0]},
        **options,
    )
    assert run.metrics["test"]["accuracy"] >= 0.9  # the main head still learns
    assert run.metrics["test"]["heads"]["tone"]["accuracy"] < 0.75  # two balanced classes: near chance


def test_multitask_loss_is_the_weighted_sum_of_head_losses(tiny_model: str) -> None:
    from headstart.models.classifiers import MultiTaskClassifier, load_encoder

    strategy = make_strategy("multitask", {"columns": ["tone", "urgency"], "weights": [0.5, 2.0]})

    model = MultiTaskClassifier(
        load_encoder(Path(tiny_model)),
        {"label": ["a", "b", "c"], "tone": ["x", "y"], "urgency": ["p", "q", "r", "s"]},
    )
    model.eval()
    batch = {
        "input_ids": torch.tensor([[101, 2000, 102], [101, 2001, 102]]),
        "attention_mask": torch.ones(2, 3, dtype=torch.long),
        "labels": torch.tensor([0, 2]),
        "extra_labels": torch.tensor([[1, 3], [0, 0]]),
    }
    heads = model.split_logits(model(batch["input_ids"], batch["attention_mask"], all_heads=True))
    expected = (
        F.cross_entropy(heads["label"], batch["labels"])
        + 0.5 * F.cross_entropy(heads["tone"], batch["extra_labels"][:, 0])
        + 2.0 * F.cross_entropy(heads["urgency"], batch["extra_labels"][:, 1])
    )
    assert float(strategy.loss(model, batch, Classification(["a", "b", "c"]), None)) == pytest.approx(
        float(expected), rel=1e-6
    )
    torch.testing.assert_close(heads["label"], model(batch["input_ids"], batch["attention_mask"]))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "needs the further label columns"),
        ({"columns": ["mood"]}, "column 'mood' is not in"),
        ({"columns": ["tone"], "weights": [1, 2]}, "one value >= 0 per column"),
    ],
)
def test_multitask_errors_are_one_line(
    options: dict, message: str, two_label_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    argv = ["train", str(two_label_csv), "--strategy", "multitask", "--out", str(tmp_path / "x")]
    argv += [f"--option={key}={value}" for key, value in options.items()]
    with pytest.raises(SystemExit) as stop:
        main([str(a).replace("'", "") for a in argv])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_an_unseen_value_in_an_extra_column_is_a_data_error(two_label_csv: Path, tmp_path: Path) -> None:
    test = pd.read_csv(two_label_csv).head(10).assign(tone="neutral")
    test.to_csv(tmp_path / "test.csv", index=False)
    with pytest.raises(headstart.DataError, match="tone value\\(s\\) \\['neutral'\\] never seen"):
        headstart.train(
            two_label_csv,
            out=tmp_path / "x",
            strategy="multitask",
            test_data=str(tmp_path / "test.csv"),
            strategy_options={"columns": ["tone"]},
        )
