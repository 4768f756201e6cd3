"""Parameter-efficient tuning through `peft`: the encoder is frozen, small added weights and the
head train, and after training the added weights are merged in, so the saved model is a plain
transformers model that runs without peft."""

from __future__ import annotations

from abc import abstractmethod

from peft import PeftConfig, get_peft_model
from typing_extensions import override

from headstart.models.classifiers import SequenceClassifier, TextClassifier
from headstart.strategies.base import EncoderTuning
from headstart.training.job import Fitted, TrainingJob


class PeftTuning(EncoderTuning):
    """A peft method on a frozen encoder; the added weights are merged in after training."""

    tasks = frozenset(
        {"classification", "multi-label", "regression"}
    )  # peft's sequence-classification wrapper

    @abstractmethod
    def peft_config(self, modules_to_save: list[str] | None) -> PeftConfig:
        """The peft method and its settings (task_type SEQ_CLS keeps the new head trainable;
        `modules_to_save` train fully besides it)."""

    @override
    def build(self, job: TrainingJob) -> TextClassifier:
        classifier = super().build(job)
        assert isinstance(classifier, SequenceClassifier)
        # BERT's pooler (dense + tanh over [CLS]) belongs to the classification head: it must train
        # with it, or the head sees a frozen, often barely trained projection.
        pooler = any(name.endswith("pooler.dense") for name, _ in classifier.model.named_modules())
        config = self.peft_config(["pooler.dense"] if pooler else None)
        classifier.model = get_peft_model(classifier.model, config)
        return classifier

    @override
    def fit(self, job: TrainingJob) -> Fitted:
        fitted = super().fit(job)
        classifier = fitted.classifier
        assert isinstance(classifier, SequenceClassifier)
        # Count before merging: afterwards the added weights are folded into the frozen ones.
        fitted.report.parameters_trainable = sum(
            p.numel() for p in classifier.parameters() if p.requires_grad
        )
        classifier.model = classifier.model.merge_and_unload()
        return fitted
