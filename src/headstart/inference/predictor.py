"""The Predictor: inputs in, the task's outputs (probabilities, values, tag scores) and decisions out.

It tokenises, sorts by length, batches and pools windows, for any variant of a run's model
(fp32, int8, onnx-int8), and `load_predictor` builds it from a run directory's files.
"""

from __future__ import annotations

import functools
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from typing_extensions import override

from headstart.config import TrainConfig
from headstart.data.ner import joined_words, words_and_offsets
from headstart.devices import CPU, Placement
from headstart.encoding import (
    Windowing,
    encode,
    encode_words,
    forward_in_batches,
    forward_per_token,
    split_pairs,
)
from headstart.errors import ConfigError
from headstart.models.classifiers import MultiTaskClassifier
from headstart.models.variants import load_variant, resolve_variant
from headstart.models.zoo import load_tokenizer
from headstart.record import CONFIG_FILE, ENSEMBLE_FILE, LABELS_FILE, MODEL_DIR, TASK_FILE
from headstart.tasks import Classification, NamedEntities, Task, task_from_dict

Inputs = Sequence[Any]  # texts, (text, second text) pairs, or word lists (NER)


class Predictor(ABC):
    """What every predictor offers: the task's outputs of inputs, decisions, and every head's outputs."""

    task: Task
    head_labels: dict[str, list[str]]  # class names per head: 'label' first, then a multi-task run's columns
    placement: Placement  # where the model runs

    @abstractmethod
    def outputs(self, inputs: Inputs, show_progress: bool = True, description: str = "Predicting") -> Any:
        """Probabilities or values per input; for NER, tag probabilities per word of each input
        (inputs are word lists, or texts cut into words as `headstart.data.ner.WORD` does)."""

    def predict(self, inputs: Inputs, show_progress: bool = True) -> list[Any]:
        """A decision per input: a class, a tuple of labels, a number, or for NER the entities of
        each text ({"start", "end", "label", "text", "score"} with character offsets)."""
        inputs = list(inputs)
        outputs = self.outputs(inputs, show_progress)
        if not isinstance(self.task, NamedEntities):
            return self.task.decide(outputs)
        found = []
        for given, tags, probs in zip(inputs, self.task.decide(outputs), outputs, strict=True):
            text, offsets = (
                (given, words_and_offsets(given)[1]) if isinstance(given, str) else joined_words(list(given))
            )
            found.append(self.task.entities(text, offsets, tags, probs))
        return found

    def predict_heads(
        self, inputs: Inputs, show_progress: bool = True, description: str = "Predicting"
    ) -> dict[str, Any]:
        """Outputs of every head, by column name (only 'label' unless the run is multi-task)."""
        return {"label": self.outputs(inputs, show_progress, description)}


class ModelPredictor(Predictor):
    """One model: tokenise, sort by length, batch, pool a long text's windows. `classifier` is any
    variant of a run's model: (input_ids, attention_mask) → logits."""

    def __init__(
        self,
        classifier: torch.nn.Module,
        tokenizer: Any,
        task: Task,
        window: Windowing,
        batch_size: int = 16,
        placement: Placement = CPU,
    ) -> None:
        self.classifier = classifier.eval().to(placement.device)
        self.tokenizer = tokenizer
        self.task = task
        self.window = window
        self.batch_size = max(batch_size, getattr(classifier, "inference_batch_size", 0))
        self.placement = placement
        self.head_labels = getattr(classifier, "head_labels", {"label": task.classes})

    @override
    def outputs(self, inputs: Inputs, show_progress: bool = True, description: str = "Predicting") -> Any:
        if self.task.token_level:
            words = [words_and_offsets(text)[0] if isinstance(text, str) else list(text) for text in inputs]
            return self._token_outputs(words, show_progress, description)
        return self.task.predict(self._logits(self.classifier, inputs, show_progress, description))

    @override
    def predict_heads(
        self, inputs: Inputs, show_progress: bool = True, description: str = "Predicting"
    ) -> dict[str, Any]:
        if not isinstance(self.classifier, MultiTaskClassifier):
            return super().predict_heads(inputs, show_progress, description)
        forward = functools.partial(self.classifier, all_heads=True)
        logits = self._logits(forward, inputs, show_progress, description)
        return {
            name: torch.softmax(part, dim=-1).numpy()
            for name, part in self.classifier.split_logits(logits).items()
        }

    def _logits(
        self, forward: Callable[..., torch.Tensor], inputs: Inputs, show_progress: bool, description: str
    ) -> torch.Tensor:
        """One row of logits per input; a long text's windows are pooled into one row."""
        texts, pairs = split_pairs(inputs)
        encoded = encode(self.tokenizer, texts, self.window, pairs=pairs)
        pad_id = self.tokenizer.pad_token_id
        logits = forward_in_batches(
            forward, encoded, self.batch_size, pad_id, description, show_progress, self.placement
        )
        return encoded.pool(logits, self.window.pool)

    def _token_outputs(
        self, words: Sequence[list[str]], show_progress: bool, description: str
    ) -> list[np.ndarray]:
        """Tag probabilities per word of each text (token tasks)."""
        encoded = encode_words(self.tokenizer, words, self.window)
        pad_id = self.tokenizer.pad_token_id
        rows = forward_per_token(
            self.classifier, encoded, self.batch_size, pad_id, description, show_progress, self.placement
        )
        outputs: list[np.ndarray] = self.task.text_outputs(rows, encoded, self.window.pool)
        return outputs


class EnsemblePredictor(Predictor):
    """The mean of several predictors' outputs (members may differ in model, strategy, length)."""

    def __init__(self, members: list[Predictor]) -> None:
        self.members = members
        self.task = members[0].task
        self.placement = members[0].placement
        self.head_labels = {"label": self.task.classes}

    @override
    def outputs(
        self, inputs: Inputs, show_progress: bool = True, description: str = "Predicting"
    ) -> np.ndarray:
        return np.mean(
            [
                member.outputs(inputs, show_progress, f"{description} ({number + 1}/{len(self.members)})")
                for number, member in enumerate(self.members)
            ],
            axis=0,
        )


def load_predictor(
    run_dir: Path, variant: str = "fp32", device: str | torch.device = "auto", precision: str = "fp32"
) -> Predictor:
    """The predictor of a run directory (or of an ensemble of runs) with the named model variant
    (`auto`: the one `headstart quantize` chose, else fp32), on `device` (`auto`: a GPU when there
    is one; the int8 variant runs on the CPU)."""
    ensemble_file = run_dir / ENSEMBLE_FILE
    if ensemble_file.is_file():
        members = json.loads(ensemble_file.read_text(encoding="utf-8"))["members"]
        return EnsemblePredictor(
            [load_predictor(run_dir / member, variant, device, precision) for member in members]
        )
    variant = resolve_variant(run_dir, variant, precision)
    placement = variant_placement(variant, device, precision)
    config = TrainConfig.from_yaml(run_dir / CONFIG_FILE)
    task_file = run_dir / TASK_FILE
    if task_file.is_file():
        task = task_from_dict(json.loads(task_file.read_text(encoding="utf-8")))
    else:  # runs of headstart 0.1 before task.json: single-label classes
        task = Classification(json.loads((run_dir / LABELS_FILE).read_text(encoding="utf-8")))
    classifier = load_variant(run_dir, variant, config.allow_pickle, placement.device)
    tokenizer = load_tokenizer(run_dir / MODEL_DIR)
    window = Windowing.from_config(config)
    return ModelPredictor(classifier, tokenizer, task, window, config.eval_batch_size, placement)


def variant_placement(variant: str, device: str | torch.device, precision: str) -> Placement:
    """Where a variant runs: PyTorch's int8 kernels are CPU-only, so `auto` puts it on the CPU."""
    if variant != "fp32" and precision != "fp32":
        raise ConfigError(f"--precision {precision} applies to the fp32 variant; the {variant} one is int8.")
    if variant == "int8" and device == "auto":
        device = "cpu"
    placement = Placement.of(device, precision)
    if variant == "int8" and placement.device.type != "cpu":
        raise ConfigError(
            f"The int8 variant runs on the CPU only; use --device cpu, or fp32/onnx-int8 on {device}."
        )
    return placement
