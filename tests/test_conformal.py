"""Conformal prediction sets: the split-conformal rule on simulated probabilities, the coverage a
run calibrated at training time reaches on BBC News's held-out texts, and `predict --coverage
--queue` whose tasks, once answered, `labels aggregate` reads back."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import train_test_split

import headstart
from headstart.cli import main
from headstart.data.bundled import load_bundled
from headstart.errors import ConfigError, RunError
from headstart.evaluation.conformal import nonconformity, prediction_sets, threshold
from headstart.labels.simulate import simulate_crowd

CLASSES = ["a", "b", "c", "d"]


def simulated(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A model's probabilities (Dirichlet) and labels drawn from them: exchangeable, calibrated rows."""
    random = np.random.default_rng(seed)
    probabilities = random.dirichlet(np.full(len(CLASSES), 0.5), size=rows)
    labels = np.array([random.choice(len(CLASSES), p=row) for row in probabilities])
    return probabilities, labels


@pytest.mark.parametrize("coverage", [0.7, 0.9, 0.95])
def test_sets_cover_the_true_label_as_often_as_asked(coverage: float) -> None:
    # 5,000 calibration rows: the coverage a calibration set gives varies by ~√(c(1-c)/n), 0.6 points here.
    calibration, truth = simulated(5_000, seed=0)
    scores = nonconformity(calibration, truth)
    probabilities, labels = simulated(20_000, seed=1)
    sets = prediction_sets(probabilities, CLASSES, scores, coverage)
    covered = np.mean([CLASSES[label] in found for found, label in zip(sets, labels, strict=True)])
    assert coverage - 0.02 <= covered <= coverage + 0.03, covered
    ranked = [
        sorted(found, key=lambda label: -row[CLASSES.index(label)])
        for found, row in zip(sets, probabilities, strict=True)
    ]
    assert ranked == sets  # most probable first
    assert np.mean([len(found) for found in sets]) < len(CLASSES)


def test_a_coverage_the_calibration_cannot_promise_gives_every_label() -> None:
    assert threshold(np.array([0.1, 0.2, 0.3]), 0.9) == 1.0  # ⌈4 × 0.9⌉ = 4 > 3 scores
    assert threshold(np.array([0.1, 0.2, 0.3]), 0.5) == 0.2
    with pytest.raises(ConfigError, match="in \\(0, 1\\)"):
        threshold(np.array([0.1]), 1.5)


@pytest.fixture(scope="module")
def bbc_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[headstart.Run, pd.DataFrame]:
    """features on 80 % of BBC News (1,701 articles once its duplicates go; 30 % of them dev, since the
    coverage one calibration set gives varies by ~√(c(1−c)/n): 1.3 points at 0.9 on 511 rows), refit
    on (so the calibration is the first fit's, on dev), and the 426 articles it never saw."""
    news = load_bundled("bbc-news")
    labelled, test = train_test_split(news, test_size=0.2, stratify=news.label, random_state=0)
    out = tmp_path_factory.mktemp("conformal") / "run"
    run = headstart.train(labelled, test_data=test, out=out, strategy="features", max_length=64, dev_size=0.3)
    return run, test.reset_index(drop=True)


@pytest.mark.parametrize("coverage", [0.9, 0.95])
def test_a_calibrated_bbc_run_covers_its_held_out_texts_within_3_points(
    bbc_run: tuple[headstart.Run, pd.DataFrame], coverage: float
) -> None:
    run, test = bbc_run
    assert run.metrics["training"]["refit"]["rows"] == 1701 and run.metrics["test"]["examples"] == 426
    facts = json.loads((run.path / "calibration.json").read_text())
    assert facts["rows"] == 511 and facts["calibrated_on"] == "dev, by the model before the refit"
    sets = run.prediction_sets(test.text, coverage)
    covered = np.mean([label in found for found, label in zip(sets, test.label, strict=True)])
    assert abs(covered - coverage) <= 0.03, covered


def test_predict_marks_uncertain_texts_and_queues_them_for_annotators(
    bbc_run: tuple[headstart.Run, pd.DataFrame], tmp_path: Path
) -> None:
    run, test = bbc_run
    test.assign(id=[f"doc-{i}" for i in range(len(test))])[["id", "text"]].to_csv(
        tmp_path / "in.csv", index=False
    )
    arguments = ["predict", str(run.path), str(tmp_path / "in.csv"), "-o", str(tmp_path / "out.csv")]
    with pytest.raises(SystemExit) as stop:
        main([*arguments, "--coverage", "0.97", "--queue", str(tmp_path / "queue.csv"), "--quiet"])
    assert stop.value.code == 0
    out, queue = pd.read_csv(tmp_path / "out.csv"), pd.read_csv(tmp_path / "queue.csv", keep_default_na=False)
    sizes = (
        out.label_set.fillna("")
        .str.split(run.config.label_sep, regex=False)
        .map(lambda s: len([x for x in s if x]))
    )
    assert out.uncertain.equals(sizes != 1)
    assert 0 < out.uncertain.sum() == len(queue) < len(out)
    assert list(queue.columns) == ["item", "annotator", "label", "text", "candidates"]
    assert set(queue.item) == set(out.id[out.uncertain]) and (queue.annotator == "").all()
    # The queue goes to annotators; their answers come back in the same file and aggregate.
    gold = test.label.set_axis([f"doc-{i}" for i in range(len(test))]).reindex(queue.item)
    answers, _ = simulate_crowd(gold, per_item=3, spammers=0.0, seed=0)
    answered = queue.drop(columns=["annotator", "label"]).merge(answers, left_on="item", right_on="task")
    answered.rename(columns={"worker": "annotator"}).drop(columns="task").to_csv(
        tmp_path / "back.csv", index=False
    )
    with pytest.raises(SystemExit) as stop:
        main(["labels", "aggregate", str(tmp_path / "back.csv"), "-o", str(tmp_path / "gold.csv")])
    assert stop.value.code == 0
    assert set(pd.read_csv(tmp_path / "gold.csv").item) == set(queue.item)


def test_many_files_and_the_server_give_the_sets_one_file_gets(
    bbc_run: tuple[headstart.Run, pd.DataFrame], tmp_path: Path
) -> None:
    run, test = bbc_run
    first, second = test.text[:150].to_frame(), test.text[150:300].to_frame().assign(id=range(150))
    first.to_csv(tmp_path / "one.csv", index=False)
    second.to_json(tmp_path / "two.jsonl", orient="records", lines=True)
    flags = {"coverage": 0.97, "queue": tmp_path / "queue.csv"}
    headstart.predict_many(
        run.path, [tmp_path / "one.csv", tmp_path / "two.jsonl"], tmp_path / "out", **flags
    )
    alone = run.prediction_sets(test.text[:300], 0.97, show_progress=False)
    both = pd.concat(
        [pd.read_csv(tmp_path / "out" / "one.csv"), pd.read_json(tmp_path / "out" / "two.jsonl", lines=True)]
    )
    assert both.label_set.fillna("").tolist() == [run.config.label_sep.join(found) for found in alone]
    queue = pd.read_csv(tmp_path / "queue.csv")
    uncertain = [i for i, found in enumerate(alone) if len(found) != 1]
    assert uncertain and queue.item.tolist() == [
        f"one.csv:{i}" if i < 150 else f"two.jsonl:{i - 150}" for i in uncertain
    ]

    from fastapi.testclient import TestClient

    from headstart.workflows.serving import create_app

    with TestClient(create_app(run)) as client:
        answer = client.post("/predict", json={"texts": test.text[:40].tolist(), "coverage": 0.97}).json()
        assert [found["label_set"] for found in answer["predictions"]] == alone[:40]
        assert [found["uncertain"] for found in answer["predictions"]] == [len(s) != 1 for s in alone[:40]]
        refused = client.post("/predict", json={"text": "x", "coverage": 1.5})
        assert refused.status_code == 422 and "coverage" in refused.json()["detail"]


def test_text_predictions_show_their_set(
    tiny_run: headstart.Run, capsys: pytest.CaptureFixture, tmp_path: Path
) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["predict", str(tiny_run.path), "--text", "goal match", "--coverage", "0.9", "--json"])
    (answer,) = json.loads(capsys.readouterr().out)
    assert stop.value.code == 0 and answer["label_set"][0] == answer["label"]
    assert answer["uncertain"] == (len(answer["label_set"]) != 1)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--coverage", "1.2"], "--coverage must be in (0, 1)"),
        (["--queue", "q.csv"], "give --coverage too"),
        (["--coverage", "0.9", "--queue", "q.txt"], "unknown format"),
        (["--coverage", "0.9", "--queue", "-"], "--queue needs a file name"),
    ],
)
def test_bad_coverage_flags_get_one_line(
    tiny_run: headstart.Run, tmp_path: Path, capsys: pytest.CaptureFixture, flags: list[str], message: str
) -> None:
    pd.DataFrame({"text": ["goal match", "shares bank"]}).to_csv(tmp_path / "in.csv", index=False)
    with pytest.raises(SystemExit) as stop:
        main(["predict", str(tiny_run.path), str(tmp_path / "in.csv"), "-o", str(tmp_path / "o.csv"), *flags])
    error = capsys.readouterr().err.strip()
    assert stop.value.code != 0 and message in error and len(error.splitlines()) == 1
    assert not (tmp_path / "o.csv").exists()


def test_a_run_without_calibration_says_so(tiny_run: headstart.Run, tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    for item in tiny_run.path.iterdir():
        if item.name != "calibration.json":
            (tmp_path / "run" / item.name).symlink_to(item)
    with pytest.raises(RunError, match="no conformal calibration"):
        headstart.load_run(tmp_path / "run").prediction_sets(["goal match"])
    pd.DataFrame({"text": ["goal match"]}).to_csv(tmp_path / "in.csv", index=False)
    with pytest.raises(RunError, match="no conformal calibration"):  # refused before predicting
        headstart.predict_many(tmp_path / "run", [tmp_path / "in.csv"], tmp_path / "out", coverage=0.9)
    assert not (tmp_path / "out").exists()
