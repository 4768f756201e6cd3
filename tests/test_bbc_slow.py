"""Full-size accuracy on the bundled BBC News (marked slow: `make test-slow`)."""

from __future__ import annotations

from pathlib import Path

import pytest

import headstart

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]  # full fine-tuning takes ~15 min on 2 cores


def test_features_reaches_95_percent(tmp_path: Path) -> None:
    run = headstart.train(dataset="bbc-news", strategy="features", out=tmp_path / "features")
    assert run.metrics["test"]["accuracy"] >= 0.95


def test_finetune_reaches_96_percent(tmp_path: Path) -> None:
    run = headstart.train(dataset="bbc-news", strategy="finetune", out=tmp_path / "finetune")
    assert run.metrics["test"]["accuracy"] >= 0.96
