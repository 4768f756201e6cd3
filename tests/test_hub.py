"""The Hugging Face Hub side of a run: the card's YAML metadata, a run's own `model/` folder that
never loads under a random head, `headstart push` that touches no network when offline, and a
pushed folder (written locally with --local-dir, since no Hub is reachable here) used as the
encoder of a new run."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from safetensors.torch import load_file
from tests.conftest import synthetic_rows

import headstart
from headstart.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def features_run(tmp_path_factory: pytest.TempPathFactory) -> headstart.Run:
    """What `make demo` makes (frozen MiniLM + logistic regression), on synthetic keyword texts."""
    rows = synthetic_rows(per_class=20, seed=51)
    out = tmp_path_factory.mktemp("hub") / "features"
    return headstart.train(
        texts=[r["text"] for r in rows],
        labels=[r["label"] for r in rows],
        out=out,
        strategy="features",
        max_length=48,
    )


def test_a_frozen_encoder_runs_model_folder_is_refused_not_given_a_random_head(
    features_run: headstart.Run,
) -> None:
    from transformers import AutoModelForSequenceClassification, pipeline

    for load in (
        AutoModelForSequenceClassification.from_pretrained,
        lambda p: pipeline("text-classification", model=p),
    ):
        with pytest.raises((OSError, ValueError), match="config.json"):  # an error, never a random head
            load(str(features_run.path / "model"))
    card = (features_run.path / "README.md").read_text()
    assert "headstart export RUN --format transformers|sentence-transformers|onnx" in card


def test_the_card_carries_hub_metadata_that_huggingface_hub_parses(features_run: headstart.Run) -> None:
    from huggingface_hub import ModelCard

    card = ModelCard.load(features_run.path / "README.md")
    data = card.data.to_dict()
    assert data["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert data["library_name"] == "headstart" and data["pipeline_tag"] == "text-classification"
    assert data["language"] == ["en"] and data["license"] == "unknown"
    assert {"headstart", "features", "classification"} <= set(data["tags"])
    results = {result.metric_name: result.metric_value for result in card.data.eval_results}
    test = features_run.metrics["test"]
    assert results["accuracy"] == round(test["accuracy"], 4) and results["macro-F1"] == round(
        test["macro_f1"], 4
    )
    assert {result.dataset_split for result in card.data.eval_results} == {"test"}
    exported = ModelCard.load(features_run.export(features_run.path.parent / "st") / "README.md")
    assert exported.data.to_dict()["library_name"] == "sentence-transformers"


def test_provenance_names_versions_devices_and_every_split(features_run: headstart.Run) -> None:
    provenance = features_run.metrics["provenance"]
    assert provenance["headstart"] == headstart.__version__
    assert provenance["libraries"]["torch"].startswith("2.13") and "transformers" in provenance["libraries"]
    assert provenance["device"]["device"] == "cpu" and provenance["device"]["threads"] >= 1
    assert len(provenance["commit"] or "") in (0, 40)  # a checkout's commit, or none for a wheel
    assert set(features_run.metrics["data"]["fingerprints"]) == {"train", "dev", "test"}
    assert features_run.metrics["cost"]["device"]["cpu"]
    assert "## Provenance" in (features_run.path / "README.md").read_text()


def _push(*argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(ROOT / "src"), **env}
    return subprocess.run(
        [sys.executable, "-m", "headstart", "push", *argv],
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_push_offline_fails_at_once_and_sends_nothing(features_run: headstart.Run) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.2)
    connections: list[object] = []
    stop = threading.Event()

    def watch() -> None:  # a stand-in Hub endpoint that only counts who knocks
        while not stop.is_set():
            try:
                connections.append(listener.accept())
            except TimeoutError:
                continue

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        endpoint = f"http://127.0.0.1:{listener.getsockname()[1]}"
        done = _push(
            str(features_run.path), "me/news", HF_HUB_OFFLINE="1", HF_ENDPOINT=endpoint, HF_TOKEN="hf_x"
        )
    finally:
        stop.set()
        watcher.join()
        listener.close()
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and "HF_HUB_OFFLINE is set" in lines[0], done.stderr
    assert connections == []


def test_push_to_an_unreachable_hub_is_one_line(features_run: headstart.Run) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    done = _push(
        str(features_run.path),
        "me/news",
        HF_HUB_OFFLINE="0",
        HF_ENDPOINT=f"http://127.0.0.1:{port}",
        HF_TOKEN="hf_x",
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and "Could not reach the Hub" in lines[0], done.stderr
    done = _push(str(features_run.path), "not a repo id!")
    assert done.returncode == 2 and "is not a Hub repository id" in done.stderr


def test_a_pushed_folder_is_the_encoder_of_a_new_run(
    tiny_run: headstart.Run, tmp_path: Path, toy_csv: Path
) -> None:
    with pytest.raises(SystemExit) as stop:
        main(
            [
                "push",
                str(tiny_run.path),
                "me/toy",
                "--format",
                "transformers",
                "--local-dir",
                str(tmp_path / "repo"),
                "-q",
            ]
        )
    assert stop.value.code == 0
    assert (tmp_path / "repo" / "README.md").read_text().startswith("---\nlicense: unknown")
    again = headstart.train(
        toy_csv, out=tmp_path / "again", model=str(tmp_path / "repo"), strategy="features", max_length=48
    )
    pushed = load_file(str(tmp_path / "repo" / "model.safetensors"))
    encoder = load_file(str(again.path / "model" / "encoder" / "model.safetensors"))
    assert all((encoder[name] == pushed[f"bert.{name}"]).all() for name in encoder)
    assert (
        again.metrics["test"]["accuracy"] >= 0.9
    )  # the fine-tuned encoder's features separate the toy classes
