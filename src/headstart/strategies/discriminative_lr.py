"""Discriminative learning rates (Howard & Ruder 2018): lower layers, which hold more general
features, train more slowly. Any strategy gets the same with --layer-lr-decay."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from typing_extensions import override

from headstart.config import TrainConfig, option
from headstart.strategies.base import EncoderTuning, StrategyConfig, register_strategy


@dataclass
class DiscriminativeLRConfig(StrategyConfig):
    """The layer-wise decay factor."""

    decay: float = option(0.8, "The layer at depth d from the top trains at lr × decay^d (head: d = 0).")

    def __post_init__(self) -> None:
        if not 0 < self.decay <= 1:
            raise ValueError(f"decay must be in (0, 1], got {self.decay}")


@register_strategy
class DiscriminativeLR(EncoderTuning):
    """Full fine-tuning with a lower learning rate the lower the layer."""

    name = "discriminative-lr"
    summary = "Full fine-tuning with layer-wise learning-rate decay: lr × decay^depth from the top."
    config_class = DiscriminativeLRConfig
    config: DiscriminativeLRConfig

    @staticmethod
    @override
    def search_space(trial: Any) -> dict[str, Any]:
        return {"decay": trial.suggest_float("decay", 0.5, 0.95)}

    @override
    def layer_lr_decay(self, config: TrainConfig) -> float:
        return self.config.decay
