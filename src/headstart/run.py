"""A finished run directory: load it, predict with it, evaluate it."""

from __future__ import annotations

import functools
import json
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import AutoTokenizer

from headstart.compression.variants import load_variant
from headstart.config import TrainConfig, write_text_atomic
from headstart.data.dataset import LabelledTexts, label_format_for, label_names, load_labelled
from headstart.data.ner import joined_words, words_and_offsets
from headstart.errors import ConfigError, DataError, RunError
from headstart.evaluation.languages import language_counts, metrics_by_language, transfer_report
from headstart.evaluation.plots import plot_confusion_matrix
from headstart.models.classifiers import MultiTaskClassifier
from headstart.tasks import Classification, NamedEntities, Task, task_from_dict
from headstart.training.batching import Windowing, encode, encode_words, forward_in_batches, split_pairs

Inputs = Sequence[str] | Sequence[tuple[str, str]]  # texts, or (text, second text) pairs
RUN_FILES = ("config.yaml", "labels.json", "metrics.json", "model/classifier.json")
ENSEMBLE_FILE = "ensemble.json"
TASK_FILE = "task.json"


def load_tokenizer(path: Path):  # noqa: ANN201 - a transformers tokenizer
    return AutoTokenizer.from_pretrained(path, trust_remote_code=False)


class Predictor:
    """Inputs in, the task's outputs out (probabilities or values): tokenise, sort by length, batch.
    `classifier` is any variant of a run's model: (input_ids, attention_mask) → logits."""

    def __init__(self, classifier: torch.nn.Module, tokenizer: Any, task: Task, window: Windowing, batch_size: int = 16) -> None:
        self.classifier = classifier.eval()
        self.tokenizer = tokenizer
        self.task = task
        self.window = window
        self.batch_size = batch_size
        # Class names per head: the main label, then a multi-task run's further columns.
        self.head_labels: dict[str, list[str]] = getattr(classifier, "head_labels", {"label": task.classes})

    def outputs(self, inputs: Inputs, show_progress: bool = True, description: str = "Predicting") -> Any:
        """Probabilities or values per input; for NER, tag probabilities per word of each input
        (inputs are word lists, or texts cut into words as `headstart.data.ner.WORD` does)."""
        if self.task.token_level:
            words = [words_and_offsets(text)[0] if isinstance(text, str) else text for text in inputs]
            return self._token_outputs(words, show_progress, description)
        return self.task.predict(self._logits(self.classifier, inputs, show_progress, description))

    def predict_heads(self, inputs: Inputs, show_progress: bool = True, description: str = "Predicting") -> dict[str, Any]:
        """Outputs of every head, by column name (only 'label' unless the run is multi-task)."""
        if not isinstance(self.classifier, MultiTaskClassifier):
            return {"label": self.outputs(inputs, show_progress, description)}
        logits = self._logits(functools.partial(self.classifier, all_heads=True), inputs, show_progress, description)
        return {name: torch.softmax(part, dim=-1).numpy() for name, part in self.classifier.split_logits(logits).items()}

    def _logits(self, forward: Callable[..., torch.Tensor], inputs: Inputs, show_progress: bool, description: str) -> torch.Tensor:
        """One row of logits per input; a long text's windows are pooled into one row."""
        texts, pairs = split_pairs(inputs)
        encoded = encode(self.tokenizer, texts, self.window, pairs=pairs)
        logits = forward_in_batches(forward, encoded, self.batch_size, self.tokenizer.pad_token_id, description, show_progress)
        return encoded.pool(logits, self.window.pool)

    def _token_outputs(self, words: Sequence[list[str]], show_progress: bool, description: str) -> list[np.ndarray]:
        """Tag probabilities per word of each text (token tasks)."""
        encoded = encode_words(self.tokenizer, words, self.window)
        rows = forward_in_batches(self.classifier, encoded, self.batch_size, self.tokenizer.pad_token_id, description,
                                  show_progress, per_token=True)
        return self.task.text_outputs(rows, encoded, self.window.pool)


class EnsemblePredictor:
    """The mean of several predictors' outputs (members may differ in model, strategy, length)."""

    def __init__(self, members: list[Predictor]) -> None:
        self.members = members
        self.task = members[0].task
        self.head_labels = {"label": self.task.classes}

    def outputs(self, inputs: Inputs, show_progress: bool = True, description: str = "Predicting") -> np.ndarray:
        return np.mean([m.outputs(inputs, show_progress, f"{description} ({i + 1}/{len(self.members)})")
                        for i, m in enumerate(self.members)], axis=0)

    def predict_heads(self, inputs: Inputs, show_progress: bool = True, description: str = "Predicting") -> dict[str, Any]:
        return {"label": self.outputs(inputs, show_progress, description)}


class Run:
    """A trained classifier with its config, labels and metrics, as saved by `headstart train`."""

    def __init__(self, path: Path, config: TrainConfig, labels: list[str], metrics: dict[str, Any],
                 predictor: Predictor | EnsemblePredictor) -> None:
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
            raise RunError(f"Run directory '{path}' does not exist; pass the --out folder of `headstart train`.")
        if (path / ENSEMBLE_FILE).is_file():
            return cls._load_ensemble(path, variant)
        missing = [name for name in RUN_FILES if not (path / name).is_file()]
        if missing:
            raise RunError(f"'{path}' is not a complete headstart run (missing {missing}); retrain or pick another folder.")
        config = TrainConfig.from_yaml(path / "config.yaml")
        labels = json.loads((path / "labels.json").read_text(encoding="utf-8"))
        metrics = json.loads((path / "metrics.json").read_text(encoding="utf-8"))
        task_file = path / TASK_FILE
        task = task_from_dict(json.loads(task_file.read_text(encoding="utf-8"))) if task_file.is_file() else Classification(labels)
        classifier = load_variant(path, variant, config.allow_pickle)
        predictor = Predictor(classifier, load_tokenizer(path / "model"), task, Windowing.from_config(config), config.eval_batch_size)
        return cls(path, config, labels, metrics, predictor)

    @classmethod
    def _load_ensemble(cls, path: Path, variant: str) -> Run:
        members = [cls.load(path / member, variant) for member in json.loads((path / ENSEMBLE_FILE).read_text(encoding="utf-8"))["members"]]
        metrics = json.loads((path / "metrics.json").read_text(encoding="utf-8"))
        return cls(path, members[0].config, members[0].labels, metrics, EnsemblePredictor([m.predictor for m in members]))

    @property
    def task(self) -> Task:
        return self.predictor.task

    def predict_proba(self, inputs: Inputs, show_progress: bool = True) -> np.ndarray:
        """Probabilities, one row per input and one column per label in `self.labels` order (independent
        per label for a multi-label run). Inputs are texts, or (text, second text) tuples for a run
        trained on sentence pairs."""
        if self.task.name == "regression":
            raise ConfigError("A regression run predicts numbers, not probabilities; use predict().")
        return self.predictor.outputs(list(inputs), show_progress)

    def predict(self, inputs: Inputs, show_progress: bool = True) -> list[Any]:
        """A class per input; a tuple of labels (multi-label); a number (regression); or for NER the
        entities of each text: {"start", "end", "label", "text", "score"} with character offsets."""
        outputs = self.predictor.outputs(list(inputs), show_progress)
        if not isinstance(self.task, NamedEntities):
            return self.task.decide(outputs)
        found = []
        for given, tags, probs in zip(inputs, self.task.decide(outputs), outputs):
            text, offsets = (given, words_and_offsets(given)[1]) if isinstance(given, str) else joined_words(list(given))
            found.append(self.task.entities(text, offsets, tags, probs))
        return found

    @property
    def head_labels(self) -> dict[str, list[str]]:
        """Class names of every head: 'label' first, then each further column of a multi-task run."""
        return self.predictor.head_labels

    def predict_heads(self, inputs: Inputs, show_progress: bool = True) -> dict[str, list[str]]:
        """Predicted labels of every head, by column name; a multi-task run answers for all its columns."""
        probabilities = self.predictor.predict_heads(list(inputs), show_progress)
        return {name: [self.head_labels[name][i] for i in probs.argmax(axis=1)] for name, probs in probabilities.items()}

    def evaluate(self, data: str | Path, text_col: str | None = None, label_col: str | None = None, out: str | Path | None = None,
                 text_pair_col: str | None = None, pseudonymize: str | None = None) -> dict[str, Any]:
        """Metrics on a labelled file; written to `out` (default: <run>/evaluations/<file name>). Texts are
        pseudonymized with `pseudonymize` (a key file), or with the run's own key when it was trained so."""
        metrics = score_file(self.predictor, self.config, data, text_col, label_col, text_pair_col, pseudonymize)
        metric = self.task.primary_metric
        transfer = transfer_report(self.metrics.get("data", {}).get("languages"), metrics["languages"],
                                   self.metrics.get("test", {}).get(metric), metrics[metric], metric)
        if transfer is not None:
            metrics["transfer"] = transfer
        target = Path(out) if out is not None else self.path / "evaluations" / Path(data).stem
        write_evaluation(target, metrics, self.labels, f"{Path(data).name}: confusion matrix")
        return metrics


def score_file(predictor: Predictor | EnsemblePredictor, config: TrainConfig, data: str | Path, text_col: str | None = None,
               label_col: str | None = None, text_pair_col: str | None = None, pseudonymize: str | None = None) -> dict[str, Any]:
    """The task's metrics of `predictor` on a labelled file (read as the run's training data was:
    the same columns unless others are named)."""
    task = predictor.task
    labelled = load_labelled(str(data), text_col or config.text_col, label_col or config.label_col,
                             pair_col=text_pair_col or config.text_pair_col,
                             pairs_expected=config.text_pair_col is not None, label_format=label_format_for(config))
    key = pseudonymize or config.pseudonymize
    if key is not None:
        from headstart.privacy.pseudonyms import Pseudonymizer, load_names_run, pseudonymize_texts, read_key

        labelled = pseudonymize_texts(labelled, Pseudonymizer(read_key(key), load_names_run(config.pseudonymize_names)))
    unseen = sorted(set(label_names(labelled.labels, task.name)) - set(task.classes)) if task.classes else []
    if unseen:
        raise DataError(f"'{Path(data).name}' has label(s) {unseen[:5]} never seen in training (known: {task.classes}); fix the labels or retrain.")
    outputs = predictor.outputs(labelled.inputs())
    return {**task.metrics(outputs, labelled.labels), **language_metrics(task, outputs, labelled)}


def language_metrics(task: Task, outputs: Any, labelled: LabelledTexts) -> dict[str, Any]:
    """The data's languages, and metrics per language when it holds several."""
    languages = labelled.languages()
    by_language = metrics_by_language(task, outputs, labelled.labels, languages)
    return {"languages": language_counts(languages), **({"by_language": by_language} if by_language else {})}


def write_evaluation(target: Path, metrics: dict[str, Any], labels: list[str], title: str) -> None:
    staging = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    write_text_atomic(staging / "metrics.json", json.dumps(metrics, indent=2))
    if "confusion_matrix" in metrics:
        plot_confusion_matrix(metrics["confusion_matrix"], labels, staging / "confusion_matrix.png", title)
    replace_dir(staging, target)


def replace_dir(new: Path, target: Path) -> None:
    """Move a finished folder into place; an older folder there is removed only after the swap."""
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    if target.exists():
        os.replace(target, old)
    os.replace(new, target)
    shutil.rmtree(old, ignore_errors=True)


def load_run(path: str | Path, variant: str = "fp32") -> Run:
    return Run.load(path, variant)
