"""L2-SP (Li, Grandvalet & Davoine 2018): fine-tune every weight, but pull it back toward the
pretrained starting point w₀ instead of toward zero, so small data does not erase what was learned."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from typing_extensions import override

from headstart.config import TrainConfig, option
from headstart.strategies.base import EncoderTuning, StrategyConfig, layer_depths, register_strategy


@dataclass
class L2SPConfig(StrategyConfig):
    """Strengths of the two penalties."""

    alpha: float = option(0.01, "Strength of the pull toward the pretrained weights: α/2 ‖w − w₀‖².")
    beta: float = option(0.01, "Plain L2 on the new head, which has no pretrained value: β/2 ‖head‖².")

    def __post_init__(self) -> None:
        if self.alpha < 0 or self.beta < 0:
            raise ValueError(f"alpha and beta must be 0 or more, got alpha={self.alpha}, beta={self.beta}")


@register_strategy
class L2SP(EncoderTuning):
    """Fine-tuning pulled toward the pretrained weights."""

    name = "l2sp"
    summary = "Full fine-tuning with the penalty α/2‖w − w₀‖² toward the pretrained weights plus β/2‖head‖²."
    config_class = L2SPConfig
    config: L2SPConfig

    @staticmethod
    @override
    def search_space(trial: Any) -> dict[str, Any]:
        return {"alpha": trial.suggest_float("alpha", 1e-4, 1.0, log=True)}

    @override
    def parameter_groups(self, model: nn.Module, config: TrainConfig) -> list[dict[str, Any]]:
        # Here, not in build: the loop calls this with the weights as they train (the token
        # embeddings' trained rows among them). Weights that existed before fine-tuning are pulled
        # to their start; the new head (depth 0) to zero.
        depths = layer_depths(model)
        trained = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        self._pretrained = [(p, p.detach().clone()) for n, p in trained if depths[n] > 0]
        self._head = [p for n, p in trained if depths[n] == 0]
        # The penalty replaces weight decay: decay toward zero would fight the pull toward w₀.
        return [{**group, "weight_decay": 0.0} for group in super().parameter_groups(model, config)]

    @override
    def penalty(self, model: nn.Module) -> torch.Tensor:
        start = sum((((p - p0) ** 2).sum() for p, p0 in self._pretrained), torch.zeros(()))
        head = sum(((p**2).sum() for p in self._head), torch.zeros(()))
        return self.config.alpha / 2 * start + self.config.beta / 2 * head
