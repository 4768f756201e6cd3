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

from headstart.config import option
from headstart.errors import ConfigError
from headstart.models.classifiers import SequenceClassifier, TextClassifier
from headstart.models.surgery import keep_layers
from headstart.strategies.base import EncoderTuning, StrategyConfig, TrainingJob, register_strategy
from headstart.training.batching import Encoded, encode


@dataclass
class DistillConfig(StrategyConfig):
    teacher: str | None = option(None, "Run directory of the teacher (a classification run).")
    layers: int | None = option(None, "Student = the teacher with only this many layers (spread evenly, first and last kept); "
                                      "default: a new model on the --model encoder.")
    temperature: float = option(2.0, "Temperature T softening both models' probabilities in the KL term.")
    alpha: float = option(0.5, "Weight of the KL term; the true labels' cross-entropy gets 1 − alpha.")
    unlabelled: str | None = option(None, "Extra texts without labels (.txt, one per line, or a table's text column), learnt from the teacher alone.")

    def __post_init__(self) -> None:
        if self.temperature <= 0 or not 0 <= self.alpha <= 1:
            raise ValueError(f"temperature must be > 0 and alpha in [0, 1], got temperature={self.temperature}, alpha={self.alpha}")
        if self.layers is not None and self.layers < 1:
            raise ValueError(f"layers must be at least 1, got {self.layers}")


@register_strategy
class Distill(EncoderTuning):
    name = "distill"
    summary = "Knowledge distillation from a teacher run: KL to its softened probabilities (T²-scaled) + label cross-entropy."
    config_class = DistillConfig
    tasks = frozenset({"classification"})
    soft_labels = False

    def fit(self, job: TrainingJob) -> TextClassifier:
        from headstart.run import Run
        from headstart.strategies.dapt import read_texts
        from headstart.training.loop import train_classifier

        if self.config.teacher is None:
            raise ConfigError("distill needs a teacher run: `headstart distill TEACHER_RUN --out STUDENT` (or --option teacher=PATH).")
        teacher = Run.load(self.config.teacher)
        if teacher.labels != job.task.classes:
            raise ConfigError(f"The teacher predicts {teacher.labels} but the data has {job.task.classes}; distil on the teacher's data.")
        unlabelled = read_texts(Path(self.config.unlabelled)) if self.config.unlabelled else []
        probabilities = teacher.predict_proba(list(job.train_inputs) + unlabelled, show_progress=True)
        labelled_rows = len(job.train)
        rows = job.train.doc_ids or list(range(labelled_rows))  # windows take their text's probabilities
        extra = encode(job.tokenizer, unlabelled, job.max_length) if unlabelled else Encoded([])
        self._teacher = self._soften(np.concatenate([probabilities[rows], probabilities[len(job.train_inputs):]]))
        train = Encoded(job.train.input_ids + extra.input_ids, list(job.train.label_ids) + [-100] * len(extra))
        job.summary["distill"] = {"teacher": str(self.config.teacher), "unlabelled_texts": len(unlabelled),
                                  "teacher_test": teacher.metrics["test"].get(job.task.primary_metric)}
        return train_classifier(self.build(job), self, dataclasses.replace(job, train=train))

    def _soften(self, probabilities: np.ndarray) -> torch.Tensor:
        # softmax(log p / T) = softmax(logits / T): the teacher's logits up to a constant per row.
        logits = torch.log(torch.from_numpy(probabilities).float().clamp_min(1e-12))
        return torch.softmax(logits / self.config.temperature, dim=-1)

    def build(self, job: TrainingJob) -> TextClassifier:
        if self.config.layers is None:
            return super().build(job)
        student = SequenceClassifier.load(Path(self.config.teacher) / "model", job.config.allow_pickle)
        keep_layers(student.model, self.config.layers)
        return student

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor], task, class_weights: torch.Tensor | None) -> torch.Tensor:  # noqa: ANN001
        logits = model(batch["input_ids"], batch["attention_mask"])
        temperature = self.config.temperature
        teacher = self._teacher[batch["index"].cpu()].to(logits.device)
        soft = F.kl_div(F.log_softmax(logits / temperature, dim=-1), teacher, reduction="batchmean") * temperature**2
        labelled = batch["labels"] >= 0
        hard = F.cross_entropy(logits[labelled], batch["labels"][labelled], weight=class_weights) if labelled.any() else 0.0
        return self.config.alpha * soft + (1 - self.config.alpha) * hard

