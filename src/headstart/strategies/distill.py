"""Knowledge distillation (Hinton et al. 2015): a student learns the teacher run's softened
probabilities (KL at temperature T, scaled by T²) plus the true labels (cross-entropy).

The student is the --model encoder with a new head, or with `layers` the teacher itself with
only that many of its layers kept, spread evenly (DistilBERT initialised its student from every
other teacher layer). Unlabelled texts add transfer data that only the teacher labels.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from typing_extensions import override

from headstart.config import option
from headstart.data.texts import read_texts
from headstart.encoding import Encoded, encode
from headstart.errors import ConfigError
from headstart.inference.predictor import load_predictor
from headstart.models.classifiers import SequenceClassifier, TextClassifier
from headstart.models.surgery import keep_layers
from headstart.record import MODEL_DIR, read_record
from headstart.strategies.base import EncoderTuning, StrategyConfig, register_strategy
from headstart.tasks import Task
from headstart.training.job import Fitted, TrainingJob
from headstart.training.loop import train_classifier


@dataclass
class DistillConfig(StrategyConfig):
    """The teacher, the student's shape and the loss's weighting."""

    teacher: str | None = option(None, "Run directory of the teacher (a classification run).")
    layers: int | None = option(
        None,
        "Student = the teacher with only this many layers (spread evenly, first and last kept); "
        "default: a new model on the --model encoder.",
    )
    temperature: float = option(2.0, "Temperature T softening both models' probabilities in the KL term.")
    alpha: float = option(0.5, "Weight of the KL term; the true labels' cross-entropy gets 1 − alpha.")
    unlabelled: str | None = option(
        None,
        "Extra texts without labels (.txt, one per line, or a "
        "table's text column), learnt from the teacher alone.",
    )

    def __post_init__(self) -> None:
        if self.temperature <= 0 or not 0 <= self.alpha <= 1:
            raise ValueError(
                "temperature must be > 0 and alpha in [0, 1], got "
                f"temperature={self.temperature}, alpha={self.alpha}"
            )
        if self.layers is not None and self.layers < 1:
            raise ValueError(f"layers must be at least 1, got {self.layers}")


@register_strategy
class Distill(EncoderTuning):
    """A student trained on a teacher run's softened probabilities and the labels."""

    name = "distill"
    summary = (
        "Knowledge distillation from a teacher run: KL to its "
        "softened probabilities (T²-scaled) + label cross-entropy."
    )
    config_class = DistillConfig
    config: DistillConfig
    tasks = frozenset({"classification"})
    soft_labels = False

    @override
    def fit(self, job: TrainingJob) -> Fitted:
        if self.config.teacher is None:
            raise ConfigError(
                "distill needs a teacher run: `headstart distill "
                "TEACHER_RUN --out STUDENT` (or --option teacher=PATH)."
            )
        teacher = load_predictor(Path(self.config.teacher), device=job.placement.device)
        if teacher.task.classes != job.task.classes:
            raise ConfigError(
                f"The teacher predicts {teacher.task.classes} but the data "
                f"has {job.task.classes}; distil on the teacher's data."
            )
        unlabelled = read_texts(Path(self.config.unlabelled)) if self.config.unlabelled else []
        probabilities = teacher.outputs(list(job.train_inputs) + unlabelled, show_progress=True)
        labelled_rows = len(job.train)
        rows = job.train.doc_ids or list(range(labelled_rows))  # windows take their text's probabilities
        extra = encode(job.tokenizer, unlabelled, job.max_length) if unlabelled else Encoded([])
        self._teacher = self._soften(
            np.concatenate([probabilities[rows], probabilities[len(job.train_inputs) :]])
        )
        assert job.train.label_ids is not None  # training rows always carry targets
        train = Encoded(
            job.train.input_ids + extra.input_ids, list(job.train.label_ids) + [-100] * len(extra)
        )
        fitted = train_classifier(self.build(job), self, dataclasses.replace(job, train=train))
        teacher_test = read_record(Path(self.config.teacher)).get("test", {}).get(job.task.primary_metric)
        fitted.report.details["distill"] = {
            "teacher": str(self.config.teacher),
            "unlabelled_texts": len(unlabelled),
            "teacher_test": teacher_test,
        }
        return fitted

    def _soften(self, probabilities: np.ndarray) -> torch.Tensor:
        # softmax(log p / T) = softmax(logits / T): the teacher's logits up to a constant per row.
        logits = torch.log(torch.from_numpy(probabilities).float().clamp_min(1e-12))
        return torch.softmax(logits / self.config.temperature, dim=-1)

    @override
    def build(self, job: TrainingJob) -> TextClassifier:
        if self.config.layers is None:
            return super().build(job)
        assert self.config.teacher is not None  # checked by fit
        student = SequenceClassifier.load(Path(self.config.teacher) / MODEL_DIR, job.config.allow_pickle)
        keep_layers(student.model, self.config.layers)
        return student

    @override
    def loss(
        self, model: nn.Module, batch: dict[str, torch.Tensor], task: Task, class_weights: torch.Tensor | None
    ) -> torch.Tensor:
        logits = model(batch["input_ids"], batch["attention_mask"])
        temperature = self.config.temperature
        teacher = self._teacher[batch["index"].cpu()].to(logits.device)
        soft = (
            F.kl_div(F.log_softmax(logits / temperature, dim=-1), teacher, reduction="batchmean")
            * temperature**2
        )
        labelled = batch["labels"] >= 0
        hard = (
            F.cross_entropy(logits[labelled], batch["labels"][labelled], weight=class_weights)
            if labelled.any()
            else 0.0
        )
        return self.config.alpha * soft + (1 - self.config.alpha) * hard
