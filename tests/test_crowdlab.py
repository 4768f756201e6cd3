"""`labels aggregate --method crowdlab`: cleanlab's CROWDLAB with out-of-fold probabilities of a
`features` model on the items' texts, on crowds simulated from BBC News gold labels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import headstart
from headstart.cli import main
from headstart.config import TrainConfig
from headstart.data.bundled import load_bundled
from headstart.errors import ConfigError
from headstart.labels.aggregate import accuracy_against, aggregate, read_answers
from headstart.labels.crowdlab import crowdlab
from headstart.labels.simulate import simulate_crowd

SCORER = TrainConfig(dataset="bbc-news", strategy="features", max_length=64)


@pytest.fixture(scope="module")
def bbc_sample() -> pd.DataFrame:
    bbc = load_bundled("bbc-news")
    return bbc.set_axis(bbc.index.astype(str)).sample(600, random_state=0)


def crowd(sample: pd.DataFrame, spammers: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    answers, annotators = simulate_crowd(sample["label"], per_item=5, spammers=spammers, seed=seed)
    return answers.assign(text=sample["text"].reindex(answers["task"]).to_numpy()), annotators


def test_crowdlab_matches_dawid_skene_with_30_percent_spammers(
    bbc_sample: pd.DataFrame, tmp_path: Path
) -> None:
    answers, annotators = crowd(bbc_sample, spammers=0.3, seed=0)
    answers.to_csv(tmp_path / "answers.csv", index=False)
    result, facts = headstart.aggregate_labels(
        [tmp_path / "answers.csv"], tmp_path / "gold.csv", "crowdlab", config=SCORER
    )
    dawid_skene = accuracy_against(aggregate(answers, "ds"), bbc_sample["label"])
    assert accuracy_against(result, bbc_sample["label"]) >= dawid_skene, dawid_skene
    assert facts["method"] == "crowdlab" and len(pd.read_csv(tmp_path / "gold.csv")) == len(bbc_sample)
    skills = result.annotators.set_index("annotator")["estimated_skill"]
    kinds = annotators.set_index("worker")["kind"].reindex(skills.index)
    assert skills[kinds == "good"].min() > skills[kinds.str.contains("spammer")].max()


def test_the_posterior_is_cleanlabs(bbc_sample: pd.DataFrame) -> None:
    """cleanlab computes CROWDLAB's label distribution but returns only its argmax and scores; the
    distribution rebuilt from the returned weights must be the one its private function makes."""
    from cleanlab.multiannotator import _get_post_pred_probs_and_weights

    answers, _ = crowd(bbc_sample.head(300), spammers=0.3, seed=1)
    classes = sorted(answers["label"].unique())
    rng = np.random.default_rng(0)
    model = pd.DataFrame(
        rng.dirichlet(np.ones(len(classes)), 300), index=bbc_sample.index[:300], columns=classes
    )
    consensus = crowdlab(answers, model)
    wide = answers.pivot(index="task", columns="worker", values="label")
    codes = wide.apply(lambda column: column.map({c: i for i, c in enumerate(classes)}))
    codes = codes.to_numpy(dtype=float)
    labels = consensus.labels.reindex(wide.index).map(classes.index).to_numpy()
    expected, _, _ = _get_post_pred_probs_and_weights(
        codes,
        labels,
        model.reindex(wide.index).to_numpy(),
        (~np.isnan(codes)).sum(axis=1),
        np.mean(codes == labels[:, None], axis=1, where=~np.isnan(codes)),
        "crowdlab",
    )
    np.testing.assert_allclose(consensus.probabilities.to_numpy(), expected, atol=1e-9)
    assert (consensus.probabilities.idxmax(axis=1) == consensus.labels).all()


def test_cli_crowdlab_report_and_queue_read_back(
    bbc_sample: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    answers, _ = crowd(bbc_sample.head(200), spammers=0.3, seed=2)
    answers.rename(columns={"task": "item", "worker": "annotator"}).to_csv(tmp_path / "a.csv", index=False)
    arguments = ["labels", "aggregate", str(tmp_path / "a.csv"), "-o", str(tmp_path / "gold.csv")]
    options = ["--method", "crowdlab", "--max-length", "64", "--folds", "3", "--threshold", "0.8"]
    files = ["--report", str(tmp_path / "r.json"), "--queue", str(tmp_path / "q.csv"), "--json"]
    with pytest.raises(SystemExit) as stop:
        main(arguments + options + files)
    assert stop.value.code == 0, capsys.readouterr().err
    gold = pd.read_csv(tmp_path / "gold.csv")
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["method"] == "crowdlab" and "estimated_skill" in report["annotators"][0]
    queue = pd.read_csv(tmp_path / "q.csv", dtype=str)
    unsure = set(gold.loc[gold["confidence"] < 0.8, "item"].astype(str))
    assert unsure and unsure <= set(queue["item"])  # the queue follows the consensus quality scores
    answered = queue.assign(
        annotator="reviewer",
        label=gold.set_index(gold["item"].astype(str))["label"].reindex(queue["item"]).to_numpy(),
    )
    answered.to_csv(tmp_path / "answered.csv", index=False)
    assert len(aggregate(read_answers(tmp_path / "answered.csv"), "mv").labels) == len(queue)


def test_crowdlab_needs_the_items_texts(
    bbc_sample: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    answers, _ = crowd(bbc_sample.head(50), spammers=0.1, seed=3)
    answers.drop(columns="text").to_csv(tmp_path / "a.csv", index=False)
    with pytest.raises(SystemExit) as stop:
        main(
            [
                "labels",
                "aggregate",
                str(tmp_path / "a.csv"),
                "-o",
                str(tmp_path / "g.csv"),
                "--method",
                "crowdlab",
            ]
        )
    error = capsys.readouterr().err
    assert stop.value.code == 2 and "reads each item's text" in error and "Traceback" not in error
    assert not (tmp_path / "g.csv").exists()
    with pytest.raises(ConfigError, match="weighs a model's probabilities"):
        aggregate(answers, "crowdlab")
    answers.to_csv(tmp_path / "with_text.csv", index=False)
    with pytest.raises(ConfigError, match="run `headstart labels aggregate .* --method crowdlab"):
        headstart.train(
            annotations=str(tmp_path / "with_text.csv"), aggregation="crowdlab", out=tmp_path / "r"
        )
