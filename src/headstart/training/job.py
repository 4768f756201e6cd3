"""What a strategy is given (TrainingJob), what the shared loop asks of it (TrainingHooks), and
what it gives back (Fitted: the classifier and a FitReport). Strategies and the loop both import
this module; neither imports the other's internals."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from accelerate import Accelerator
from torch import nn

from headstart.config import TrainConfig
from headstart.devices import CPU, Placement
from headstart.encoding import Encoded
from headstart.models.classifiers import TextClassifier
from headstart.tasks import Task


@dataclass
class TrainingJob:
    """Everything a strategy needs to fit: the resolved config, model files, encoded data."""

    config: TrainConfig
    model_path: Path
    tokenizer: Any
    labels: list[str]
    max_length: int
    train: Encoded
    dev: Encoded
    workdir: Path  # staging folder of the run: checkpoints live here until the run is complete
    resume: bool
    accelerator: Accelerator
    task: Task
    dev_labels: list[Any]  # the dev split's labels, one per text (its rows may be windows)
    extra_labels: dict[str, list[str]] = field(default_factory=dict)  # classes of each extra label column
    train_inputs: list[Any] = field(default_factory=list)  # the training texts (or pairs), e.g. for a teacher
    # Where frozen-encoder strategies keep embeddings across runs; None for data given from memory,
    # whose run writes nothing outside its own directory.
    feature_cache: Path | None = None
    placement: Placement = CPU  # where (and at which precision) embeddings and dev outputs are computed
    keep_last: bool = False  # a refit on train + dev: no choice on dev, the last epoch is the model

    def dev_outputs(self, logits: torch.Tensor | list[torch.Tensor]) -> Any:
        """What the run's predictor gives for each dev text (probabilities or values) from the
        logits of each dev row (a long text's windows pooled)."""
        return self.task.text_outputs(logits, self.dev, self.config.pool)

    def dev_scores(self, outputs: Any) -> dict[str, float]:
        """The task's scalar metrics on dev from `dev_outputs`; `score` is the task's main metric,
        which picks the best epoch or setting."""
        metrics = self.task.metrics(outputs, self.dev_labels)
        scalars = {name: value for name, value in metrics.items() if isinstance(value, float)}
        return {**scalars, "score": metrics[self.task.primary_metric]}


class TrainingHooks(Protocol):
    """What the shared loop calls on a strategy (`EncoderTuning` gives plain fine-tuning)."""

    def parameter_groups(self, model: nn.Module, config: TrainConfig) -> list[dict[str, Any]]:
        """AdamW parameter groups: which weights train, at which learning rate and decay."""
        ...

    def loss(
        self, model: nn.Module, batch: dict[str, torch.Tensor], task: Task, class_weights: torch.Tensor | None
    ) -> torch.Tensor:
        """The loss of one batch."""
        ...

    def penalty(self, model: nn.Module) -> torch.Tensor | None:
        """An extra loss term added to the task loss (None: nothing to add)."""
        ...

    def on_epoch_start(self, model: nn.Module, epoch: int) -> None:
        """Called before each epoch, e.g. to unfreeze layers."""
        ...


@dataclass
class FitReport:
    """What a fit tells about itself; it becomes the "training" section of metrics.json."""

    history: list[dict[str, Any]] = field(default_factory=list)  # per epoch (or per setting tried)
    best_dev_score: float | None = None  # the task's main metric on dev, of the kept model
    samples_seen: int = 0
    steps: int | None = None  # optimiser steps, for strategies trained by the loop
    parameters_trainable: int | None = None  # counted before added weights are merged (LoRA, IA³)
    details: dict[str, Any] = field(default_factory=dict)  # the strategy's own facts, by section name

    def to_record(self) -> dict[str, Any]:
        """The report as metrics.json holds it: the fields set, and each detail as its own key."""
        facts = {
            "history": self.history,
            "steps": self.steps,
            "samples_seen": self.samples_seen,
            "best_dev_score": self.best_dev_score,
            "parameters_trainable": self.parameters_trainable,
        }
        return {**{key: value for key, value in facts.items() if value is not None}, **self.details}


@dataclass
class Fitted:
    """A strategy's result: the trained classifier and its report."""

    classifier: TextClassifier
    report: FitReport
    # The classifier's `dev_outputs` when the fit computed them to choose on dev (None: not kept),
    # so the run calibrates and checks its refit without predicting dev again.
    dev_outputs: Any = None


def refit_settings(report: FitReport, metric: str, dev_rows: int) -> dict[str, Any] | None:
    """What a fit chose on dev, as settings that replay it without dev: the epochs of the best dev
    epoch (strategies trained by the loop), or the C of the best head (features, static). None when
    the fit chose nothing that way.

    Epochs: the last one within one standard error of the best score (the binomial error of a
    proportion over `dev_rows` texts). On 100 dev texts one text is a point, so "best" is mostly
    noise between the last epochs; the later one trains longer on the refit's larger set. On
    bbc-titles (seed 44) the best-only rule picked epoch 2 (0.910 against 0.898) and cost 1.2
    points of test accuracy against three epochs.
    """
    scored = [entry for entry in report.history if f"dev_{metric}" in entry]
    if not scored:
        return None
    top = max(entry[f"dev_{metric}"] for entry in scored)
    if "epoch" in scored[0]:
        near = [entry for entry in scored if entry[f"dev_{metric}"] >= top - standard_error(top, dev_rows)]
        return {"epochs": int(near[-1]["epoch"])}
    best = next(entry for entry in scored if entry[f"dev_{metric}"] == top)
    if "C" in best:
        return {"c_values": [float(best["C"])]}
    return None


def standard_error(score: float, rows: int) -> float:
    """The binomial standard error of a proportion `score` measured on `rows` texts; 0 for a score
    that is not a proportion."""
    return math.sqrt(max(score * (1 - score), 0.0) / max(rows, 1)) if 0 <= score <= 1 else 0.0
