"""Interrupted runs resume; `torchrun` with 2 CPU processes trains like 1 process."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from tests.conftest import synthetic_rows

import headstart

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "headstart", *args]


def child_env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT / "src")}


def test_kill_9_then_resume_finishes_a_valid_run(tiny_model: str, toy_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    command = cli(
        "train",
        str(toy_csv),
        "--model",
        tiny_model,
        "--epochs",
        "40",
        "--batch-size",
        "4",
        "--patience",
        "0",
        "--refit",
        "no",  # one fit, interrupted and resumed (the refit is a second one)
        "--checkpoint-every",
        "3",
        "--max-length",
        "32",
        "--out",
        str(out),
        "--quiet",
    )
    latest = tmp_path / ".run.partial" / "checkpoints" / "latest.json"
    process = subprocess.Popen(command, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not latest.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.poll() is None, "training ended before it could be interrupted"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not out.exists(), "an interrupted run must leave no run directory"
    interrupted_at = json.loads(latest.read_text())["checkpoint"]

    resumed = subprocess.run(
        command + ["--resume"], env=child_env(), capture_output=True, text=True, timeout=600
    )
    assert resumed.returncode == 0, resumed.stderr
    run = headstart.load_run(out)
    history = run.metrics["training"]["history"]
    assert [h["epoch"] for h in history] == list(range(1, 41)), (
        "every epoch trained exactly once across both processes"
    )
    assert run.metrics["training"]["steps"] == 40 * math.ceil(run.metrics["data"]["train"] / 4)
    assert not (tmp_path / ".run.partial").exists()
    assert int(interrupted_at.split("-")[1]) > 0


def test_resume_refuses_changed_options(tiny_model: str, toy_csv: Path, tmp_path: Path) -> None:
    staging = tmp_path / ".run.partial"
    staging.mkdir()
    config = headstart.TrainConfig(
        data=str(toy_csv),
        model=tiny_model,
        epochs=3,
        max_length=32,
        lr=1e-4,
        task="classification",
        class_weights=False,
    )  # as train resolves them
    config.save_yaml(staging / "config.yaml")
    with pytest.raises(headstart.ConfigError, match=r"\['epochs'\] differ"):
        headstart.train(out=tmp_path / "run", config=config.replace(epochs=4), resume=True)


def test_two_processes_learn_like_one(tmp_path: Path) -> None:
    data = tmp_path / "toy.csv"
    pd.DataFrame(synthetic_rows(per_class=40, seed=5)).to_csv(data, index=False)
    options = [
        "--epochs",
        "2",
        "--batch-size",
        "8",
        "--lr",
        "1e-4",
        "--patience",
        "0",
        "--warmup-ratio",
        "0",
        "--max-length",
        "48",
        "--checkpoint-every",
        "0",
        "--quiet",
    ]
    single = subprocess.run(
        cli("train", str(data), "--out", str(tmp_path / "one"), *options),
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert single.returncode == 0, single.stderr
    torchrun = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "headstart",
        "train",
        str(data),
        "--out",
        str(tmp_path / "two"),
        *options,
    ]
    double = subprocess.run(
        torchrun, env={**child_env(), "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=900
    )
    assert double.returncode == 0, double.stderr[-3000:]

    one, two = headstart.load_run(tmp_path / "one").metrics, headstart.load_run(tmp_path / "two").metrics
    assert two["cost"]["processes"] == 2 and one["cost"]["processes"] == 1
    # Each process takes half the batches: half the optimiser steps, the same samples.
    assert two["training"]["steps"] == pytest.approx(one["training"]["steps"] / 2, abs=1)
    assert two["training"]["samples_seen"] >= one["training"]["samples_seen"]
    for metrics in (one, two):
        assert metrics["test"]["accuracy"] >= 0.9
        assert (
            metrics["training"]["history"][-1]["train_loss"] < metrics["training"]["history"][0]["train_loss"]
        )
    assert abs(one["test"]["accuracy"] - two["test"]["accuracy"]) <= 0.1
