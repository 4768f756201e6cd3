"""The task interface: what a model predicts for a text, and how that is trained and scored."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
import torch

from headstart.encoding import Encoded


class Task(ABC):
    """A task turns labels into training targets, names the loss, turns logits into outputs
    (probabilities or values) and decisions, and scores them. `to_dict` is saved as task.json.

    Outputs are an array (texts × outputs) for text tasks, and a list of (words × tags) arrays,
    one per text, for token tasks.
    """

    name: ClassVar[str]
    primary_metric: ClassVar[str]  # chooses epochs and hyper-parameters on dev; higher is better
    learns_decision: ClassVar[bool] = False  # True when fit_decision learns something from dev outputs
    token_level: ClassVar[bool] = False  # True when the model gives logits per token, not per text

    def __init__(self, classes: list[str]) -> None:
        self.classes = classes  # class or label names (none for regression)

    @property
    def outputs(self) -> int:
        """Number of logits the model gives per text."""
        return len(self.classes)

    @abstractmethod
    def targets(self, labels: list[Any]) -> list[Any]:
        """What the loss compares the logits with, per row."""

    @abstractmethod
    def loss(
        self, logits: torch.Tensor, targets: torch.Tensor, class_weights: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The training loss of a batch."""

    @abstractmethod
    def predict(self, logits: torch.Tensor) -> np.ndarray:
        """Model outputs as people read them: probabilities, or values."""

    @abstractmethod
    def decide(self, outputs: Any) -> list[Any]:
        """Predicted labels (or values) from `predict`'s outputs."""

    @abstractmethod
    def metrics(self, outputs: Any, labels: list[Any]) -> dict[str, Any]:
        """Test metrics of outputs against true labels; holds `primary_metric`."""

    def text_outputs(self, rows: torch.Tensor | list[torch.Tensor], encoded: Encoded, pool: str) -> Any:
        """Outputs per text from one row of logits per encoded row (a long text's windows pooled)."""
        logits = torch.stack(rows) if isinstance(rows, list) else rows
        return self.predict(encoded.pool(logits, pool))

    def fit_decision(self, outputs: Any, labels: list[Any]) -> None:  # noqa: B027 - most tasks learn nothing
        """Learn what turns outputs into decisions from dev data (nothing by default)."""

    def to_dict(self) -> dict[str, Any]:
        """What task.json holds: enough to rebuild the task, learnt decisions included."""
        return {"name": self.name, "classes": self.classes}
