"""Multi-task fine-tuning: one shared encoder, one head per label column, losses summed with weights.

Related labels of the same texts (topic and sentiment, intent and urgency) can help each other
through the shared encoder; the saved run predicts every column at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from typing_extensions import override

from headstart.config import option
from headstart.errors import ConfigError
from headstart.models.classifiers import MultiTaskClassifier, load_encoder
from headstart.strategies.base import EncoderTuning, StrategyConfig, register_strategy
from headstart.tasks import Task
from headstart.training.job import TrainingJob


@dataclass
class MultiTaskConfig(StrategyConfig):
    """The further label columns and their loss weights."""

    columns: list = option(
        [], "Further label columns, one head each (the main label column is always the first head)."
    )
    weights: list | None = option(
        None, "Loss weight of each further column, in order (default 1 each); the main column weighs 1."
    )
    dropout: float = option(0.1, "Dropout on the pooled text vector before the heads.")

    def __post_init__(self) -> None:
        if len(set(self.columns)) != len(self.columns) or not all(
            isinstance(c, str) and c for c in self.columns
        ):
            raise ValueError(f"columns must be distinct column names, got {self.columns}")
        if self.weights is not None and (
            len(self.weights) != len(self.columns) or any(w < 0 for w in self.weights)
        ):
            raise ValueError(
                f"weights needs one value >= 0 per column ({len(self.columns)}), got {self.weights}"
            )
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


@register_strategy
class MultiTask(EncoderTuning):
    """One encoder, one head per label column."""

    name = "multitask"
    summary = (
        "Several label columns: shared encoder, one head per "
        "column, weighted sum of losses; predicts every column."
    )
    config_class = MultiTaskConfig
    config: MultiTaskConfig
    tasks = frozenset({"classification"})

    @override
    def extra_label_columns(self) -> list[str]:
        if not self.config.columns:
            raise ConfigError(
                "Strategy 'multitask' needs the further label "
                "columns, e.g. --option columns=[sentiment,urgency]."
            )
        return list(self.config.columns)

    @override
    def build(self, job: TrainingJob) -> MultiTaskClassifier:
        encoder = load_encoder(job.model_path, job.config.allow_pickle)
        return MultiTaskClassifier(encoder, {"label": job.labels, **job.extra_labels}, self.config.dropout)

    @override
    def loss(
        self, model: nn.Module, batch: dict[str, torch.Tensor], task: Task, class_weights: torch.Tensor | None
    ) -> torch.Tensor:
        heads = self._unwrapped(model).split_logits(
            model(batch["input_ids"], batch["attention_mask"], all_heads=True)
        )
        logits = list(heads.values())
        loss = task.loss(logits[0], batch["labels"], class_weights)
        weights = self.config.weights or [1.0] * len(self.config.columns)
        for column, (head_logits, weight) in enumerate(zip(logits[1:], weights, strict=True)):
            loss = loss + weight * F.cross_entropy(head_logits, batch["extra_labels"][:, column])
        return loss

    @staticmethod
    def _unwrapped(model: nn.Module) -> MultiTaskClassifier:
        classifier = getattr(
            model, "module", model
        )  # under DistributedDataParallel the classifier is .module
        assert isinstance(classifier, MultiTaskClassifier)
        return classifier
