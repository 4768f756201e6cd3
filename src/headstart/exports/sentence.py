"""A frozen-encoder run as a sentence-transformers folder (the encoder and the pooling headstart
used) plus its head in `head.safetensors`, so `SentenceTransformer(folder).encode(texts)` gives the
embeddings the head was fitted on.

- `features`, `setfit`: mean pooling; head: `logits = embeddings @ weight.T + bias`.
- `zero-shot`: mean pooling, then unit length (a `Normalize` module); head: the label
  embeddings times the scale, so the same formula gives its logits.
- `features-mix`: a `WeightedLayerPooling` module with the learned layer weights, then mean
  pooling; head: `logits = linear(layer_norm(gamma · embeddings))`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from headstart.errors import ConfigError
from headstart.exports.common import ExportSource
from headstart.extras import optional
from headstart.models.classifiers import CosineClassifier, EmbeddingClassifier, LayerMixClassifier
from headstart.models.zoo import hf_files_dir
from headstart.record import MODEL_DIR
from headstart.tasks import MultiLabel, Regression, Task

HEAD_FILE, HEAD_FACTS = "head.safetensors", "head.json"


def write_sentence_transformers(source: ExportSource, folder: Path) -> None:
    """The sentence-transformers folder and the head beside it."""
    classifier = None if source.members else source.model.classifier
    kinds = (EmbeddingClassifier, CosineClassifier, LayerMixClassifier)
    if not isinstance(classifier, kinds) or source.predictor.task.token_level:
        what = "An ensemble" if source.members else f"A '{source.config.strategy}' run"
        raise ConfigError(
            f"{what} is not a frozen encoder with a head on its text embeddings; export it with "
            "--format transformers or onnx instead."
        )
    if source.config.text_pair_col is not None:
        raise ConfigError(
            "sentence-transformers embeds one text at a time, but this run reads sentence pairs "
            "encoded together; export it with --format onnx instead."
        )
    with optional("The sentence-transformers export"):
        from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(modules=_modules(source, classifier), device="cpu")
    model.save(str(folder))
    task = source.predictor.task
    weights, facts = _head(classifier, task)
    if isinstance(task, Regression):  # value = logit × scale + mean, folded in: the logit is the value
        weights["weight"], weights["bias"] = (
            weights["weight"] * task.scale,
            weights["bias"] * task.scale + task.mean,
        )
    save_file(
        {name: tensor.detach().contiguous().float() for name, tensor in weights.items()},
        str(folder / HEAD_FILE),
    )
    (folder / HEAD_FACTS).write_text(json.dumps(facts, indent=2, ensure_ascii=False), encoding="utf-8")


def _modules(source: ExportSource, classifier: Any) -> list[Any]:
    from sentence_transformers.sentence_transformer.modules import (
        Normalize,
        Pooling,
        Transformer,
        WeightedLayerPooling,
    )

    path = hf_files_dir(source.path / MODEL_DIR)
    mixed = isinstance(classifier, LayerMixClassifier)
    encoder = Transformer(
        str(path),
        max_seq_length=source.config.max_length,
        config_kwargs={"output_hidden_states": True} if mixed else {},
    )
    pooler = getattr(encoder.model, "pooler", None)
    if pooler is not None:  # the run saved none (mean pooling replaces it): zeros, so loads miss nothing
        for parameter in pooler.parameters():
            torch.nn.init.zeros_(parameter)
    dim = encoder.get_embedding_dimension()
    modules: list[Any] = [encoder]
    if mixed:
        weights = torch.nn.Parameter(classifier.head.mix_weights().detach().clone())
        modules.append(
            WeightedLayerPooling(
                dim, num_hidden_layers=len(weights) - 1, layer_start=0, layer_weights=weights
            )
        )
    modules.append(Pooling(dim, pooling_mode="mean"))
    if isinstance(classifier, CosineClassifier):
        modules.append(Normalize())
    return modules


def _head(classifier: Any, task: Task) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The head's weights and what they mean: the formula, the labels, the output function."""
    function = "softmax"
    if isinstance(task, MultiLabel | Regression):
        function = "sigmoid" if isinstance(task, MultiLabel) else "identity"
    facts: dict[str, Any] = {"labels": task.classes, "output_function": function}
    linear = "logits = embeddings @ weight.T + bias"
    head: Any = classifier.head  # typed nn.Module by the classifier; its fields depend on the kind
    if isinstance(classifier, CosineClassifier):
        weight = head.scale * head.label_embeddings
        return {"weight": weight, "bias": torch.zeros(len(weight))}, {**facts, "form": linear}
    if isinstance(classifier, LayerMixClassifier):
        weights = {
            "gamma": head.gamma.reshape(1),
            "norm_weight": head.norm.weight,
            "norm_bias": head.norm.bias,
            "weight": head.linear.weight,
            "bias": head.linear.bias,
        }
        form = "logits = layer_norm(gamma * embeddings, norm_weight, norm_bias, eps) @ weight.T + bias"
        return weights, {**facts, "form": form, "eps": head.norm.eps}
    return {"weight": head.weight, "bias": head.bias}, {**facts, "form": linear}
