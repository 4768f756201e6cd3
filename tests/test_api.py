"""The Python API end to end on the tiny model: train → run directory → load → predict / evaluate."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.conftest import synthetic_rows
from transformers import AutoModelForSequenceClassification

import headstart
from headstart.config import TrainConfig


def test_finetune_learns_the_toy_task(tiny_run: headstart.Run) -> None:
    assert tiny_run.metrics["test"]["accuracy"] >= 0.9
    history = tiny_run.metrics["training"]["history"]
    assert history[-1]["train_loss"] < history[0]["train_loss"]


def test_run_directory_holds_everything_needed(tiny_run: headstart.Run) -> None:
    path = tiny_run.path
    for name in (
        "config.yaml",
        "metrics.json",
        "labels.json",
        "README.md",
        "confusion_matrix.png",
        "calibration.json",
        "model/config.json",
        "model/model.safetensors",
        "model/tokenizer.json",
        "model/classifier.json",
    ):
        assert (path / name).is_file(), name
    assert not list(path.rglob("*.bin")), "weights must be saved as safetensors only"
    assert not list(path.parent.glob(".toy*")), "staging folders must be gone"
    metrics = json.loads((path / "metrics.json").read_text())
    for key in (
        "train_seconds",
        "train_samples_per_second",
        "batch_texts_per_second",
        "latency_ms_p50",
        "latency_ms_p95",
        "model_size_bytes",
        "parameters_trainable",
        "parameters_total",
        "peak_memory_mib",
    ):
        assert metrics["cost"][key] > 0, key
    assert set(metrics["test"]["per_class"]) == {"money", "sport", "tech"}
    assert 0 <= metrics["test"]["ece"] <= 1
    card = (path / "README.md").read_text()
    assert "macro-F1" in card and metrics["data"]["fingerprint"] in card and "Intended use" in card
    assert (path / "confusion_matrix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_saved_model_is_a_plain_hugging_face_folder(tiny_run: headstart.Run) -> None:
    model = AutoModelForSequenceClassification.from_pretrained(tiny_run.path / "model")
    assert model.config.id2label == {0: "money", 1: "sport", 2: "tech"}
    assert not any(p.name.startswith("pytorch_model") for p in (tiny_run.path / "model").iterdir())


def test_load_run_predicts_like_the_trained_run(tiny_run: headstart.Run) -> None:
    texts = [row["text"] for row in synthetic_rows(per_class=5, seed=99)]
    loaded = headstart.load_run(tiny_run.path)
    np.testing.assert_allclose(loaded.predict_proba(texts), tiny_run.predict_proba(texts), atol=1e-5)
    assert loaded.predict(["the striker scored a goal in the match"]) == ["sport"]
    probabilities = loaded.predict_proba(texts)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_evaluate_writes_metrics_and_plot(tiny_run: headstart.Run, tmp_path: Path) -> None:
    data = tmp_path / "held_out.jsonl"
    pd.DataFrame(synthetic_rows(per_class=10, seed=7)).to_json(data, orient="records", lines=True)
    metrics = tiny_run.evaluate(data, out=tmp_path / "eval")
    assert metrics["examples"] == 30 and metrics["accuracy"] >= 0.85
    assert (tmp_path / "eval" / "metrics.json").is_file() and (
        tmp_path / "eval" / "confusion_matrix.png"
    ).is_file()


def test_saved_config_reruns_to_the_same_result(tiny_run: headstart.Run, tmp_path: Path) -> None:
    config = TrainConfig.from_yaml(tiny_run.path / "config.yaml")
    assert config.max_length is not None, "the saved config holds resolved values"
    again = headstart.train(out=tmp_path / "again", config=config)
    assert again.metrics["test"]["accuracy"] == pytest.approx(tiny_run.metrics["test"]["accuracy"])
    np.testing.assert_allclose(
        again.predict_proba(["goal match"]), tiny_run.predict_proba(["goal match"]), atol=1e-5
    )


def test_features_strategy_trains_only_the_head(toy_csv: Path, tiny_options: dict, tmp_path: Path) -> None:
    run = headstart.train(toy_csv, out=tmp_path / "features", strategy="features", **tiny_options)
    cost = run.metrics["cost"]
    assert cost["parameters_trainable"] == 384 * 3 + 3  # one linear layer: hidden 384 → 3 classes
    assert cost["parameters_total"] > 20_000_000
    assert run.metrics["test"]["accuracy"] >= 0.9
    np.testing.assert_allclose(
        headstart.load_run(run.path).predict_proba(["goal"]), run.predict_proba(["goal"]), atol=1e-5
    )


def test_given_dev_and_test_files_are_used(tmp_path: Path, tiny_options: dict) -> None:
    for name, seed, per_class in (("train", 1, 30), ("dev", 2, 5), ("test", 3, 7)):
        pd.DataFrame(synthetic_rows(per_class, seed)).to_csv(tmp_path / f"{name}.csv", index=False)
    run = headstart.train(
        tmp_path / "train.csv",
        dev_data=str(tmp_path / "dev.csv"),
        test_data=str(tmp_path / "test.csv"),
        out=tmp_path / "run",
        **{**tiny_options, "epochs": 1},
    )
    assert run.metrics["data"] == {**run.metrics["data"], "train": 90, "dev": 15, "test": 21}


def test_existing_output_is_kept_unless_overwrite(
    tiny_run: headstart.Run, toy_csv: Path, tiny_options: dict
) -> None:
    with pytest.raises(headstart.RunError, match="already exists"):
        headstart.train(toy_csv, out=tiny_run.path, **tiny_options)


def test_run_record_is_versioned_and_older_runs_still_load(tiny_run: headstart.Run, tmp_path: Path) -> None:
    import shutil

    from headstart.record import SCHEMA_VERSION

    saved = json.loads((tiny_run.path / "metrics.json").read_text())
    assert saved["schema_version"] == SCHEMA_VERSION == 2
    old = tmp_path / "old-run"
    shutil.copytree(tiny_run.path, old)
    del saved["schema_version"]  # what headstart 0.1.0 wrote
    (old / "metrics.json").write_text(json.dumps(saved))
    loaded = headstart.load_run(old)
    assert loaded.metrics["schema_version"] == SCHEMA_VERSION
    assert loaded.metrics["test"] == tiny_run.metrics["test"]
    assert loaded.predict(["the striker scored a goal in the match"]) == ["sport"]
    (old / "metrics.json").write_text(json.dumps({**saved, "schema_version": SCHEMA_VERSION + 1}))
    with pytest.raises(headstart.RunError, match="newer than this headstart reads"):
        headstart.load_run(old)


def test_peak_memory_is_the_runs_own_not_the_processes(
    toy_csv: Path, tiny_model: str, tmp_path: Path
) -> None:
    """compare, tune and learning curves train many runs in one process: each records its own peak."""
    import numpy as np

    from headstart.evaluation.cost import peak_memory_mib

    spike = np.ones(2**28)  # 2 GiB touched, then freed: the process's peak is now above it
    del spike
    assert peak_memory_mib() > 2048
    run = headstart.train(toy_csv, out=tmp_path / "run", model=tiny_model, strategy="features", max_length=32)
    assert run.metrics["cost"]["peak_memory_mib"] < 2048
