"""Frozen encoder, every layer used: a learned softmax-weighted mix of all hidden layers (ELMo's
scalar mix) feeds the head. Layer outputs are computed once and cached, so epochs cost little."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from typing_extensions import override

from headstart.config import option
from headstart.models.classifiers import LayerMixClassifier
from headstart.models.layers import ScalarMixHead
from headstart.strategies.base import Strategy, StrategyConfig, register_strategy
from headstart.strategies.features import frozen_embeddings
from headstart.training.job import FitReport, Fitted, TrainingJob
from headstart.training.loop import make_optimizer


@dataclass
class FeaturesMixConfig(StrategyConfig):
    """Options of the layer-mix head's training."""

    epochs: int = option(60, "Passes over the cached layer outputs.")
    lr: float = option(3e-3, "AdamW learning rate of the mix and the head.")
    weight_decay: float = option(0.01, "AdamW weight decay of the head.")
    batch_size: int = option(64, "Texts per step.")
    patience: int = option(
        10, "Stop after this many epochs without a better dev score (the task's main metric)."
    )

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.lr <= 0 or self.batch_size < 1 or self.patience < 0:
            raise ValueError("need epochs >= 1, lr > 0, batch_size >= 1 and patience >= 0")


@register_strategy
class FeaturesMix(Strategy):
    """A frozen encoder's layers mixed by learned weights, with a head."""

    name = "features-mix"
    summary = (
        "Frozen encoder: a learned softmax mix of all layers "
        "(ELMo scalar mix) feeds the head; layer outputs cached."
    )
    config_class = FeaturesMixConfig
    config: FeaturesMixConfig
    tasks = frozenset({"classification", "multi-label", "regression"})  # a head over pooled text vectors

    @override
    def fit(self, job: TrainingJob) -> Fitted:
        settings, config = self.config, job.config
        encoder, train_x, dev_x = frozen_embeddings(job, layers=True)
        train_y = torch.tensor(job.train.label_ids)

        head = ScalarMixHead(train_x.shape[1], train_x.shape[2], job.task.outputs)
        optimizer = make_optimizer(head.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
        generator = torch.Generator().manual_seed(config.seed)
        best_state, best_score, without_gain = head.state_dict(), -np.inf, 0
        history: list[dict[str, Any]] = []
        for epoch in range(settings.epochs):
            head.train()
            for batch in torch.randperm(len(train_x), generator=generator).split(settings.batch_size):
                loss = job.task.loss(head(train_x[batch]), train_y[batch])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            head.eval()
            with torch.inference_mode():
                score = job.dev_scores(job.dev_outputs(head(dev_x)))["score"]
            history.append(
                {
                    "epoch": epoch + 1,
                    f"dev_{job.task.primary_metric}": score,
                    "mix_weights": np.round(head.mix_weights().detach().numpy(), 4).tolist(),
                }
            )
            if score > best_score:
                best_state, best_score, without_gain = copy.deepcopy(head.state_dict()), score, 0
            else:
                without_gain += 1
                if settings.patience and without_gain >= settings.patience:
                    break
        head.load_state_dict(best_state)
        mix_weights = np.round(head.mix_weights().detach().numpy(), 4).tolist()
        report = FitReport(
            history=history,
            best_dev_score=float(best_score),
            samples_seen=len(job.train) * len(history),
            details={"mix_weights": mix_weights},
        )
        return Fitted(LayerMixClassifier(encoder, head), report)
