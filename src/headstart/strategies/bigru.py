"""The recurrent baseline: a bidirectional GRU (or LSTM) over the run tokenizer's tokens, trained
from scratch by the shared loop, with token embeddings taken from the encoder's input embeddings
(the only part of the encoder it uses) or drawn at random."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from typing_extensions import override

from headstart.config import option
from headstart.models.classifiers import TextClassifier, load_encoder
from headstart.models.recurrent import CELLS, RecurrentClassifier
from headstart.strategies.base import EncoderTuning, StrategyConfig, register_strategy
from headstart.training.job import TrainingJob


@dataclass
class BiGruConfig(StrategyConfig):
    """Options of the recurrent model."""

    cell: str = option("gru", "Recurrent cell: gru or lstm.")
    hidden: int = option(128, "Hidden units per direction.")
    layers: int = option(1, "Stacked bidirectional layers.")
    dropout: float = option(0.2, "Dropout on the token embeddings and on the states.")
    embeddings: str = option(
        "encoder", "Initial token embeddings: the encoder's input embeddings (encoder) or random."
    )

    def __post_init__(self) -> None:
        if self.cell not in CELLS or self.embeddings not in ("encoder", "random"):
            raise ValueError(
                f"cell must be one of {sorted(CELLS)} and embeddings encoder or random; got "
                f"{self.cell!r} and {self.embeddings!r}"
            )
        if self.hidden < 1 or self.layers < 1 or not 0 <= self.dropout < 1:
            raise ValueError(
                f"hidden and layers must be at least 1 and dropout in [0, 1); got {self.hidden}, "
                f"{self.layers} and {self.dropout}"
            )


@register_strategy
class BiGru(EncoderTuning):
    """A bidirectional recurrent network trained through the shared loop."""

    name = "bigru"
    trains_encoder = False  # no encoder layer trains (only, optionally, the token embeddings)
    summary = (
        "Baseline without a pretrained network: a bidirectional GRU (or LSTM) over the tokenizer's "
        "tokens, embeddings from the encoder's input embeddings or random, trained by the shared loop."
    )
    config_class = BiGruConfig
    config: BiGruConfig
    default_lr = 2e-3  # a network trained from scratch takes larger steps than fine-tuning

    @override
    def build(self, job: TrainingJob) -> TextClassifier:
        table = load_encoder(job.model_path, job.config.allow_pickle).get_input_embeddings().weight.detach()
        if self.config.embeddings == "random":
            table = torch.randn(table.shape, generator=torch.Generator().manual_seed(job.config.seed)) * 0.1
        classifier = RecurrentClassifier(
            table,
            job.task.outputs,
            self.config.cell,
            self.config.hidden,
            self.config.layers,
            self.config.dropout,
            job.task.token_level,
        )
        if job.config.freeze_embeddings:
            classifier.embedding.weight.requires_grad_(False)
        return classifier
