"""A finished run directory: its files checked and loaded into a `Run` that predicts and evaluates.

The run's layout (file names, the metrics.json schema) is in `headstart.record`; prediction is
the Predictor's (`headstart.inference`), scoring is `headstart.evaluation`'s.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from headstart.config import TrainConfig
from headstart.errors import ConfigError, RunError
from headstart.evaluation.languages import transfer_report
from headstart.evaluation.scoring import score, write_evaluation
from headstart.inference.predictor import Inputs, Predictor, load_predictor
from headstart.preparation import prepare_labelled
from headstart.record import CONFIG_FILE, ENSEMBLE_FILE, LABELS_FILE, RUN_FILES, RunRecord, read_record
from headstart.tasks import Task


class Run:
    """A trained classifier with its config, labels and record (metrics.json), as saved by
    `headstart train` (or `headstart ensemble`)."""

    def __init__(
        self, path: Path, config: TrainConfig, labels: list[str], metrics: RunRecord, predictor: Predictor
    ) -> None:
        self.path = path
        self.config = config
        self.labels = labels
        self.metrics = metrics
        self.predictor = predictor

    @classmethod
    def load(cls, path: str | Path, variant: str = "fp32") -> Run:
        """A run directory; `variant` picks the model: fp32 (as trained), int8 or onnx-int8 (see
        `headstart quantize`)."""
        path = Path(path)
        if not path.is_dir():
            raise RunError(
                f"Run directory '{path}' does not exist; pass the --out folder of `headstart train`."
            )
        if not (path / ENSEMBLE_FILE).is_file():
            missing = [name for name in RUN_FILES if not (path / name).is_file()]
            if missing:
                raise RunError(
                    f"'{path}' is not a complete headstart run (missing "
                    f"{missing}); retrain or pick another folder."
                )
        config = TrainConfig.from_yaml(path / CONFIG_FILE)
        labels = json.loads((path / LABELS_FILE).read_text(encoding="utf-8"))
        return cls(path, config, labels, read_record(path), load_predictor(path, variant))

    @property
    def task(self) -> Task:
        """What the run predicts: its classes, labels, values or tags."""
        return self.predictor.task

    @property
    def head_labels(self) -> dict[str, list[str]]:
        """Class names of every head: 'label' first, then each further column of a multi-task run."""
        return self.predictor.head_labels

    def predict_proba(self, inputs: Inputs, show_progress: bool = True) -> np.ndarray:
        """Probabilities, one row per input and one column per label in `self.labels` order (independent
        per label for a multi-label run). Inputs are texts, or (text, second text) tuples for a run
        trained on sentence pairs."""
        if self.task.name == "regression":
            raise ConfigError("A regression run predicts numbers, not probabilities; use predict().")
        probabilities: np.ndarray = self.predictor.outputs(list(inputs), show_progress)
        return probabilities

    def predict(self, inputs: Inputs, show_progress: bool = True) -> list[Any]:
        """A class per input; a tuple of labels (multi-label); a number (regression); or for NER the
        entities of each text: {"start", "end", "label", "text", "score"} with character offsets."""
        return self.predictor.predict(inputs, show_progress)

    def predict_heads(self, inputs: Inputs, show_progress: bool = True) -> dict[str, list[str]]:
        """Predicted labels of every head, by column name; a multi-task run answers for all its columns."""
        probabilities = self.predictor.predict_heads(list(inputs), show_progress)
        return {
            name: [self.head_labels[name][i] for i in probs.argmax(axis=1)]
            for name, probs in probabilities.items()
        }

    def evaluate(
        self,
        data: str | Path,
        text_col: str | None = None,
        label_col: str | None = None,
        out: str | Path | None = None,
        text_pair_col: str | None = None,
        pseudonymize: str | None = None,
    ) -> dict[str, Any]:
        """Metrics on a labelled file; written to `out` (default: <run>/evaluations/<file name>). Texts are
        pseudonymized with `pseudonymize` (a key file), or with the run's own key when it was trained so."""
        labelled = prepare_labelled(
            self.config, data, self.task, text_col, label_col, text_pair_col, pseudonymize
        )
        metrics = score(self.task, self.predictor.outputs(labelled.inputs()), labelled)
        metric = self.task.primary_metric
        transfer = transfer_report(
            self.metrics.get("data", {}).get("languages"),
            metrics["languages"],
            self.metrics.get("test", {}).get(metric),
            metrics[metric],
            metric,
        )
        if transfer is not None:
            metrics["transfer"] = transfer
        target = Path(out) if out is not None else self.path / "evaluations" / Path(data).stem
        write_evaluation(target, metrics, self.labels, f"{Path(data).name}: confusion matrix")
        return metrics


def load_run(path: str | Path, variant: str = "fp32") -> Run:
    """Load a run directory written by `headstart train`; see `Run.load`."""
    return Run.load(path, variant)
