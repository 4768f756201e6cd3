"""A run as an ONNX folder that ONNX Runtime and the `tokenizers` library run without headstart.

One graph per model from token ids and attention mask to the task's outputs, in fp32
(`model.onnx`) and int8 (`model_int8.onnx`: fused, then int8 weights), beside `tokenizer.json`
(truncation and windows set as the run's), `config.json` (the encoder's config with the label names,
so optimum's `ORTModelForSequenceClassification` loads it where the architecture allows),
`headstart.json` (what the outputs mean) and `predict_onnx.py`, a reference runner that needs only
onnxruntime, tokenizers and numpy. An ensemble is one such folder per member under `members/`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import nn
from typing_extensions import override

from headstart.exports.common import ExportSource, write_hf_config, write_tokenizer
from headstart.inference.predictor import EnsemblePredictor, ModelPredictor
from headstart.models.classifiers import MultiTaskClassifier, StaticClassifier
from headstart.models.variants import attention_shape, export_onnx, optimise_and_quantise
from headstart.tasks import MultiLabel, NamedEntities, Regression, Task

FP32_FILE, INT8_FILE, FACTS_FILE = "model.onnx", "model_int8.onnx", "headstart.json"
RUNNER = Path(__file__).with_name("predict_onnx.py")


class TaskOutputs(nn.Module):
    """The classifier with the task's output function on top, as graph outputs: `logits` (what
    optimum and pooling over windows read), then probabilities, values or tag probabilities; a
    multi-task run adds `logits_<column>` and `probabilities_<column>` per further column."""

    def __init__(self, classifier: nn.Module, task: Task) -> None:
        super().__init__()
        self.classifier = classifier
        self.task = task
        self.heads = classifier.head_labels if isinstance(classifier, MultiTaskClassifier) else {}

    def names(self) -> tuple[str, ...]:
        """The graph's output names, in order."""
        main = ("logits", output_name(self.task))
        return main + tuple(
            f"{kind}_{column}" for column in list(self.heads)[1:] for kind in ("logits", "probabilities")
        )

    @override
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if not self.heads:
            logits = self.classifier(input_ids, attention_mask)
            if isinstance(self.task, Regression):  # values on the data's scale, as headstart predicts them
                logits = logits * self.task.scale + self.task.mean
                return logits, logits.squeeze(-1)
            return logits, apply_output(self.task, logits)
        assert isinstance(self.classifier, MultiTaskClassifier)
        parts = self.classifier.split_logits(self.classifier(input_ids, attention_mask, all_heads=True))
        outputs: list[torch.Tensor] = []
        for logits in parts.values():
            outputs += [logits, torch.softmax(logits, dim=-1)]
        return tuple(outputs)


def output_name(task: Task) -> str:
    """The name of the graph output that holds the task's outputs."""
    if isinstance(task, Regression):
        return "values"
    return "tag_probabilities" if isinstance(task, NamedEntities) else "probabilities"


def output_function(task: Task) -> str:
    """How logits become outputs: softmax (classes, tags), sigmoid (multi-label) or identity."""
    if isinstance(task, Regression):
        return "identity"
    return "sigmoid" if isinstance(task, MultiLabel) else "softmax"


def apply_output(task: Task, logits: torch.Tensor) -> torch.Tensor:
    """The task's output function on logits, in torch (traced into the graph)."""
    return torch.sigmoid(logits) if isinstance(task, MultiLabel) else torch.softmax(logits, dim=-1)


def write_onnx(source: ExportSource, folder: Path) -> None:
    """The ONNX folder of a run (every member's, for an ensemble)."""
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(source.predictor, EnsemblePredictor):
        members = []
        for number, member in enumerate(source.member_sources(), start=1):
            name = f"members/{number}"
            write_onnx(member, folder / name)
            members.append(name)
        facts = {**source.facts(), "members": members, "combine": "mean of the members' outputs"}
    else:
        facts = _write_model(source, folder)
    (folder / FACTS_FILE).write_text(json.dumps(facts, indent=2, ensure_ascii=False), encoding="utf-8")
    shutil.copyfile(RUNNER, folder / RUNNER.name)


def _write_model(source: ExportSource, folder: Path) -> dict[str, Any]:
    predictor = source.predictor
    assert isinstance(predictor, ModelPredictor)
    graph = TaskOutputs(predictor.classifier, predictor.task)
    export_onnx(graph, folder / FP32_FILE, predictor.task.token_level, graph.names())
    static = isinstance(predictor.classifier, StaticClassifier)
    optimise_and_quantise(folder / FP32_FILE, folder / INT8_FILE, static, attention_shape(graph))
    write_tokenizer(predictor.tokenizer, folder, predictor.window, tokenizer_json=True)
    write_hf_config(source, folder)
    return {
        **source.facts(),
        "files": {"fp32": FP32_FILE, "int8": INT8_FILE},
        "outputs": list(graph.names()),
        "output_function": output_function(predictor.task),
        "heads": predictor.head_labels if graph.heads else {"label": predictor.task.classes},
    }


def onnx_folder_files(source: ExportSource, folder: Path) -> None:
    """config.json and the tokenizer beside a run's onnx-int8 variant, so optimum can load that folder."""
    predictor = source.predictor
    assert isinstance(predictor, ModelPredictor)
    write_tokenizer(predictor.tokenizer, folder, predictor.window, tokenizer_json=True)
    write_hf_config(source, folder)
