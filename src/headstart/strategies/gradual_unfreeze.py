"""Gradual unfreezing (ULMFiT, Howard & Ruder 2018): train the head alone first, then unfreeze one
layer group per epoch from the top down, so the new head cannot wreck the lower layers early on."""

from __future__ import annotations

from torch import nn
from typing_extensions import override

from headstart.models.classifiers import TextClassifier
from headstart.strategies.base import EncoderTuning, layer_depths, register_strategy
from headstart.training.job import TrainingJob


@register_strategy
class GradualUnfreeze(EncoderTuning):
    """The head first, then one more layer per epoch from the top."""

    name = "gradual-unfreeze"
    summary = "ULMFiT: epoch 1 trains the head only; each later epoch unfreezes the next layer down."

    @override
    def build(self, job: TrainingJob) -> TextClassifier:
        model = super().build(job)
        self._kept_frozen = {name for name, p in model.named_parameters() if not p.requires_grad}
        return model

    @override
    def on_epoch_start(self, model: nn.Module, epoch: int) -> None:
        # Depth 0 is the head; epoch e trains every group of depth <= e, but what build froze
        # (--freeze-embeddings). Single-process only: DistributedDataParallel needs the trainable
        # set fixed when it wraps the model.
        for name, depth in layer_depths(model).items():
            model.get_parameter(name).requires_grad = depth <= epoch and name not in self._kept_frozen
