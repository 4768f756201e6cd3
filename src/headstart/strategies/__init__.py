"""Adaptation strategies. Importing a strategy module registers it."""

from headstart.strategies import (  # noqa: F401  (importing a strategy module registers it)
    adapters, bitfit, dapt, discriminative_lr, distill, features, features_mix, finetune, gradual_unfreeze, l2sp, lora, multitask,
    prune, setfit_tuning, zero_shot,
)
from headstart.strategies.base import STRATEGIES, EncoderTuning, Strategy, StrategyConfig, TrainingJob, make_strategy, register_strategy

__all__ = ["STRATEGIES", "EncoderTuning", "Strategy", "StrategyConfig", "TrainingJob", "make_strategy", "register_strategy"]
