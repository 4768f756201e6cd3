"""A run as a transformers folder: `*ForSequenceClassification` / `*ForTokenClassification` with
the run's label names, which `AutoModelFor...` and `pipeline(...)` load as they are.

What makes the folder compute exactly what headstart does:
- head-pruned layers get their full head count back with zero weights (transformers 5 has no
  pruned-head config);
- a regression run's target scale is folded into the last layer, so the logit is the value;
- every token-type embedding equals segment 0's (headstart feeds none; pipelines feed pairs' ones);
- a frozen-encoder NER run (a linear layer on each token's state) is exactly `*ForTokenClassification`.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import AutoConfig, AutoModelForTokenClassification

from headstart.errors import ConfigError
from headstart.exports.common import ExportSource, label_fields, write_tokenizer
from headstart.models.classifiers import (
    TokenEmbeddingClassifier,
    TransformersClassifier,
    same_segment_embeddings,
)
from headstart.models.surgery import restore_heads
from headstart.models.zoo import hf_files_dir
from headstart.record import MODEL_DIR
from headstart.tasks import Regression


def transformers_model(source: ExportSource) -> Any:
    """The run's classifier as a transformers `*For*Classification` model (a copy)."""
    if not source.members:
        classifier = source.model.classifier
        if isinstance(classifier, TransformersClassifier):
            model = copy.deepcopy(classifier.model)
            if classifier.attention_heads:
                restore_heads(model)
            return model
        if isinstance(classifier, TokenEmbeddingClassifier):
            return _token_model(source, classifier)
    kind = "an ensemble" if source.members else f"a '{source.config.strategy}' run"
    raise ConfigError(
        f"{kind.capitalize()} has no transformers class that computes it (transformers heads read the "
        "first token, not the mean of every token's state); export it with --format "
        f"{'onnx' if source.members else 'sentence-transformers or onnx'} instead."
    )


def _token_model(source: ExportSource, classifier: TokenEmbeddingClassifier) -> Any:
    """A frozen encoder with a linear layer on each token's last state is *ForTokenClassification."""
    path = hf_files_dir(source.path / MODEL_DIR)
    config = AutoConfig.from_pretrained(path, trust_remote_code=False, **label_fields(source))
    model = AutoModelForTokenClassification.from_config(config)
    missing = model.base_model.load_state_dict(classifier.encoder.state_dict(), strict=False).missing_keys
    if missing or not isinstance(getattr(model, "classifier", None), nn.Linear):
        raise ConfigError(
            f"This {config.model_type} encoder does not map onto transformers' token classifier; "
            "export it with --format onnx instead."
        )
    model.classifier.load_state_dict(classifier.head.state_dict())
    return model.eval()


def write_transformers(source: ExportSource, folder: Path) -> None:
    """The transformers folder: weights (safetensors), config with id2label, tokenizer."""
    model = transformers_model(source)
    task = source.model.task
    model.config.update(label_fields(source))
    if isinstance(task, Regression):
        _fold_scale(model, task)
    same_segment_embeddings(model)
    model.save_pretrained(folder)
    write_tokenizer(source.model.tokenizer, folder, source.model.window)


def _fold_scale(model: Any, task: Regression) -> None:
    """value = logit × scale + mean, folded into the layer that makes the logit."""
    last = [
        module for module in model.modules() if isinstance(module, nn.Linear) and module.out_features == 1
    ]
    if not last:
        raise ConfigError(
            "Cannot find the regression head's output layer; export with --format onnx instead."
        )
    with torch.no_grad():
        last[-1].weight.mul_(task.scale)
        last[-1].bias.mul_(task.scale).add_(task.mean)
