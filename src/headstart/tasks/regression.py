"""A number per text."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import mean_absolute_error, mean_squared_error
from typing_extensions import override

from headstart.tasks.base import Task


class Regression(Task):
    """A number per text: one output trained with MSE on standardised targets (so the learning
    rate suits any scale), and turned back to the data's scale on prediction."""

    name = "regression"
    primary_metric = "spearman"

    def __init__(self, classes: list[str] | None = None, mean: float = 0.0, scale: float = 1.0) -> None:
        super().__init__([])
        self.mean, self.scale = mean, scale

    @property
    @override
    def outputs(self) -> int:
        return 1

    def fit_scale(self, values: list[float]) -> None:
        """Standardise targets with the mean and spread of these values."""
        self.mean = float(np.mean(values))
        self.scale = float(np.std(values)) or 1.0

    @override
    def targets(self, labels: list[float]) -> list[float]:
        return [(value - self.mean) / self.scale for value in labels]

    @override
    def loss(
        self, logits: torch.Tensor, targets: torch.Tensor, class_weights: torch.Tensor | None = None
    ) -> torch.Tensor:
        return F.mse_loss(logits.squeeze(-1), targets.float())

    @override
    def predict(self, logits: torch.Tensor) -> np.ndarray:
        return logits.squeeze(-1).numpy() * self.scale + self.mean

    @override
    def decide(self, outputs: np.ndarray) -> list[float]:
        return [float(value) for value in outputs]

    @override
    def metrics(self, outputs: np.ndarray, labels: list[float]) -> dict[str, Any]:
        truth = np.asarray(labels, dtype=float)
        constant = np.ptp(outputs) == 0 or np.ptp(truth) == 0  # correlation is undefined
        return {
            "examples": int(len(truth)),
            "pearson": 0.0 if constant else float(pearsonr(truth, outputs)[0]),
            "spearman": 0.0 if constant else float(spearmanr(truth, outputs)[0]),
            "mse": float(mean_squared_error(truth, outputs)),
            "mae": float(mean_absolute_error(truth, outputs)),
        }

    @override
    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "classes": [], "mean": self.mean, "scale": self.scale}
