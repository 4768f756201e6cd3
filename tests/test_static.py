"""The static tier: a model2vec model distilled once from the encoder and cached, a linear head on
mean token vectors, and every run verb (save, load, quantize, export) working on it. The tiny
random BERT of conftest stands in for a zoo encoder: what is checked is the mechanics, not
accuracy (benchmarks/time_to_quality.py measures that on BBC News)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from tests.conftest import synthetic_rows

import headstart
from headstart.cli import main
from headstart.models.layers import StaticEncoder
from headstart.strategies import static

FAST = {"max_length": 32, "patience": 0, "checkpoint_every": 0, "seed": 5}


@pytest.fixture
def distillations(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The dimensions asked of each model2vec distillation that actually ran."""
    calls: list[int] = []
    original = static.distil

    def counted(model_path: Path, tokenizer: object, dims: int, device: str):  # type: ignore[no-untyped-def]
        calls.append(dims)
        return original(model_path, tokenizer, dims, device)

    monkeypatch.setattr(static, "distil", counted)
    return calls


def test_static_model_is_distilled_once_per_encoder_and_size(
    toy_csv: Path, tiny_model: str, tmp_path: Path, distillations: list[int]
) -> None:
    options = {**FAST, "model": tiny_model, "strategy": "static"}
    first = headstart.train(toy_csv, out=tmp_path / "a", strategy_options={"dims": 12}, **options)
    headstart.train(toy_csv, out=tmp_path / "b", strategy_options={"dims": 12}, **options)
    headstart.train(toy_csv, out=tmp_path / "c", strategy_options={"dims": 6}, **options)
    assert distillations == [12, 6]  # the second run at 12 dimensions read the cache
    assert first.metrics["training"]["static"]["dims"] == 12
    texts = ["goal match striker", "shares bank profit"]
    reloaded = headstart.load_run(first.path)
    np.testing.assert_allclose(reloaded.predict_proba(texts), first.predict_proba(texts), atol=1e-6)
    assert not (first.path / "model" / "config.json").exists()  # no transformer encoder inside


def test_static_run_from_memory_writes_nothing_to_the_cache(
    tiny_model: str, tmp_path: Path, distillations: list[int]
) -> None:
    cache = Path(__import__("os").environ["HEADSTART_CACHE"])
    before = sorted(cache.rglob("*")) if cache.exists() else []
    frame = pd.DataFrame(synthetic_rows(per_class=12, seed=8))
    headstart.train(frame, out=tmp_path / "m", model=tiny_model, strategy="static", **FAST)
    assert distillations and (sorted(cache.rglob("*")) if cache.exists() else []) == before


def test_balanced_table_gives_the_same_logits() -> None:
    torch.manual_seed(0)
    vectors = torch.randn(50, 8) * torch.logspace(-3, 1, 8)  # dimensions of very different spread
    encoder, head = StaticEncoder(vectors.clone(), torch.ones(50)), torch.nn.Linear(8, 3)
    ids, mask = torch.randint(0, 50, (6, 9)), torch.ones(6, 9, dtype=torch.long)
    before = head(encoder(ids, mask))
    static.balance_scales(encoder, head, encoder(ids, mask).std(dim=0))
    torch.testing.assert_close(head(encoder(ids, mask)), before, atol=1e-4, rtol=1e-4)
    spread = encoder(ids, mask).std(dim=0)
    assert float(spread.max() / spread.min()) < 1.01  # every dimension now on one scale


def test_static_runs_quantize_and_export_from_the_cli(
    toy_csv: Path, tiny_model: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run = headstart.train(toy_csv, out=tmp_path / "s", model=tiny_model, strategy="static", **FAST)
    with pytest.raises(SystemExit) as done:
        main(["quantize", str(run.path), "-q"])
    assert done.value.code == 0
    quantization = json.loads((run.path / "metrics.json").read_text())["compression"]["quantization"]
    assert set(quantization["models"]) == {"fp32", "int8", "onnx-int8"}
    texts = [row["text"] for row in synthetic_rows(per_class=4, seed=9)]
    for variant in ("int8", "onnx-int8"):  # the token table stays fp32: the same outputs
        np.testing.assert_allclose(
            headstart.load_run(run.path, variant).predict_proba(texts), run.predict_proba(texts), atol=1e-4
        )
    with pytest.raises(SystemExit) as done:
        main(["export", str(run.path), "--out", str(tmp_path / "x"), "-q"])
    assert done.value.code == 0 and json.loads((tmp_path / "x" / "headstart.json").read_text())
