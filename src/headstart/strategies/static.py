"""Static embeddings: a model2vec model distilled offline from the encoder (its vocabulary passed
through the encoder once, PCA, Zipf weighting), then model2vec's classifier trained on it (or the
`features` head on the texts' mean token vectors). The fastest tier: it embeds tens of thousands of
texts a second on a CPU."""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from typing_extensions import override

from headstart.config import option
from headstart.encoding import forward_in_batches
from headstart.extras import optional
from headstart.models.classifiers import StaticClassifier, TrainedStaticClassifier
from headstart.models.layers import StaticEncoder, static_mlp_head
from headstart.progress import info
from headstart.strategies.base import EncoderTuning, register_strategy
from headstart.strategies.features import Features, FeaturesConfig, model_fingerprint
from headstart.training.job import Fitted, TrainingJob
from headstart.training.loop import train_classifier

HEADS = ("logistic", "trained")
HIDDEN = 512  # model2vec's hidden layer
TRAINED_HEAD_LR = 3e-3  # model2vec fits at 1e-3 until dev stalls; in 4 epochs 3e-3 scored higher (3 seeds)


@dataclass
class StaticConfig(FeaturesConfig):
    """Options of the static model and its head."""

    dims: int = option(256, "Dimensions the distilled token vectors keep (PCA); at most the encoder's width.")
    head: str = option(
        "trained",
        "trained: model2vec's classifier, the vectors, their weights and a hidden layer trained "
        "together by the shared loop (epochs chosen on dev); logistic: a logistic-regression head "
        "on the frozen vectors (C chosen on dev), faster to train, less accurate.",
    )
    hidden: int = option(HIDDEN, "Hidden units of the trained head.")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.dims < 2 or self.hidden < 1 or self.head not in HEADS:
            raise ValueError(
                f"dims must be at least 2, hidden at least 1 and head one of {HEADS}; got "
                f"{self.dims}, {self.hidden} and {self.head!r}"
            )
        # Options of the other head would be ignored without a word: refuse them instead.
        defaults = {**asdict(FeaturesConfig()), "hidden": HIDDEN}
        other_heads = {"trained": ("c_values", "max_iter"), "logistic": ("hidden",)}[self.head]
        if changed := [name for name in other_heads if getattr(self, name) != defaults[name]]:
            other = next(head for head in HEADS if head != self.head)
            verb, pronoun = ("apply", "them") if len(changed) > 1 else ("applies", "it")
            raise ValueError(
                f"{' and '.join(changed)} {verb} to head={other} only, not to head={self.head}; "
                f"drop {pronoun} or add head={other}"
            )


@register_strategy
class Static(Features):
    """A model2vec static model distilled from the encoder, and model2vec's classifier (or the
    features head) on it."""

    name = "static"
    summary = (
        "Static embeddings: a model2vec model distilled once from the encoder (cached), then "
        "model2vec's classifier trained on it (or a logistic head); the fastest to train and to run."
    )
    config_class = StaticConfig
    config: StaticConfig
    tasks = frozenset({"classification", "multi-label", "regression"})
    # A static model has no positions, so the encoder's limit does not bind; model2vec reads 512 tokens.
    # On 400 BBC News articles (3 seeds) 512 scored 1.7 accuracy points above the sentence encoder's
    # 256, and 2,048 no higher than 512.
    max_tokens = 512

    def __init__(self, config: StaticConfig | None = None) -> None:
        super().__init__(config)
        # Only the trained head takes gradient steps.
        self.default_lr = TRAINED_HEAD_LR if self.config.head == "trained" else None

    @override
    def fit(self, job: TrainingJob) -> Fitted:
        started = time.perf_counter()
        trained = self.config.head == "trained"
        encoder = static_encoder(job, self.config.dims, trainable=trained)
        static_seconds = time.perf_counter() - started  # distillation, or reading the cached model
        fitted = self.fit_trained(job, encoder) if trained else self.fit_logistic(job, encoder)
        fitted.report.details["static"] = {
            "dims": int(encoder.vectors.weight.shape[1]),
            "head": self.config.head,
            "static_model_seconds": round(static_seconds, 2),
        }
        return fitted

    def fit_trained(self, job: TrainingJob, encoder: StaticEncoder) -> Fitted:
        """model2vec's classifier through the shared loop: epochs chosen on dev, so a refit replays them."""
        head = static_mlp_head(encoder.vectors.weight.shape[1], self.config.hidden, job.task.outputs)
        return train_classifier(TrainedStaticClassifier(encoder, head), EncoderTuning(), job)

    def fit_logistic(self, job: TrainingJob, encoder: StaticEncoder) -> Fitted:
        """The logistic head on the texts' mean vectors, C chosen on dev."""
        encoder = encoder.to(job.placement.device)
        pad_id = job.tokenizer.pad_token_id
        batch = max(job.config.eval_batch_size, StaticClassifier.inference_batch_size)
        train_x, dev_x = (
            forward_in_batches(encoder, part, batch, pad_id, f"Embedding {name}", placement=job.placement)
            for part, name in ((job.train, "train"), (job.dev, "dev"))
        )
        assert job.train.label_ids is not None  # training rows always carry targets
        head, report, dev_outputs = self.select_head(
            job, train_x.numpy(), job.train.label_ids, job.task.name, lambda head: head(dev_x)
        )
        balance_scales(encoder, head, train_x.std(dim=0).clamp(min=1e-6))  # the same logits
        return Fitted(StaticClassifier(encoder.cpu(), head), report, dev_outputs)


def balance_scales(encoder: StaticEncoder, head: torch.nn.Linear, spread: torch.Tensor) -> None:
    """Divide each dimension of the token vectors by its spread over the training texts and
    multiply the head's inputs back: the same logits (pooling is linear), but dimensions of one
    scale, so an int8 table with one scale for all keeps the small ones the head relies on."""
    with torch.no_grad():
        spread = spread.to(encoder.vectors.weight.device)
        encoder.vectors.weight.div_(spread)
        head.weight.mul_(spread.to(head.weight.device))


def static_encoder(job: TrainingJob, dims: int, trainable: bool = False) -> StaticEncoder:
    """The encoder's static model laid over its own vocabulary (so the run's tokenizer feeds it),
    distilled once per encoder and size and kept in headstart's cache (not for data from memory:
    such a run writes nothing outside its directory). `trainable`: its vectors and weights learn."""
    cache = None if job.feature_cache is None else job.feature_cache.parent / "static"
    key = hashlib.sha256(f"{model_fingerprint(job.model_path)}|{dims}".encode()).hexdigest()[:32]
    path = None if cache is None else cache / f"{key}.safetensors"
    if path is not None and path.is_file():
        saved = load_file(str(path))
        return StaticEncoder(saved["vectors"], saved["weights"], trainable)
    # Distilling draws from torch's generator (transformers initialises what a checkpoint lacks) and
    # reading the cache does not: restored, so a trained head starts the same either way.
    with torch.random.fork_rng():
        vectors, weights = distil(job.model_path, job.tokenizer, dims, str(job.placement.device))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        save_file({"vectors": vectors.contiguous(), "weights": weights}, str(temporary))
        os.replace(temporary, path)
    return StaticEncoder(vectors, weights, trainable)


def distil(model_path: Path, tokenizer: object, dims: int, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """model2vec's distillation of the encoder, as one vector per token id of the encoder's own
    tokenizer: tokens model2vec drops (special and unused ones) get a zero vector and weight 0."""
    with optional("The static strategy"):
        from model2vec.distill import distill

    info(f"Distilling a static model from {model_path.name} (once per encoder; about a minute) ...")
    hidden = json.loads((model_path / "config.json").read_text(encoding="utf-8")).get("hidden_size", dims)
    static = distill(
        model_name=str(model_path), pca_dims=min(dims, hidden), device=device, trust_remote_code=False
    )
    rows = static.tokenizer.get_vocab()  # token → row of static.embedding
    vocab = tokenizer.get_vocab()  # type: ignore[attr-defined]  # a transformers tokenizer
    special = set(tokenizer.all_special_ids)  # type: ignore[attr-defined]
    embedding = torch.as_tensor(static.embedding, dtype=torch.float32)
    vectors = torch.zeros((max(vocab.values()) + 1, embedding.shape[1]))
    weights = torch.zeros(len(vectors))
    for token, index in vocab.items():
        if token in rows and index not in special:
            vectors[index], weights[index] = embedding[rows[token]], 1.0
    return vectors, weights
