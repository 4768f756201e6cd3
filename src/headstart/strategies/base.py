"""The strategy interface: how a pretrained encoder becomes a trained classifier.

A strategy is a small config dataclass plus a class with `fit(job) -> Fitted` (the classifier and
a FitReport). Strategies that train encoder weights subclass `EncoderTuning` and change only what
differs (which parameters train, their learning rates, an extra loss term, what happens at each
epoch); the shared loop in `headstart.training.loop` does the rest. Register a new one with
`@register_strategy` in its own module and import that module in `strategies/__init__.py`.
"""

from __future__ import annotations

import dataclasses
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import torch
from torch import nn

from headstart.config import TrainConfig
from headstart.errors import ConfigError
from headstart.models.classifiers import SequenceClassifier, TextClassifier, TokenClassifier
from headstart.tasks import Task
from headstart.training.job import Fitted, TrainingJob
from headstart.training.loop import train_classifier


@dataclass
class StrategyConfig:
    """Options of one strategy. Subclasses add fields, each with a default and a help text."""

    def to_dict(self) -> dict[str, Any]:
        """The options as plain values (saved in the run's config)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], strategy: str) -> StrategyConfig:
        """The options of `strategy` from option: value pairs, refusing unknown keys."""
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(
                f"Strategy '{strategy}' has no option(s) {unknown}; "
                f"its options are {sorted(known) or 'none'}."
            )
        return cls(**values)


class Strategy(ABC):
    """An adaptation strategy: `fit` turns a TrainingJob into a trained classifier and its report."""

    name: ClassVar[str]
    summary: ClassVar[str]  # one line, shown by `headstart strategies`
    config_class: ClassVar[type[StrategyConfig]] = StrategyConfig
    default_lr: float | None = None  # None: the strategy has no gradient steps to size
    tasks: frozenset[str] = frozenset({"classification", "multi-label", "regression", "ner"})
    soft_labels: ClassVar[bool] = (
        True  # can train on label distributions (crowd posteriors), not only classes
    )
    # `--refit` may replay what this strategy chose on dev (its epochs or C) on train + dev
    replays_on_refit: ClassVar[bool] = True
    # trains the encoder's weights, so texts may use all its positions (see zoo.model_max_length)
    trains_encoder: ClassVar[bool] = False
    # the longest input the strategy's own model reads, in place of the encoder's; None: the encoder's
    max_tokens: ClassVar[int | None] = None

    def __init__(self, config: StrategyConfig | None = None) -> None:
        self.config = config if config is not None else self.config_class()

    @abstractmethod
    def fit(self, job: TrainingJob) -> Fitted:
        """The trained classifier and what the fit reports about itself."""

    def extra_label_columns(self) -> list[str]:
        """Label columns this strategy reads besides the main one (multi-task); none by default."""
        return []

    @staticmethod
    def search_space(trial: Any) -> dict[str, Any]:
        """Strategy options `headstart tune` tries, drawn from an Optuna trial; none by default."""
        return {}


class EncoderTuning(Strategy):
    """Strategies that train through the shared loop. The defaults are plain full fine-tuning."""

    # Peak AdamW rate when the user gives none: methods that train few weights need larger steps
    # (LoRA, IA3 and BitFit work near 1e-3, full fine-tuning near 1e-4 or below).
    default_lr: float | None = 1e-4
    trains_encoder = True

    def build(self, job: TrainingJob) -> TextClassifier:
        """The classifier to train: the encoder with a new head for the task."""
        kind = TokenClassifier if job.task.token_level else SequenceClassifier
        config = job.config
        classifier = kind.from_encoder(
            job.model_path, job.task, config.allow_pickle, config.attention_dropout
        )
        if config.freeze_embeddings:
            classifier.model.get_input_embeddings().weight.requires_grad_(False)
        return classifier

    def layer_lr_decay(self, config: TrainConfig) -> float:
        """The factor by which each layer's learning rate shrinks from the top down."""
        return config.layer_lr_decay

    def parameter_groups(self, model: nn.Module, config: TrainConfig) -> list[dict[str, Any]]:
        """AdamW groups by learning rate (lr × decay^depth) and by decay: biases and LayerNorm get
        none, as in BERT. Layers that share a rate share a group (all of them at decay 1): the fused
        AdamW runs once per group, and 16 groups for MiniLM took ~1 ms more a step than 2.

        Frozen parameters are included too: a strategy may unfreeze them later (they get no
        gradient while frozen, so AdamW leaves them alone).
        """
        assert config.lr is not None  # train() resolves it to the strategy's own rate when not given
        depths = layer_depths(model)
        decay = self.layer_lr_decay(config)
        groups: dict[tuple[float, bool], list[nn.Parameter]] = {}
        for name, parameter in model.named_parameters():
            decays = parameter.ndim >= 2 and "LayerNorm" not in name
            groups.setdefault((config.lr * decay ** depths[name], decays), []).append(parameter)
        return [
            {"params": params, "lr": lr, "weight_decay": config.weight_decay if decays else 0.0}
            for (lr, decays), params in groups.items()
        ]

    def loss(
        self, model: nn.Module, batch: dict[str, torch.Tensor], task: Task, class_weights: torch.Tensor | None
    ) -> torch.Tensor:
        """The loss of one batch: the task's (cross-entropy, binary cross-entropy or MSE)."""
        return task.loss(model(batch["input_ids"], batch["attention_mask"]), batch["labels"], class_weights)

    def penalty(self, model: nn.Module) -> torch.Tensor | None:
        """An extra loss term added to the task loss (None: nothing to add)."""
        return None

    def on_epoch_start(self, model: nn.Module, epoch: int) -> None:
        """Called before each epoch, e.g. to unfreeze layers."""

    def fit(self, job: TrainingJob) -> Fitted:
        """Build the classifier and train it through the shared loop."""
        return train_classifier(self.build(job), self, job)


_LAYER_INDEX = re.compile(r"\.(?:layer|layers|h|block)\.(\d+)\.")


def layer_depths(model: nn.Module) -> dict[str, int]:
    """Depth of every parameter counted from the top: 0 for the head (and pooler), 1 for the last
    encoder layer, ..., L for the first, L + 1 for the embeddings."""
    names = [name for name, _ in model.named_parameters()]
    indices = {name: int(match.group(1)) for name in names if (match := _LAYER_INDEX.search(name))}
    layers = max(indices.values(), default=-1) + 1
    depths = {}
    for name in names:
        if name in indices:
            depths[name] = layers - indices[name]
        elif "embeddings" in name:
            depths[name] = layers + 1
        else:
            depths[name] = 0
    return depths


STRATEGIES: dict[str, type[Strategy]] = {}


StrategyClass = TypeVar("StrategyClass", bound=type[Strategy])


def register_strategy(cls: StrategyClass) -> StrategyClass:
    """Class decorator: make the strategy available by its name (names are unique)."""
    if not getattr(cls, "name", None) or not getattr(cls, "summary", None):
        raise TypeError(f"{cls.__name__} needs class attributes 'name' and 'summary' to be registered.")
    if cls.name in STRATEGIES:
        raise ValueError(
            f"Strategy '{cls.name}' is already registered by "
            f"{STRATEGIES[cls.name].__name__}; choose another name."
        )
    STRATEGIES[cls.name] = cls
    return cls


def make_strategy(name: str, options: dict[str, Any] | None = None) -> Strategy:
    """The registered strategy `name` with its options checked."""
    if name not in STRATEGIES:
        raise ConfigError(
            f"Unknown strategy '{name}'; choose one of {sorted(STRATEGIES)} (see `headstart strategies`)."
        )
    cls = STRATEGIES[name]
    try:
        config = cls.config_class.from_dict(options or {}, name)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"Invalid options for strategy '{name}': {error}.") from None
    return cls(config)
