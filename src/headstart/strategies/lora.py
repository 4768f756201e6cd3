"""LoRA (Hu et al. 2021): low-rank updates B·A beside the attention projections, through peft."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from peft import LoraConfig, PeftConfig, TaskType
from typing_extensions import override

from headstart.config import option
from headstart.strategies.base import StrategyConfig, register_strategy
from headstart.strategies.peft_tuning import PeftTuning


@dataclass
class LoRAConfig(StrategyConfig):
    """Rank, scale and placement of the low-rank updates."""

    r: int = option(8, "Rank of the low-rank update.")
    alpha: int = option(16, "Scale of the update (applied as alpha / r).")
    dropout: float = option(0.1, "Dropout on the LoRA input.")
    target_modules: list | None = option(
        None, "Module names to adapt; None uses peft's default for the architecture (query, value for BERT)."
    )

    def __post_init__(self) -> None:
        if self.r < 1 or self.alpha <= 0 or not 0 <= self.dropout < 1:
            raise ValueError(
                "need r >= 1, alpha > 0 and dropout in [0, 1), got "
                f"r={self.r}, alpha={self.alpha}, dropout={self.dropout}"
            )


@register_strategy
class LoRA(PeftTuning):
    """Low-rank updates beside the attention projections."""

    name = "lora"
    summary = (
        "LoRA through peft: frozen encoder, low-rank updates and the head train; merged into the saved model."
    )
    default_lr = 1e-3
    config_class = LoRAConfig
    config: LoRAConfig

    @staticmethod
    @override
    def search_space(trial: Any) -> dict[str, Any]:
        rank = trial.suggest_categorical("r", [4, 8, 16])
        return {"r": rank, "alpha": 2 * rank}

    @override
    def peft_config(self, modules_to_save: list[str] | None) -> PeftConfig:
        return LoraConfig(
            task_type=TaskType.SEQ_CLS,
            modules_to_save=modules_to_save,
            r=self.config.r,
            lora_alpha=self.config.alpha,
            lora_dropout=self.config.dropout,
            target_modules=self.config.target_modules,
        )
