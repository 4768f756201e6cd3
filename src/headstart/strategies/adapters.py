"""(IA)³ adapters (Liu et al. 2022): learned vectors rescale keys, values and feed-forward
activations; even fewer trained weights than LoRA. Through peft."""

from __future__ import annotations

from dataclasses import dataclass

from peft import IA3Config, PeftConfig, TaskType
from typing_extensions import override

from headstart.config import option
from headstart.strategies.base import StrategyConfig, register_strategy
from headstart.strategies.peft_tuning import PeftTuning


@dataclass
class AdaptersConfig(StrategyConfig):
    """Which modules are rescaled."""

    target_modules: list | None = option(
        None, "Modules to rescale; None uses peft's default (key, value, output.dense for BERT)."
    )
    feedforward_modules: list | None = option(
        None, "Which of them are feed-forward layers (rescaled on their input); None: peft's default."
    )


@register_strategy
class Adapters(PeftTuning):
    """(IA)³: learned rescaling of keys, values and feed-forward activations."""

    name = "adapters"
    summary = (
        "(IA)³ adapters through peft: learned rescaling vectors "
        "and the head train; merged into the saved model."
    )
    default_lr = 1e-3
    config_class = AdaptersConfig
    config: AdaptersConfig

    @override
    def peft_config(self, modules_to_save: list[str] | None) -> PeftConfig:
        return IA3Config(
            task_type=TaskType.SEQ_CLS,
            modules_to_save=modules_to_save,
            target_modules=self.config.target_modules,
            feedforward_modules=self.config.feedforward_modules,
        )
