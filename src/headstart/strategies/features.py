"""Frozen encoder: embeddings computed once (and cached on disk), a logistic-regression head on top."""

from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from torch import nn

from headstart.config import option
from headstart.models.classifiers import EmbeddingClassifier, embed, embed_layers, load_encoder
from headstart.strategies.base import Strategy, StrategyConfig, TrainingJob, register_strategy
from headstart.training.batching import Encoded, forward_in_batches
from headstart.training.loop import text_scores


@dataclass
class FeaturesConfig(StrategyConfig):
    c_values: list = option([0.01, 0.1, 1.0, 10.0], "Inverse L2 strengths tried for the head; the best on dev macro-F1 is kept.")
    max_iter: int = option(3000, "Iteration limit of the logistic-regression solver.")


def cache_dir() -> Path:
    return Path(os.environ.get("HEADSTART_CACHE", Path.home() / ".cache" / "headstart")) / "features"


def model_fingerprint(path: Path) -> str:
    parts = [str(path.resolve())]
    for weights in sorted(path.glob("*.safetensors")):
        stat = weights.stat()
        parts.append(f"{weights.name}:{stat.st_size}:{stat.st_mtime_ns}")
    return "|".join(parts)


def data_fingerprint(encoded: Encoded) -> str:
    digest = hashlib.sha256()
    for ids in encoded.input_ids:
        digest.update(np.asarray(ids, dtype=np.int32).tobytes() + b"\xff\xff\xff\xff")
    return digest.hexdigest()


def cached_embeddings(encoder: nn.Module, encoded: Encoded, model_key: str, pad_id: int, batch_size: int, name: str,
                      layers: bool = False) -> torch.Tensor:
    """Mean-pooled embeddings of the last layer (or of every layer: (texts, layers + 1, dim)), cached
    on disk and keyed by the model files and the token ids (which fix text, tokenizer and length)."""
    kind = "layers" if layers else "mean"
    key = hashlib.sha256(f"{model_key}|{kind}|{data_fingerprint(encoded)}".encode()).hexdigest()[:32]
    path = cache_dir() / f"{key}.safetensors"
    if path.is_file():
        return load_file(str(path))["embeddings"]
    embeddings = forward_in_batches(functools.partial(embed_layers if layers else embed, encoder), encoded, batch_size, pad_id, description=f"Embedding {name}")
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    save_file({"embeddings": embeddings.contiguous()}, str(temporary))
    os.replace(temporary, path)
    return embeddings


def frozen_embeddings(job: TrainingJob, layers: bool = False) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """The frozen encoder and its cached train and dev embeddings (of every layer with `layers`)."""
    config = job.config
    encoder = load_encoder(job.model_path, config.allow_pickle).eval()
    encoder.requires_grad_(False)
    key, pad_id = model_fingerprint(job.model_path), job.tokenizer.pad_token_id
    train_x = cached_embeddings(encoder, job.train, key, pad_id, config.eval_batch_size, "train", layers)
    dev_x = cached_embeddings(encoder, job.dev, key, pad_id, config.eval_batch_size, "dev", layers)
    return encoder, train_x, dev_x


def linear_head(scaler: StandardScaler, model: LogisticRegression, num_classes: int) -> nn.Linear:
    """Fold standardisation into the logistic-regression weights: one nn.Linear giving the same logits."""
    coef, intercept = model.coef_, model.intercept_
    if num_classes == 2 and coef.shape[0] == 1:  # sklearn keeps one row for binary problems
        coef, intercept = np.vstack([np.zeros_like(coef), coef]), np.concatenate([[0.0], intercept])
    weight = coef / scaler.scale_
    bias = intercept - weight @ scaler.mean_
    head = nn.Linear(weight.shape[1], weight.shape[0])
    with torch.no_grad():
        head.weight.copy_(torch.from_numpy(weight).float())
        head.bias.copy_(torch.from_numpy(bias).float())
    return head


@register_strategy
class Features(Strategy):
    name = "features"
    summary = "Frozen encoder: mean-pooled embeddings computed once and cached, a logistic-regression head on them."
    config_class = FeaturesConfig

    def fit(self, job: TrainingJob) -> EmbeddingClassifier:
        config = job.config
        encoder, train_x, dev_x = frozen_embeddings(job)
        scaler = StandardScaler().fit(train_x.numpy())
        train_z = scaler.transform(train_x.numpy())
        history, best, best_score = [], None, -1.0
        for c in self.config.c_values:
            model = LogisticRegression(C=c, max_iter=self.config.max_iter, class_weight="balanced" if config.class_weights else None,
                                       random_state=config.seed).fit(train_z, job.train.label_ids)
            head = linear_head(scaler, model, len(job.labels))  # the very logits the saved classifier gives
            with torch.no_grad():
                score = text_scores(head(dev_x), job.dev, config.pool)["macro_f1"]
            history.append({"C": c, "dev_macro_f1": score})
            if score > best_score:
                best, best_score = head, score
        job.summary.update(history=history, best_dev_macro_f1=best_score, samples_seen=len(job.train))
        return EmbeddingClassifier(encoder, best)
