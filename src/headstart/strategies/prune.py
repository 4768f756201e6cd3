"""Pruning a trained run, then optionally a short recovery fine-tune.

- Attention heads (Michel, Levy & Neubig 2019): each head's importance is |∂L/∂ξ_h|, the loss
  gradient w.r.t. a gate on its output, summed over training batches. That gate multiplies the
  head's columns of the attention output projection W_o, so ∂L/∂ξ_h = Σ (∂L/∂W_o ⊙ W_o) over them.
  The least important heads are cut out of the query/key/value and output matrices: the model
  gets smaller and faster.
- Magnitude: the smallest weights of the encoder's linear layers (global L1 ranking) are zeroed.
  Dense kernels do not skip zeros, so this saves neither time nor disk on its own; it is the
  first step of sparse or compressed deployment.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils import prune as torch_prune
from typing_extensions import override

from headstart.config import option
from headstart.encoding import make_loader
from headstart.errors import ConfigError
from headstart.models.classifiers import TransformersClassifier
from headstart.models.saved import load_classifier
from headstart.models.surgery import attention_blocks, remove_heads
from headstart.record import MODEL_DIR
from headstart.strategies.base import EncoderTuning, StrategyConfig, register_strategy
from headstart.training.job import FitReport, Fitted, TrainingJob
from headstart.training.loop import train_classifier


@dataclass
class PruneConfig(StrategyConfig):
    """What to remove from the source run, and whether to recover afterwards."""

    source: str | None = option(
        None, "Run directory to prune (a fine-tuned run: finetune, l2sp, distill, ...)."
    )
    heads: float = option(
        0.0, "Fraction of all attention heads to remove, least important first (every layer keeps one)."
    )
    sparsity: float = option(
        0.0, "Fraction of the encoder's linear weights to zero, smallest magnitude first."
    )
    recover: bool = option(
        True, "Fine-tune the pruned model for the run's epochs; off: keep the pruned weights as they are."
    )
    importance_batches: int = option(32, "Training batches used to score the heads.")

    def __post_init__(self) -> None:
        if not 0 <= self.heads < 1 or not 0 <= self.sparsity < 1:
            raise ValueError(
                "--heads and --sparsity are fractions in [0, 1), "
                f"got heads={self.heads}, sparsity={self.sparsity}"
            )


@register_strategy
class Prune(EncoderTuning):
    """Attention heads or weights removed from a trained run, then recovery."""

    name = "prune"
    summary = (
        "Prune a trained run (least important attention heads "
        "and/or smallest weights), then a short recovery fine-tune."
    )
    config_class = PruneConfig
    config: PruneConfig
    tasks = frozenset({"classification", "multi-label", "regression", "ner"})

    @override
    def fit(self, job: TrainingJob) -> Fitted:
        if self.config.source is None or self.config.heads == self.config.sparsity == 0:
            raise ConfigError(
                "prune needs a run and something to remove: `headstart prune RUN --out OUT` with --heads "
                "and/or --sparsity as fractions, e.g. --heads 0.25."
            )
        model = self.build(job)
        report: dict[str, object] = {"source": str(self.config.source)}
        if self.config.heads:
            scores = head_importance(model, job, self.config.importance_batches)
            blocks = attention_blocks(model.model)
            for index, heads in least_important(scores, self.config.heads).items():
                model.attention_heads[str(index)] = remove_heads(blocks[index], heads)
            report["heads_kept"] = sum(block.self.num_attention_heads for block in blocks)
            report["heads_before"] = sum(len(layer) for layer in scores)
        weights = [
            (module, "weight")
            for name, module in model.named_modules()
            if isinstance(module, nn.Linear) and "encoder" in name
        ]
        if self.config.sparsity:
            torch_prune.global_unstructured(
                weights, pruning_method=torch_prune.L1Unstructured, amount=self.config.sparsity
            )
        fitted = Fitted(model, FitReport())
        if self.config.recover:
            fitted = train_classifier(model, self, job)  # masks stay in force: pruned weights stay zero
        if self.config.sparsity:
            for module, name in weights:
                torch_prune.remove(module, name)
            zeros = sum(int((module.weight == 0).sum()) for module, _ in weights)
            report["encoder_linear_sparsity"] = round(
                zeros / sum(module.weight.numel() for module, _ in weights), 4
            )
        fitted.report.details["prune"] = report
        return fitted

    @override
    def build(self, job: TrainingJob) -> TransformersClassifier:
        assert self.config.source is not None  # checked by fit
        model = load_classifier(Path(self.config.source) / MODEL_DIR, job.config.allow_pickle)
        if not isinstance(model, TransformersClassifier):
            raise ConfigError(
                f"'{self.config.source}' holds a {model.kind} model; pruning needs a fine-tuned encoder "
                "(strategies finetune, l2sp, lora, distill, ...)."
            )
        return model


def head_importance(classifier: TransformersClassifier, job: TrainingJob, batches: int) -> list[torch.Tensor]:
    """|∂L/∂ξ_h| per layer and head, accumulated over up to `batches` training batches."""
    blocks = attention_blocks(classifier.model)
    scores = [torch.zeros(block.self.num_attention_heads) for block in blocks]
    classifier.eval()  # no dropout: score the model as it predicts
    loader = make_loader(
        job.train, job.config.batch_size, job.tokenizer.pad_token_id, seed=job.config.seed, shuffle=True
    )
    for step, batch in enumerate(loader):
        if step == batches:
            break
        classifier.zero_grad(set_to_none=True)
        job.task.loss(
            classifier(batch["input_ids"], batch["attention_mask"]), batch["labels"], None
        ).backward()
        for score, block in zip(scores, blocks, strict=True):
            dense = block.output.dense.weight
            per_column = (dense.grad * dense).sum(dim=0)  # (heads × head size,)
            score += per_column.view(block.self.num_attention_heads, -1).sum(dim=1).abs().detach()
    classifier.zero_grad(set_to_none=True)
    return scores


def least_important(scores: list[torch.Tensor], fraction: float) -> dict[int, list[int]]:
    """The heads to remove: the globally least important `fraction`, each layer keeping at least one.
    Scores are normalised per layer (L2), as Michel et al. do, so layers compare fairly."""
    ranked = sorted(
        (float(s / (layer.norm() + 1e-12)), index, head)
        for index, layer in enumerate(scores)
        for head, s in enumerate(layer)
    )
    budget = int(round(fraction * len(ranked)))
    removed: dict[int, list[int]] = {}
    for _, index, head in ranked:
        if budget == 0:
            break
        if len(removed.get(index, [])) < len(scores[index]) - 1:
            removed.setdefault(index, []).append(head)
            budget -= 1
    return {index: sorted(heads) for index, heads in removed.items()}
