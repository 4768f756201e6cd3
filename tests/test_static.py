"""The static tier: a model2vec model distilled once from the encoder and cached, a linear head on
mean token vectors (or model2vec's trained classifier), and every run verb (save, load, quantize,
export) working on it. The tiny random BERT of conftest stands in for a zoo encoder: what is
checked is the mechanics, not accuracy (benchmarks/time_to_quality.py measures that)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file
from tests.conftest import synthetic_rows

import headstart
from headstart.cli import main
from headstart.errors import ConfigError
from headstart.models.classifiers import TrainedStaticClassifier
from headstart.models.layers import StaticEncoder, static_mlp_head
from headstart.strategies import make_strategy, static

FAST = {"max_length": 32, "patience": 0, "checkpoint_every": 0, "seed": 5}
LOGISTIC = {"head": "logistic"}


@pytest.fixture
def distillations(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The dimensions asked of each model2vec distillation that actually ran."""
    calls: list[int] = []
    original = static.distil

    def counted(model_path: Path, tokenizer: object, dims: int, device: str):  # type: ignore[no-untyped-def]
        calls.append(dims)
        torch.rand(1)  # as MiniLM's distillation draws (transformers initialises what its checkpoint lacks)
        return original(model_path, tokenizer, dims, device)

    monkeypatch.setattr(static, "distil", counted)
    return calls


def test_static_model_is_distilled_once_per_encoder_and_size(
    toy_csv: Path, tiny_model: str, tmp_path: Path, distillations: list[int]
) -> None:
    options = {**FAST, "model": tiny_model, "strategy": "static", "refit": "no"}  # the first fit is the model
    first = headstart.train(toy_csv, out=tmp_path / "a", strategy_options={"dims": 12}, **options)
    second = headstart.train(toy_csv, out=tmp_path / "b", strategy_options={"dims": 12}, **options)
    headstart.train(toy_csv, out=tmp_path / "c", strategy_options={"dims": 6}, **options)
    assert distillations == [12, 6]  # the second run at 12 dimensions read the cache
    assert first.metrics["training"]["static"]["dims"] == 12
    texts = ["goal match striker", "shares bank profit"]
    reloaded = headstart.load_run(first.path)
    np.testing.assert_allclose(reloaded.predict_proba(texts), first.predict_proba(texts), atol=1e-6)
    # the same model whether the run distilled its static model or read it from the cache
    np.testing.assert_allclose(second.predict_proba(texts), first.predict_proba(texts), atol=1e-6)
    assert not (first.path / "model" / "config.json").exists()  # no transformer encoder inside


def test_static_run_from_memory_writes_nothing_to_the_cache(
    tiny_model: str, tmp_path: Path, distillations: list[int]
) -> None:
    cache = Path(os.environ["HEADSTART_CACHE"])
    before = sorted(cache.rglob("*")) if cache.exists() else []
    frame = pd.DataFrame(synthetic_rows(per_class=12, seed=8))
    headstart.train(frame, out=tmp_path / "m", model=tiny_model, strategy="static", **FAST)
    assert distillations and (sorted(cache.rglob("*")) if cache.exists() else []) == before


def test_static_reads_past_the_encoders_positions(tiny_model: str, tmp_path: Path) -> None:
    """A static model has no positions: long texts are cut at model2vec's 512 tokens, not at the
    encoder's 128 positions, which still bind `features` (it runs the encoder)."""
    rows = synthetic_rows(per_class=8, seed=3)
    frame = pd.DataFrame([{**row, "text": " ".join([row["text"]] * 40)} for row in rows])  # 240+ words
    options = {**FAST, "max_length": None, "model": tiny_model, "refit": "no"}
    run = headstart.train(frame, out=tmp_path / "s", strategy="static", strategy_options=LOGISTIC, **options)
    features = headstart.train(frame, out=tmp_path / "f", strategy="features", **options)
    assert (run.config.max_length, features.config.max_length) == (512, 128)
    assert len(run.predict(frame.text.tolist()[:3])) == 3


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


def test_logistic_static_runs_quantize_and_export_from_the_cli(
    toy_csv: Path, tiny_model: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run = headstart.train(
        toy_csv, out=tmp_path / "s", model=tiny_model, strategy="static", strategy_options=LOGISTIC, **FAST
    )
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


def test_trained_head_computes_what_model2vec_classifier_computes(tiny_model: str) -> None:
    """The same vectors, token weights and head in model2vec's StaticModelForClassification and in
    headstart's classifier give the same logits: model2vec tokenises without special tokens and
    drops unknown ones, headstart gives those tokens weight 0 (as its distillation does)."""
    from model2vec.train import StaticModelForClassification
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    torch.manual_seed(1)
    vectors, weights = torch.randn(tokenizer.vocab_size, 8), torch.rand(tokenizer.vocab_size) + 0.1
    weights[tokenizer.all_special_ids] = 0.0
    theirs = StaticModelForClassification(
        vectors=vectors, tokenizer=tokenizer.backend_tokenizer, weights=weights, out_dim=3, hidden_dim=16
    )
    head = static_mlp_head(8, 16, 3)
    head.load_state_dict(theirs.head.state_dict())
    ours = TrainedStaticClassifier(StaticEncoder(vectors, weights), head)
    texts = ["the striker scored twice", "shares of the bank fell", "a quiet zebrafish xylophone"]
    encoded = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        torch.testing.assert_close(
            ours(encoded["input_ids"], encoded["attention_mask"]), theirs._encode_single_batch(texts)
        )


def test_trained_static_run_trains_refits_reloads_quantizes_and_exports_from_the_cli(
    toy_csv: Path, tiny_model: str, tmp_path: Path
) -> None:
    out = tmp_path / "t"
    flags = ["--model", tiny_model, "--max-length", "32", "--checkpoint-every", "0", "--seed", "5", "-q"]
    with pytest.raises(SystemExit) as done:
        main(["train", str(toy_csv), "--strategy", "static", "--out", str(out), *flags])  # the default head
    assert done.value.code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    training = metrics["training"]
    assert training["static"]["head"] == "trained" and training["history"][0]["epoch"] == 1
    assert set(training["refit"]["chosen_on_dev"]) == {"epochs"}  # the epochs chosen on dev, replayed
    assert json.loads((out / "model" / "classifier.json").read_text())["kind"] == "static-mlp"
    cache = Path(os.environ["HEADSTART_CACHE"]) / "static"
    trained = load_file(str(out / "model" / "static.safetensors"))["vectors"]
    distilled = [load_file(str(path))["vectors"] for path in cache.glob("*.safetensors")]
    same_size = [vectors for vectors in distilled if vectors.shape == trained.shape]
    assert same_size and not any(torch.equal(vectors, trained) for vectors in same_size)  # they learned
    moved = int((trained != same_size[0]).any(dim=1).sum())
    assert 0 < moved <= training["embedding_rows_trained"] < len(trained)  # the training texts' tokens only
    run, texts = headstart.load_run(out), [row["text"] for row in synthetic_rows(per_class=4, seed=9)]
    assert run.config.lr == static.TRAINED_HEAD_LR
    with pytest.raises(SystemExit) as done:
        main(["quantize", str(out), "-q"])
    assert done.value.code == 0
    for variant in ("int8", "onnx-int8"):  # int8 heads: close, not equal
        np.testing.assert_allclose(
            headstart.load_run(out, variant).predict_proba(texts), run.predict_proba(texts), atol=0.05
        )
    with pytest.raises(SystemExit) as done:
        main(["export", str(out), "--out", str(tmp_path / "x"), "-q"])
    assert done.value.code == 0 and json.loads((tmp_path / "x" / "headstart.json").read_text())
    with pytest.raises(ConfigError, match="head one of"):
        make_strategy("static", {"head": "mlp"})
