"""BitFit (Ben Zaken et al. 2022): only the bias terms of the encoder train, with the new head."""

from __future__ import annotations

from typing_extensions import override

from headstart.models.classifiers import TextClassifier
from headstart.strategies.base import EncoderTuning, layer_depths, register_strategy
from headstart.training.job import TrainingJob


@register_strategy
class BitFit(EncoderTuning):
    """Only the encoder's biases and the new head train."""

    name = "bitfit"
    summary = "Only biases train (plus the classification head): ~0.1 % of the weights, little forgetting."
    default_lr = 1e-3

    @override
    def build(self, job: TrainingJob) -> TextClassifier:
        model = super().build(job)
        depths = layer_depths(model)
        for name, parameter in model.named_parameters():
            parameter.requires_grad = name.endswith(".bias") or depths[name] == 0
        return model
