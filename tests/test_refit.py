"""Every labelled row in the final model: the refit on train + dev with what dev chose, and a
truncation length that does not cut short texts."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.conftest import synthetic_rows

import headstart
from headstart.config import REFIT_AUTO_ROWS, TrainConfig
from headstart.training.job import FitReport, refit_settings

FAST = {"max_length": 32, "epochs": 3, "lr": 3e-3, "patience": 0, "checkpoint_every": 0, "seed": 4}


def test_refit_replays_the_last_epoch_within_noise_of_the_best_and_the_best_c() -> None:
    epochs = FitReport(
        history=[
            {"epoch": 1, "dev_macro_f1": 0.8},
            {"epoch": 2, "dev_macro_f1": 1.0},
            {"epoch": 3, "dev_macro_f1": 1.0},
            {"epoch": 4, "dev_macro_f1": 0.9},
        ]
    )
    assert refit_settings(epochs, "macro_f1", dev_rows=100) == {"epochs": 3}
    # bbc-titles, seed 44: one dev text apart on 100 is noise; on 10,000 it is not.
    scores = ((1, 0.757), (2, 0.91), (3, 0.898))
    close = FitReport(history=[{"epoch": epoch, "dev_macro_f1": score} for epoch, score in scores])
    assert refit_settings(close, "macro_f1", dev_rows=100) == {"epochs": 3}
    assert refit_settings(close, "macro_f1", dev_rows=10_000) == {"epochs": 2}
    heads = FitReport(history=[{"C": 0.1, "dev_macro_f1": 0.7}, {"C": 1.0, "dev_macro_f1": 0.9}])
    assert refit_settings(heads, "macro_f1", dev_rows=100) == {"c_values": [1.0]}
    assert refit_settings(FitReport(history=[{"step": 1}]), "macro_f1", dev_rows=100) is None


def test_refit_auto_applies_to_small_sets_but_not_multi_label() -> None:
    config = TrainConfig(dataset="bbc-news", task="classification")
    assert config.refits(REFIT_AUTO_ROWS - 1) and not config.refits(REFIT_AUTO_ROWS)
    assert not config.replace(task="multi-label").refits(100)
    assert config.replace(refit="yes").refits(10**6) and not config.replace(refit="no").refits(10)


@pytest.mark.parametrize("source", ["file", "memory"])
def test_the_features_refit_embeds_no_text_a_second_time(
    source: str, tiny_model: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The refit's train + dev are the rows the first fit embedded: the cache gives them back (for
    data from memory, the process's rows)."""
    from headstart.strategies import features

    # No rows of other tests, on disk or in the process.
    monkeypatch.setenv("HEADSTART_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(features, "PROCESS_ROWS", features.ProcessRows())
    embedded: list[int] = []
    original = features.forward_in_batches
    monkeypatch.setattr(
        features,
        "forward_in_batches",
        lambda forward, rows, *a, **k: embedded.append(len(rows)) or original(forward, rows, *a, **k),
    )
    frame = pd.DataFrame(synthetic_rows(per_class=20, seed=12))
    frame.to_csv(tmp_path / "data.csv", index=False)
    options = {**FAST, "model": tiny_model, "strategy": "features", "refit": "yes"}
    run = headstart.train(
        tmp_path / "data.csv" if source == "file" else frame, out=tmp_path / "run", **options
    )
    data = run.metrics["data"]
    assert run.metrics["training"]["refit"]["rows"] == data["train"] + data["dev"]
    assert 0 < sum(embedded) <= data["train"] + data["dev"], embedded


@pytest.mark.parametrize("strategy", ["finetune", "features"])
def test_refit_trains_on_train_and_dev_and_keeps_test_held_out(
    strategy: str, tiny_model: str, tmp_path: Path
) -> None:
    frame = pd.DataFrame(synthetic_rows(per_class=20, seed=12))
    options = {**FAST, "model": tiny_model, "strategy": strategy}
    refit = headstart.train(frame, out=tmp_path / "yes", **options)
    held = headstart.train(frame, out=tmp_path / "no", refit="no", **options)
    data = refit.metrics["data"]
    record = refit.metrics["training"]["refit"]
    assert record["rows"] == data["train"] + data["dev"] and data["test"] > 0
    assert data["fingerprints"] == held.metrics["data"]["fingerprints"]  # the same test split
    assert "refit" not in held.metrics["training"]
    assert refit.config.class_weights is False  # resolved from the labels: balanced classes

    def scores(run: headstart.Run) -> list:  # the first fit's history, on dev
        return [
            {k: v for k, v in entry.items() if k != "seconds"} for entry in run.metrics["training"]["history"]
        ]

    assert scores(refit) == scores(held)
    chosen = record["chosen_on_dev"]
    assert chosen == (
        {"epochs": chosen["epochs"]} if strategy == "finetune" else {"c_values": chosen["c_values"]}
    )
    texts = [row["text"] for row in synthetic_rows(per_class=3, seed=13)]
    assert (refit.predict_proba(texts) != held.predict_proba(texts)).any()  # a different model
    # checked on the dev texts it learned: no worse than the first model on them unseen
    assert record["dev_score_seen"] >= refit.metrics["training"]["best_dev_score"]
    assert "refit_rejected" not in refit.metrics["training"]


def test_a_refit_that_fails_on_the_dev_texts_it_learned_gives_way_to_the_first_model(
    minilm_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refit that breaks is caught and the run keeps the first fit's model. The failure is a
    stand-in: the refit's model is made to answer one class, as a real refit at lr 2e-4 did on
    zh-inews (no model collapses on cue). MiniLM's features, since the first model must have
    learned something for a collapse to be worse."""
    import torch

    from headstart import refit as refits
    from headstart.errors import TrainingWarning

    replay = refits.refit

    def refit_that_collapses(*args, **kwargs):  # type: ignore[no-untyped-def]
        refitted = replay(*args, **kwargs)
        forward = refitted.classifier.forward

        def first_class_only(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            logits = forward(input_ids, attention_mask)
            return torch.zeros_like(logits).index_fill_(1, torch.tensor([0]), 1.0)

        refitted.classifier.forward = first_class_only
        if refitted.dev_outputs is not None:  # the head's own dev outputs answer that class too
            refitted.dev_outputs = np.eye(refitted.dev_outputs.shape[1])[[0] * len(refitted.dev_outputs)]
        return refitted

    monkeypatch.setattr(refits, "refit", refit_that_collapses)
    frame = pd.DataFrame(synthetic_rows(per_class=20, seed=12))
    options = {**FAST, "model": str(minilm_dir), "strategy": "features"}
    with pytest.warns(TrainingWarning, match="keeps the first fit's model"):
        kept = headstart.train(frame, out=tmp_path / "kept", **options)
    held = headstart.train(frame, out=tmp_path / "held", refit="no", **options)

    training, data = kept.metrics["training"], kept.metrics["data"]
    rejected = training["refit_rejected"]
    assert "refit" not in training and rejected["rows"] == data["train"] + data["dev"]
    assert rejected["dev_score_seen"] < rejected["first_dev_score"] == training["best_dev_score"]
    texts = [row["text"] for row in synthetic_rows(per_class=3, seed=13)]
    assert kept.predict_proba(texts) == pytest.approx(held.predict_proba(texts), abs=1e-5)
    assert json.loads((tmp_path / "kept" / "calibration.json").read_text())["calibrated_on"] == "dev"
    assert not list(tmp_path.glob("**/first-fit"))  # the first model's copy did not outlive the run


def test_the_first_model_is_gone_when_the_refit_trains(
    tiny_model: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Holding the first fit's model (and the accelerator's optimiser state) through the refit
    doubled a fine-tuning run's peak memory."""
    import gc
    import weakref

    from headstart import refit as refits
    from headstart.strategies.base import EncoderTuning

    first: list[weakref.ref] = []
    fit, replay = EncoderTuning.fit, refits.refit

    def fit_and_remember(self: EncoderTuning, job):  # type: ignore[no-untyped-def]
        fitted = fit(self, job)
        if not first:
            first.append(weakref.ref(fitted.classifier))
        return fitted

    def refit_when_first_is_gone(*args, **kwargs):  # type: ignore[no-untyped-def]
        gc.collect()
        assert first[0]() is None, "the first fit's model is still referenced during the refit"
        return replay(*args, **kwargs)

    monkeypatch.setattr(EncoderTuning, "fit", fit_and_remember)
    monkeypatch.setattr(refits, "refit", refit_when_first_is_gone)
    frame = pd.DataFrame(synthetic_rows(per_class=20, seed=12))
    run = headstart.train(frame, out=tmp_path / "run", model=tiny_model, strategy="finetune", **FAST)
    assert "refit" in run.metrics["training"] and first


@pytest.mark.parametrize("strategy", ["features", "finetune"])
def test_a_run_predicts_no_split_more_often_than_it_must(
    strategy: str,
    tiny_model: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The dev outputs a fit chose on (a linear head's; the loop's best epoch's, in fp32) calibrate
    the run, and a head's check its refit: `features` predicts no labelled text again, `finetune`
    the dev texts once (its refit's check: the refit chose nothing on dev). The calibration equals
    the conformal scores of the model's own predictions on dev. The test pass that scores the model
    also times its batch speed."""
    from headstart.evaluation.conformal import nonconformity
    from headstart.inference.predictor import ModelPredictor

    predicted: list[str] = []
    bars: list[str] = []  # the passes that show a progress bar
    logits = ModelPredictor._logits

    def remembered(self, forward, inputs, show_progress, description):  # type: ignore[no-untyped-def]
        predicted.extend(inputs := list(inputs))
        bars.extend([description] if show_progress else [])
        return logits(self, forward, inputs, show_progress, description)

    monkeypatch.setattr(ModelPredictor, "_logits", remembered)
    rows = synthetic_rows(per_class=20, seed=12)
    train, dev, test = (pd.DataFrame(rows[part::3]) for part in range(3))
    options = {**FAST, "model": tiny_model, "strategy": strategy, "mixed_precision": "no"}
    refitted = headstart.train(train, dev_data=dev, test_data=test, out=tmp_path / "refit", **options)
    training = refitted.metrics["training"]
    assert {"refit", "refit_rejected"} & set(training)  # refitted, and checked
    times = Counter(predicted)
    assert {times[text] for text in dev.text} == {int(strategy == "finetune")}
    assert not any(times[text] for text in train.text)
    # One pass over the test texts scores the model and times its batch speed (after a warm-up on
    # 8 of them, which shows no bar); then each of the 20 is predicted alone for the latency.
    assert sum(times[text] for text in test.text) == 8 + len(test) + len(test)
    assert bars == ["Testing"]

    single = headstart.train(train, dev_data=dev, test_data=test, out=tmp_path / "one", refit="no", **options)
    stored = json.loads((single.path / "calibration.json").read_text())["scores"]
    labels = [single.labels.index(label) for label in dev.label]
    expected = np.sort(nonconformity(np.asarray(single.predict_proba(list(dev.text))), labels))
    assert stored == pytest.approx(expected, abs=1e-4)


def test_short_texts_are_not_truncated(minilm_dir: Path) -> None:
    from headstart.encoding import choose_max_length
    from headstart.models.zoo import load_tokenizer

    tokenizer = load_tokenizer(minilm_dir)
    short = ["a few words"] * 95 + ["word " * 100] * 5  # the longest: 102 tokens
    assert choose_max_length(tokenizer, short, 95.0, 512) == 104  # all of it, rounded up to 8
    long = ["a few words"] * 95 + ["word " * 300] * 5
    assert choose_max_length(tokenizer, long, 90.0, 512) == 8  # over 128 tokens: the percentile
