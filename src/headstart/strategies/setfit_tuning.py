"""SetFit (Tunstall et al. 2022) for few labels: the encoder is first fine-tuned contrastively on
pairs of labelled examples (same class → similar, different classes → dissimilar), through the
`setfit` library; then the `features` head (logistic regression on mean-pooled embeddings, C
chosen on dev) is fitted on the tuned encoder.

Pairs are drawn, not enumerated: `iterations` pairs per example and direction, capped at
`max_pairs` in all, so memory stays bounded however many examples there are.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from typing_extensions import override

from headstart.config import option
from headstart.extras import optional
from headstart.strategies.base import register_strategy
from headstart.strategies.features import Features, FeaturesConfig
from headstart.training.job import Fitted, TrainingJob
from headstart.training.loop import lean_steps


@dataclass
class SetFitConfig(FeaturesConfig):
    """Options of the contrastive phase, on top of the features head's."""

    iterations: int = option(
        20, "Pairs drawn per labelled example (positive and negative each), as setfit's num_iterations."
    )
    max_pairs: int = option(20_000, "At most this many pairs in all; iterations shrink on larger data.")
    body_epochs: int = option(1, "Epochs of contrastive training over the pairs.")
    body_lr: float = option(2e-5, "Learning rate of the contrastive encoder training.")
    batch_size: int = option(16, "Pairs per contrastive batch.")

    def __post_init__(self) -> None:
        super().__post_init__()
        if min(self.iterations, self.max_pairs, self.body_epochs, self.batch_size) < 1 or self.body_lr <= 0:
            raise ValueError(
                "iterations, max_pairs, body_epochs and batch_size must be at least 1 and body_lr > 0"
            )


@register_strategy
class SetFit(Features):
    """Contrastive encoder tuning on pairs, then the features head."""

    name = "setfit"
    replays_on_refit = False  # a refit would run the contrastive tuning again, for the head's C
    summary = (
        "SetFit: contrastive fine-tuning on pairs of the few labelled examples (setfit library), "
        "then a logistic-regression head."
    )
    config_class = SetFitConfig
    config: SetFitConfig
    tasks = frozenset({"classification"})

    @override
    def fit(self, job: TrainingJob) -> Fitted:
        tuned = job.workdir / "setfit-encoder"
        contrastive = self.tune_encoder(job, tuned)
        try:
            fitted = super().fit(dataclasses.replace(job, model_path=tuned))
        finally:
            shutil.rmtree(tuned, ignore_errors=True)
        fitted.report.details["setfit"] = contrastive
        return fitted

    def tune_encoder(self, job: TrainingJob, target: Path) -> dict[str, int]:
        """Contrastive training of the encoder, saved to `target`; returns the pairs drawn."""
        with optional("The setfit strategy"):
            from datasets import Dataset
            from setfit import SetFitModel, Trainer, TrainingArguments

        settings = self.config
        texts = job.train_inputs
        assert job.train.label_ids is not None  # training rows always carry targets
        first_row: dict[int, int] = {}  # one label per text: with --stride a text's windows repeat it
        for row, doc in enumerate(job.train.doc_ids or range(len(texts))):
            first_row.setdefault(doc, row)
        labels = [job.labels[job.train.label_ids[first_row[doc]]] for doc in range(len(texts))]
        iterations = max(1, min(settings.iterations, settings.max_pairs // (2 * len(texts))))
        model = SetFitModel.from_pretrained(
            str(job.model_path), trust_remote_code=False, device=str(job.placement.device)
        )
        args = TrainingArguments(
            output_dir=str(job.workdir / "setfit-checkpoints"),
            batch_size=settings.batch_size,
            max_length=job.max_length,
            num_epochs=settings.body_epochs,
            num_iterations=iterations,
            body_learning_rate=settings.body_lr,
            seed=job.config.seed,
            report_to="none",
            show_progress_bar=True,
            save_strategy="no",
            logging_strategy="no",
        )
        logging.getLogger("setfit").setLevel(logging.WARNING)
        trainer = Trainer(
            model=model, args=args, train_dataset=Dataset.from_dict({"text": list(texts), "label": labels})
        )
        # stdout stays for --json (the trainer prints loss lines). lean_steps: on a CPU, attention
        # that keeps no probabilities; at 512 tokens the 12-layer e5-small's pairs outgrew 24 GiB without it.
        with contextlib.redirect_stdout(sys.stderr), lean_steps(model.model_body):
            trainer.train_embeddings(*trainer.dataset_to_parameters(trainer.train_dataset), args=args)
        # The tuned transformer as a plain Hugging Face folder: the features head is fitted on it.
        body = model.model_body[0]
        body.auto_model.save_pretrained(target)
        body.tokenizer.save_pretrained(target)
        return {"pairs": 2 * iterations * len(texts), "iterations": iterations}
