"""Crowd-label aggregation. The crowds are simulated from BBC News gold labels (see
headstart.labels.simulate): 5 annotators per item, a seeded mix of good, noisy and spammer annotators."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from headstart.cli import main
from headstart.data.bundled import load_bundled
from headstart.errors import DataError
from headstart.labels.aggregate import accuracy_against, aggregate, fleiss_kappa, read_answers
from headstart.labels.simulate import simulate_crowd


@pytest.fixture(scope="module")
def bbc_gold() -> pd.Series:
    bbc = load_bundled("bbc-news")
    return bbc["label"].set_axis(bbc.index.astype(str))


def test_dawid_skene_beats_majority_vote_by_5_points_with_30_percent_spammers(bbc_gold: pd.Series) -> None:
    answers, annotators = simulate_crowd(bbc_gold, per_item=5, spammers=0.3, seed=0)
    majority = accuracy_against(aggregate(answers, "mv"), bbc_gold)
    dawid_skene = aggregate(answers, "ds")
    assert accuracy_against(dawid_skene, bbc_gold) >= majority + 0.05, (
        majority,
        accuracy_against(dawid_skene, bbc_gold),
    )
    flagged = set(dawid_skene.annotators.query("suspected_spammer").annotator)
    spammers = set(annotators[annotators.kind.str.contains("spammer")].worker)
    assert flagged and flagged <= spammers  # no honest annotator is called a spammer
    assert dawid_skene.labels["confidence"].between(0, 1).all() and (dawid_skene.labels["answers"] == 5).all()


@pytest.mark.parametrize("method", ["wawa", "one-coin-ds", "glad", "mace"])
def test_every_method_aggregates(method: str, bbc_gold: pd.Series) -> None:
    gold = bbc_gold.sample(150, random_state=0)
    answers, _ = simulate_crowd(gold, spammers=0.2, seed=1)
    assert accuracy_against(aggregate(answers, method), gold) >= 0.85


def test_agreement_measures() -> None:
    perfect = pd.DataFrame(
        {"task": ["1", "1", "2", "2"], "worker": ["a", "b", "a", "b"], "label": ["x", "x", "y", "y"]}
    )
    assert fleiss_kappa(perfect) == 1.0
    uneven = pd.concat([perfect, pd.DataFrame({"task": ["2"], "worker": ["c"], "label": ["y"]})])
    assert fleiss_kappa(uneven) is None
    result = aggregate(perfect, "mv")
    assert result.agreement["krippendorff_alpha"] == pytest.approx(1.0)
    one_each = perfect.drop_duplicates("task")  # e.g. a queue answered by one reviewer
    assert aggregate(one_each, "mv").agreement == {"krippendorff_alpha": None, "fleiss_kappa": None}


def test_cli_writes_gold_labels_and_report(
    bbc_gold: pd.Series, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    answers, _ = simulate_crowd(bbc_gold.sample(200, random_state=0), spammers=0.3, seed=2)
    texts = load_bundled("bbc-news")["text"].set_axis(bbc_gold.index)
    answers.rename(columns={"task": "item_id", "worker": "annotator"}).assign(
        text=lambda f: texts.reindex(f.item_id).to_numpy()
    ).to_csv(tmp_path / "answers.csv", index=False)
    with pytest.raises(SystemExit) as stop:
        main(
            [
                "labels",
                "aggregate",
                str(tmp_path / "answers.csv"),
                "-o",
                str(tmp_path / "gold.csv"),
                "--report",
                str(tmp_path / "report.json"),
                "--json",
            ]
        )
    assert stop.value.code == 0
    gold = pd.read_csv(tmp_path / "gold.csv")
    assert list(gold.columns) == ["item", "text", "label", "confidence", "answers"] and len(gold) == 200
    report = json.loads((tmp_path / "report.json").read_text())
    assert (
        report["method"] == "ds"
        and report["suspected_spammers"] > 0
        and report["agreement"]["fleiss_kappa"] is not None
    )
    assert {"annotator", "items", "agreement", "estimated_skill", "suspected_spammer"} <= set(
        report["annotators"][0]
    )
    assert json.loads(capsys.readouterr().out)["items"] == 200


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([("1", "a", "x"), ("1", "a", "y"), ("2", "b", "x")], "labelled item '1' more than once"),
        ([("1", "a", "x"), ("1", "", "y")], "miss an item id, annotator or label"),
        ([("1", "a", "x"), ("2", "b", "x")], "same label"),
    ],
)
def test_bad_answer_files(rows: list, message: str, tmp_path: Path) -> None:
    pd.DataFrame(rows, columns=["item", "worker", "label"]).to_csv(tmp_path / "a.csv", index=False)
    with pytest.raises(DataError, match=message):
        aggregate(read_answers(tmp_path / "a.csv"))


def test_unknown_method_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    pd.DataFrame([("1", "a", "x"), ("1", "b", "y")], columns=["item", "worker", "label"]).to_csv(
        tmp_path / "a.csv", index=False
    )
    with pytest.raises(SystemExit) as stop:
        main(
            [
                "labels",
                "aggregate",
                str(tmp_path / "a.csv"),
                "-o",
                str(tmp_path / "g.csv"),
                "--method",
                "vote",
            ]
        )
    assert stop.value.code == 2 and "Unknown aggregation method 'vote'" in capsys.readouterr().err
    assert not (tmp_path / "g.csv").exists()


def test_a_second_round_on_the_queued_items_raises_accuracy(
    bbc_gold: pd.Series, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    gold = bbc_gold.sample(600, random_state=1)
    first, _ = simulate_crowd(gold, per_item=3, spammers=0.3, seed=3)
    first.rename(columns={"task": "item", "worker": "annotator"}).to_csv(tmp_path / "round1.csv", index=False)
    with pytest.raises(SystemExit):
        main(
            [
                "labels",
                "aggregate",
                str(tmp_path / "round1.csv"),
                "-o",
                str(tmp_path / "gold1.csv"),
                "--queue",
                str(tmp_path / "queue.csv"),
                "--threshold",
                "0.95",
                "--budget",
                "250",
                "--json",
            ]
        )
    capsys.readouterr()
    queue = pd.read_csv(tmp_path / "queue.csv", dtype=str, keep_default_na=False)
    assert list(queue.columns) == ["item", "annotator", "label"] and 0 < len(queue) <= 250
    assert (queue.annotator == "").all() and (queue.label == "").all()

    queued = gold.reindex(queue["item"])
    second, _ = simulate_crowd(queued, per_item=3, spammers=0.3, seed=3, answered=first, round_seed=1)
    second.rename(columns={"task": "item", "worker": "annotator"}).to_csv(
        tmp_path / "round2.csv", index=False
    )
    with pytest.raises(SystemExit) as stop:
        main(
            [
                "labels",
                "aggregate",
                str(tmp_path / "round1.csv"),
                str(tmp_path / "round2.csv"),
                "-o",
                str(tmp_path / "gold2.csv"),
                "--report",
                str(tmp_path / "report.json"),
                "--threshold",
                "0.95",
                "--json",
            ]
        )
    assert stop.value.code == 0
    rounds = json.loads((tmp_path / "report.json").read_text())["rounds"]
    assert [r["round"] for r in rounds] == [1, 2] and rounds[1]["settled"] > rounds[0]["settled"]
    assert rounds[0]["labels_changed"] is None and 0 < rounds[1]["labels_changed"] <= len(queue)
    assert rounds[1]["mean_confidence"] > rounds[0]["mean_confidence"]

    def accuracy(path: Path) -> float:
        labels = pd.read_csv(path, dtype=str).set_index("item")["label"]
        return float((labels == gold.reindex(labels.index)).mean())

    assert accuracy(tmp_path / "gold2.csv") > accuracy(tmp_path / "gold1.csv") + 0.02


@pytest.fixture(scope="module")
def toy_answers(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.Series]:
    """A simulated crowd (5 answers per item, 25 % spammers) on the synthetic keyword texts."""
    from tests.conftest import synthetic_rows

    rows = pd.DataFrame(synthetic_rows(per_class=40, seed=8))
    gold = rows["label"].set_axis([f"t{i}" for i in range(len(rows))])
    answers, _ = simulate_crowd(gold, per_item=5, pool=12, spammers=0.25, seed=4)
    answers["text"] = rows["text"].set_axis(gold.index).reindex(answers["task"]).to_numpy()
    path = tmp_path_factory.mktemp("crowd") / "answers.csv"
    answers.rename(columns={"task": "item"}).to_csv(path, index=False)
    return path, gold


@pytest.mark.parametrize("soft", [False, True])
def test_train_straight_from_crowd_answers(
    soft: bool, toy_answers: tuple[Path, pd.Series], tiny_options: dict, tmp_path: Path
) -> None:
    import headstart

    path, gold = toy_answers
    run = headstart.train(
        annotations=str(path),
        out=tmp_path / "run",
        strategy="finetune",
        soft_labels=soft,
        **{**tiny_options, "epochs": 3},
    )
    assert run.config.annotations == str(path) and run.config.soft_labels is soft
    texts = pd.read_csv(path).drop_duplicates("item").set_index("item")["text"].reindex(gold.index)
    assert (
        pd.Series(run.predict(texts.tolist()), index=gold.index) == gold
    ).mean() >= 0.9  # against the truth, not the crowd


def test_soft_labels_need_crowd_answers_and_a_gradient_strategy(
    toy_answers: tuple[Path, pd.Series], toy_csv: Path, tmp_path: Path
) -> None:
    import headstart

    with pytest.raises(headstart.ConfigError, match="--soft-labels needs --annotations"):
        headstart.train(toy_csv, out=tmp_path / "x", strategy="finetune", soft_labels=True)
    with pytest.raises(headstart.ConfigError, match="'features' on classification data cannot use them"):
        headstart.train(
            annotations=str(toy_answers[0]), out=tmp_path / "x", strategy="features", soft_labels=True
        )
    pd.read_csv(toy_answers[0]).drop(columns="text").to_csv(tmp_path / "no_text.csv", index=False)
    with pytest.raises(headstart.DataError, match="has no text column"):
        headstart.train(annotations=str(tmp_path / "no_text.csv"), out=tmp_path / "x")
