"""A finished run directory: its files checked and loaded into a `Run` that predicts and evaluates.

The run's layout (file names, the metrics.json schema) is in `headstart.record`; prediction is
the Predictor's (`headstart.inference`), scoring is `headstart.evaluation`'s.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from headstart.config import TrainConfig
from headstart.data.memory import file_table, is_data_file, is_path, is_table, memory_table
from headstart.data.texts import check_inputs
from headstart.errors import ConfigError, RunError
from headstart.evaluation.conformal import check_coverage, load_calibration, prediction_sets
from headstart.evaluation.languages import transfer_report
from headstart.evaluation.scoring import score, write_evaluation
from headstart.exports import export_run
from headstart.exports.hub import push_run
from headstart.files import folder_size
from headstart.inference.embeddings import head_inputs
from headstart.inference.explain import Explanation, explain
from headstart.inference.predictor import Predictor, load_predictor
from headstart.preparation import prediction_inputs, prepare_labelled
from headstart.record import (
    CONFIG_FILE,
    ENSEMBLE_FILE,
    LABELS_FILE,
    RUN_FILES,
    TASK_FILE,
    VARIANTS_DIR,
    RunRecord,
    read_record,
)
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
        self._calibration: np.ndarray | None = None  # conformal scores, read on first use

    @classmethod
    def load(
        cls, path: str | Path, variant: str = "fp32", device: str = "auto", precision: str = "fp32"
    ) -> Run:
        """A run directory; `variant` picks the model: fp32 (as trained), int8 or onnx-int8 (see
        `headstart quantize`). It runs on `device` (auto: a GPU when torch sees one; the int8
        variant on the CPU), at `precision` (fp16/bf16 on GPUs only)."""
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
        predictor = load_predictor(path, variant, device, precision)
        return cls(path, config, labels, read_record(path), predictor)

    @property
    def task(self) -> Task:
        """What the run predicts: its classes, labels, values or tags."""
        return self.predictor.task

    @property
    def head_labels(self) -> dict[str, list[str]]:
        """Class names of every head: 'label' first, then each further column of a multi-task run."""
        return self.predictor.head_labels

    def inputs(self, data: Any, text_col: str | None = None, text_pair_col: str | None = None) -> list[Any]:
        """What to predict for: texts (or pairs, or word lists) as they are; one text; or the text
        column(s) of a file, a pandas DataFrame or a `datasets.Dataset`. Anything but text is
        refused with a DataError."""
        if isinstance(data, str) and not is_data_file(data):
            return check_inputs([data])
        if is_data_file(data):
            table = file_table(data, self.config.encoding, self.config.delimiter)
        elif is_table(data):
            table = memory_table(data)
        else:  # a list, tuple, Series or array of inputs
            return check_inputs(list(data))
        return check_inputs(prediction_inputs(self.config, table, text_col, text_pair_col))

    def predict_proba(self, inputs: Any, show_progress: bool = True) -> np.ndarray:
        """Probabilities, one row per input and one column per label in `self.labels` order (independent
        per label for a multi-label run). Inputs are as `inputs` takes them: texts, or (text, second
        text) tuples for a run trained on sentence pairs, or a table of them."""
        if self.task.name == "regression":
            raise ConfigError("A regression run predicts numbers, not probabilities; use predict().")
        probabilities: np.ndarray = self.predictor.outputs(self.inputs(inputs), show_progress)
        return probabilities

    def predict(self, inputs: Any, show_progress: bool = True) -> list[Any]:
        """A class per input; a tuple of labels (multi-label); a number (regression); or for NER the
        entities of each text: {"start", "end", "label", "text", "score"} with character offsets.
        Inputs are as `inputs` takes them."""
        return self.predictor.predict(self.inputs(inputs), show_progress)

    def prediction_sets(
        self, inputs: Any, coverage: float = 0.9, show_progress: bool = True
    ) -> list[list[str]]:
        """Per input, the labels that hold the true one with probability `coverage` (split conformal,
        calibrated on dev when the run trained; see `headstart.evaluation.conformal`), most probable
        first. A set that is not one label (several, or none) marks a text the model is unsure of."""
        check_coverage(coverage)
        return self.label_sets(self.predict_proba(inputs, show_progress), coverage)

    def check_label_sets(self, coverage: float) -> None:
        """Refuse, before anything is predicted, a coverage or a run that gives no label sets."""
        self.label_sets(np.empty((0, len(self.labels))), coverage)

    def label_sets(self, probabilities: np.ndarray, coverage: float) -> list[list[str]]:
        """`prediction_sets` from probabilities already predicted (one column per label, in
        `self.labels` order)."""
        check_coverage(coverage)
        if self.task.name != "classification":
            raise ConfigError(
                f"--coverage gives sets of classes; this run predicts {self.task.name}. Drop --coverage."
            )
        if self._calibration is None:  # read once: a server asks at every request
            self._calibration = load_calibration(self.path)
        return prediction_sets(probabilities, self.labels, self._calibration, coverage)

    def explain(
        self, inputs: Any, method: str | None = None, label: str | None = None, steps: int = 32
    ) -> list[Explanation]:
        """A score per word of each text for `label` (default: the predicted one): Integrated
        Gradients (`ig`, `steps` of them) for runs trained end to end by gradients, else occlusion
        (the label's probability lost when the word is erased). See `headstart.inference.explain`."""
        texts = self.inputs(inputs)
        if any(not isinstance(text, str) for text in texts):
            raise ConfigError("Explanations are for runs on single texts, not on sentence pairs.")
        return explain(self.predictor, texts, method, label, steps)

    def embed(self, inputs: Any, show_progress: bool = True) -> np.ndarray:
        """One row per input: the vector the run's classification head reads (the pooled encoder
        output, the static or TF-IDF vector; TF-IDF's cut to 256 dimensions by a seeded random
        projection). Inputs are as `inputs` takes them."""
        return head_inputs(self.predictor, self.inputs(inputs), show_progress)[0]

    def predict_heads(self, inputs: Any, show_progress: bool = True) -> dict[str, list[str]]:
        """Predicted labels of every head, by column name; a multi-task run answers for all its columns."""
        probabilities = self.predictor.predict_heads(self.inputs(inputs), show_progress)
        return {
            name: [self.head_labels[name][i] for i in probs.argmax(axis=1)]
            for name, probs in probabilities.items()
        }

    def export(self, out: str | Path, fmt: str | None = None, overwrite: bool = False) -> Path:
        """Write the run as a folder the user's own stack loads: `transformers`,
        `sentence-transformers` or `onnx` (default: the one that suits the run; see
        `headstart.exports`)."""
        return export_run(self.path, fmt, out, overwrite)

    def push(
        self,
        repo_id: str,
        fmt: str | None = None,
        private: bool = False,
        token: str | None = None,
        local_dir: str | Path | None = None,
    ) -> str:
        """Upload the run's export to the Hugging Face Hub (`local_dir`: write it there instead);
        returns the repository's URL or the folder."""
        return push_run(self.path, repo_id, fmt, private, token, local_dir)

    def evaluate(
        self,
        data: Any = None,
        text_col: str | None = None,
        label_col: str | None = None,
        out: str | Path | None = None,
        text_pair_col: str | None = None,
        pseudonymize: str | None = None,
        *,
        texts: Sequence[Any] | None = None,
        labels: Sequence[Any] | None = None,
        text_pairs: Sequence[str] | None = None,
        encoding: str | None = None,
        delimiter: str | None = None,
    ) -> dict[str, Any]:
        """Metrics on labelled data: a file, a DataFrame, a `datasets.Dataset`, or `texts=` and
        `labels=` lists. They are written to `out` (default: <run>/evaluations/<file name>, or
        memory-<hash> for data from memory). Texts are pseudonymized with `pseudonymize` (a key
        file), or with the run's own key when it was trained so."""
        if is_path(data):
            table = file_table(data, encoding or self.config.encoding, delimiter or self.config.delimiter)
            name = Path(data).stem
        else:
            table = memory_table(data, texts=texts, labels=labels, text_pairs=text_pairs)
            name = f"memory-{table.fingerprint()}"
        labelled = prepare_labelled(
            self.config, table, self.task, text_col, label_col, text_pair_col, pseudonymize
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
        target = Path(out) if out is not None else self.path / "evaluations" / name
        title = f"{Path(data).name if is_path(data) else table.source}: confusion matrix"
        write_evaluation(target, metrics, self.labels, title)
        return metrics


def run_facts(path: str | Path) -> dict[str, Any]:
    """What a run is, read from its files without loading the model: task, labels, encoder,
    strategy, data, test metrics, variants, size, and how to load it."""
    path = Path(path)
    if not (path / CONFIG_FILE).is_file():
        raise RunError(
            f"'{path}' is not a headstart run (no {CONFIG_FILE}); pass the --out folder of `headstart train`."
        )
    config = TrainConfig.from_yaml(path / CONFIG_FILE)
    record = read_record(path)
    task = json.loads((path / TASK_FILE).read_text(encoding="utf-8")) if (path / TASK_FILE).is_file() else {}
    variants = ["fp32", "int8"] + sorted(p.name for p in (path / VARIANTS_DIR).glob("*") if p.is_dir())
    members = record.get("members")
    return {
        "run": str(path),
        "kind": "ensemble" if members else "model",
        "task": task.get("name", config.task),
        "labels": json.loads((path / LABELS_FILE).read_text(encoding="utf-8")),
        "model": config.model,
        "strategy": config.strategy,
        "max_length": config.max_length,
        "data": config.data or config.dataset or config.annotations or config.in_memory,
        "fingerprint": record.get("data", {}).get("fingerprint"),
        "test": {name: value for name, value in record.get("test", {}).items() if isinstance(value, float)},
        "variants": variants if not members else ["fp32"],
        "size_bytes": folder_size(path),
        "members": [member["run"] for member in members or []],
        "load": {
            "python": f"headstart.load_run({str(path)!r})",
            "cli": f"headstart predict {path} texts.csv -o out.csv",
        },
    }


def load_run(path: str | Path, variant: str = "fp32", device: str = "auto", precision: str = "fp32") -> Run:
    """Load a run directory written by `headstart train`; see `Run.load`."""
    return Run.load(path, variant, device, precision)
