"""Adaptation strategies. Importing a strategy module registers it."""

from headstart.strategies import (  # noqa: F401 - importing a strategy module registers it
    adapters,
    bigru,
    bitfit,
    dapt,
    discriminative_lr,
    distill,
    features,
    features_mix,
    finetune,
    gradual_unfreeze,
    l2sp,
    lora,
    multitask,
    prune,
    setfit_tuning,
    static,
    tfidf,
    zero_shot,
)
from headstart.strategies.base import (
    STRATEGIES,
    EncoderTuning,
    Strategy,
    StrategyConfig,
    make_strategy,
    register_strategy,
)

# Methods that are options of every strategy rather than strategies: (name, what it does, how).
COMBINABLE = (
    (
        "stlr",
        "Slanted triangular learning rate (ULMFiT): short linear rise, long linear fall.",
        "--schedule stlr",
    ),
    (
        "discriminative lr",
        "Layer-wise learning-rate decay, lr × decay^depth from the top.",
        "--layer-lr-decay 0.8",
    ),
    (
        "ensemble",
        "Mean of several runs' probabilities, saved as one run.",
        "headstart ensemble RUN RUN ... --out DIR",
    ),
)

__all__ = [
    "COMBINABLE",
    "STRATEGIES",
    "EncoderTuning",
    "Strategy",
    "StrategyConfig",
    "make_strategy",
    "register_strategy",
]
