"""Adaptation strategies. Importing a strategy module registers it."""

from headstart.strategies import bitfit, discriminative_lr, features, finetune, gradual_unfreeze, l2sp  # noqa: F401  (registration)
from headstart.strategies.base import STRATEGIES, EncoderTuning, Strategy, StrategyConfig, TrainingJob, make_strategy, register_strategy

__all__ = ["STRATEGIES", "EncoderTuning", "Strategy", "StrategyConfig", "TrainingJob", "make_strategy", "register_strategy"]
