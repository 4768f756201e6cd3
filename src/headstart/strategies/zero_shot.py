"""Zero-shot classification: no training. Each label is described in words; a text gets the label
whose description's embedding is closest (cosine) to its own, on the frozen encoder.

Labels of the data serve only to name the classes and to evaluate; with no description given, a
label's own name is its description. A multilingual encoder matches descriptions in one language
to texts in another.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from typing_extensions import override

from headstart.config import option
from headstart.errors import ConfigError
from headstart.models.classifiers import CosineClassifier
from headstart.models.embeddings import embed_texts
from headstart.models.layers import CosineHead
from headstart.strategies.base import Strategy, StrategyConfig, register_strategy
from headstart.strategies.features import frozen_encoder
from headstart.training.job import FitReport, Fitted, TrainingJob


@dataclass
class ZeroShotConfig(StrategyConfig):
    """How labels are described in words."""

    descriptions: dict = option(
        {}, "Label → description, e.g. {sport: 'football, tennis and athletics'}; default: the label's name."
    )
    template: str = option("{}", "Pattern a description is put into, e.g. 'This news article is about {}.'")
    scale: float = option(
        20.0, "Cosine similarities are multiplied by this before the softmax (sharper probabilities)."
    )

    def __post_init__(self) -> None:
        if "{}" not in self.template:
            raise ValueError(f"template must contain {{}} where the description goes, got {self.template!r}")


@register_strategy
class ZeroShot(Strategy):
    """Cosine similarity to label descriptions: nothing trains."""

    name = "zero-shot"
    summary = (
        "No training: the label whose description (in words) "
        "embeds closest to the text, on the frozen encoder."
    )
    config_class = ZeroShotConfig
    config: ZeroShotConfig
    tasks = frozenset({"classification"})
    soft_labels = False

    @override
    def fit(self, job: TrainingJob) -> Fitted:
        unknown = sorted(set(self.config.descriptions) - set(job.labels))
        if unknown:
            raise ConfigError(
                f"Descriptions given for unknown label(s) {unknown}; the labels are {job.labels}."
            )
        encoder = frozen_encoder(job)
        prompts = [
            self.config.template.format(self.config.descriptions.get(label, label)) for label in job.labels
        ]
        label_embeddings = embed_texts(
            encoder, job.tokenizer, prompts, job.max_length, show_progress=False, placement=job.placement
        )
        classifier = CosineClassifier(encoder, CosineHead(label_embeddings, torch.tensor(self.config.scale)))
        return Fitted(
            classifier,
            FitReport(details={"zero_shot": {"prompts": dict(zip(job.labels, prompts, strict=True))}}),
        )
