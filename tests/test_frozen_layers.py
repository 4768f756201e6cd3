"""--freeze-layers K (`training/frozen_layers.py`): the bottom K layers' outputs are computed once
and reused. A step with the cache gives the outputs and gradients of the whole model with those
layers frozen; the frozen weights stay as they were; the saved model is whole."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import headstart
from headstart.encoding import encode, make_loader
from headstart.errors import ConfigError
from headstart.models.classifiers import SequenceClassifier
from headstart.models.zoo import load_tokenizer
from headstart.tasks import Classification
from headstart.training.frozen_layers import cached_bottom_layers, freeze_bottom_layers

TEXTS = ["the striker scored late", "shares fell after the warning", "a vote on the budget", "goal"]


def _classifier(model: str) -> SequenceClassifier:
    torch.manual_seed(0)
    return SequenceClassifier.from_encoder(Path(model), Classification(["a", "b"]))


def _step(classifier: SequenceClassifier, batch: dict) -> float:
    logits = classifier(batch["input_ids"], batch["attention_mask"])
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 0, 1])[: len(logits)])
    loss.backward()
    return loss.item()


def _gradients(classifier: SequenceClassifier) -> dict[str, torch.Tensor]:
    return {name: p.grad for name, p in classifier.named_parameters() if p.grad is not None}


def _tiny(kind: str, bert: str, folder: Path) -> str:
    """A 2-layer random encoder of another family, with the BERT tokenizer (MPNet's layers return
    tuples, BERT's and DistilBERT's tensors)."""
    if kind == "bert":
        return bert
    from transformers import AutoModel, DistilBertConfig, MPNetConfig

    small = {"vocab_size": 30522, "max_position_embeddings": 128}
    config = (
        DistilBertConfig(dim=32, n_layers=2, n_heads=2, hidden_dim=64, **small)
        if kind == "distilbert"
        else MPNetConfig(
            hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, **small
        )
    )
    torch.manual_seed(0)
    AutoModel.from_config(config).save_pretrained(folder)
    load_tokenizer(Path(bert)).save_pretrained(folder)
    return str(folder)


@pytest.mark.parametrize("kind", ["bert", "distilbert", "mpnet"])
def test_a_step_from_the_cache_is_the_whole_models_step(kind: str, tiny_model: str, tmp_path: Path) -> None:
    model = _tiny(kind, tiny_model, tmp_path)
    tokenizer = load_tokenizer(Path(model))
    encoded = encode(tokenizer, TEXTS, 32)
    batch = next(iter(make_loader(encoded, 4, tokenizer.pad_token_id)))
    whole, cached = _classifier(model).eval(), _classifier(model).eval()  # eval: no dropout
    for model in (whole, cached):
        freeze_bottom_layers(model, 1)
    expected = _step(whole, batch)
    with cached_bottom_layers(cached, 1, [encoded], tokenizer.pad_token_id, 2) as facts:
        loss = _step(cached, batch)
    assert facts["cached_texts"] == len(TEXTS)
    assert loss == pytest.approx(expected, abs=1e-6)
    grads, expected_grads = _gradients(cached), _gradients(whole)
    assert grads.keys() == expected_grads.keys()
    assert grads and not any("layer.0." in name or "embeddings" in name for name in grads)
    for name, grad in grads.items():
        torch.testing.assert_close(grad, expected_grads[name], atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("strategy", ["finetune", "lora"])
def test_training_leaves_the_frozen_layers_and_saves_a_whole_model(
    strategy: str, toy_csv: Path, tiny_options: dict, tiny_model: str, tmp_path: Path
) -> None:
    options = {**tiny_options, "model": tiny_model, "freeze_layers": 1}
    run = headstart.train(toy_csv, out=tmp_path / "run", strategy=strategy, **options)
    assert run.metrics["training"]["cached_layers"]["frozen_layers"] == 1
    before = load_file(Path(tiny_model) / "model.safetensors")
    after = load_file(run.path / "model" / "model.safetensors")
    frozen = [name for name in before if name.startswith(("embeddings.", "encoder.layer.0."))]
    assert len(frozen) == 5 + 16  # token, position, segment embeddings and LayerNorm; one layer
    for name in frozen:
        assert torch.equal(before[name], after[f"bert.{name}"]), name
    query = "encoder.layer.1.attention.self.query.weight"
    assert not torch.equal(before[query], after[f"bert.{query}"])
    texts = ["the striker scored a goal in the match", "shares fell"]
    reloaded = headstart.load_run(run.path).predict_proba(texts, show_progress=False)
    assert reloaded == pytest.approx(run.predict_proba(texts, show_progress=False))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"strategy": "finetune", "freeze_layers": 6}, "the encoder has 6 layers; use at most 5"),
        ({"strategy": "features", "freeze_layers": 2}, "'features' trains none"),
    ],
)
def test_freezing_what_cannot_be_frozen_says_what_to_do(
    options: dict, message: str, toy_csv: Path, tiny_options: dict, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=message):
        headstart.train(toy_csv, out=tmp_path / "run", **{**tiny_options, **options})
    assert not (tmp_path / "run").exists()
