"""Variants of one trained model: fp32 (as trained), int8 (PyTorch dynamic quantisation, made on
load), and onnx-int8 (ONNX export, ONNX Runtime's transformer fusions, dynamic int8 weights).

The fp32 model stays in `<run>/model`; `headstart quantize` writes `<run>/variants/onnx-int8/`.
These are the models layer's variants; measuring them against each other is `compression`'s job.
Every variant maps (input_ids, attention_mask) to logits, so the Predictor serves them all alike.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn
from typing_extensions import override

from headstart.errors import ConfigError, RunError
from headstart.extras import optional
from headstart.models.classifiers import MultiTaskClassifier, TextClassifier, load_classifier
from headstart.record import MODEL_DIR, VARIANTS_DIR

VARIANTS = ("fp32", "int8", "onnx-int8")
ONNX_FILE = "model.onnx"


def variant_dir(run_path: Path, variant: str) -> Path:
    """Where a run keeps a variant's files (int8 is made on load and has none)."""
    return run_path / VARIANTS_DIR / variant


def check_variant(variant: str) -> None:
    """Refuse a variant name headstart does not know."""
    if variant not in VARIANTS:
        raise ConfigError(f"Unknown variant '{variant}'; choose one of {', '.join(VARIANTS)}.")


def load_variant(run_path: Path, variant: str = "fp32", allow_pickle: bool = False) -> nn.Module:
    """The run's classifier as the named variant."""
    check_variant(variant)
    if variant == "onnx-int8":
        path = variant_dir(run_path, variant) / ONNX_FILE
        if not path.is_file():
            raise RunError(
                f"'{run_path}' has no onnx-int8 variant yet; run `headstart quantize {run_path}` first."
            )
        return OnnxClassifier(path)
    classifier = load_classifier(run_path / MODEL_DIR, allow_pickle)
    return dynamic_int8(classifier) if variant == "int8" else classifier


def dynamic_int8(classifier: TextClassifier) -> TextClassifier:
    """Linear layers with int8 weights, activations quantised per batch at run time (CPU)."""
    with warnings.catch_warnings():  # torch 2.13 announces the move of these kernels to torchao
        warnings.simplefilter("ignore", UserWarning)
        return torch.ao.quantization.quantize_dynamic(classifier.eval(), {nn.Linear}, dtype=torch.qint8)


class OnnxClassifier(nn.Module):
    """An ONNX Runtime session behind the classifier interface: (input_ids, attention_mask) → logits."""

    def __init__(self, path: Path, threads: int | None = None, spin: bool = True) -> None:
        super().__init__()
        with optional("The onnx-int8 variant"):
            import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if not spin:  # idle threads sleep: spinning would steal the cores a server's event loop needs
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.path = path
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    @override
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        feed = {
            "input_ids": input_ids.numpy().astype(np.int64),
            "attention_mask": attention_mask.numpy().astype(np.int64),
        }
        return torch.from_numpy(self.session.run(["logits"], feed)[0])


def export_onnx_int8(classifier: nn.Module, target: Path, token_level: bool) -> Path:
    """Export to ONNX (opset 17), fuse LayerNorm/GELU (and attention where the graph matches the
    optimiser's patterns), quantise weights to int8.

    Written to a temporary folder and moved into `target` only when complete.
    """
    with optional("The onnx-int8 variant"):
        from onnxruntime.transformers.optimizer import optimize_model

    if isinstance(classifier, MultiTaskClassifier):
        raise ConfigError(
            "The onnx-int8 variant serves one head; a multi-task run can use --variant int8 instead."
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        exported, fused, staged = (
            Path(scratch) / name for name in ("exported.onnx", "fused.onnx", "variant")
        )
        export_onnx(classifier, exported, token_level)
        # num_heads/hidden_size 0: read from the graph. The BERT fusions fit that whole family of
        # encoders (RoBERTa, XLM-R, MiniLM, E5); what does not match is left unfused, not broken.
        optimize_model(str(exported), model_type="bert", num_heads=0, hidden_size=0).save_model_to_file(
            str(fused)
        )
        staged.mkdir()
        _quantise(fused, staged / ONNX_FILE)
        if target.exists():
            shutil.rmtree(target)
        staged.rename(target)
    return target / ONNX_FILE


def export_onnx(classifier: nn.Module, path: Path, token_level: bool) -> None:
    """The classifier as an ONNX graph (opset 17): token ids and attention mask in, logits out,
    batch size and length free."""
    example = (torch.ones((2, 16), dtype=torch.long), torch.ones((2, 16), dtype=torch.long))
    axes = {
        "input_ids": {0: "batch", 1: "tokens"},
        "attention_mask": {0: "batch", 1: "tokens"},
        "logits": {0: "batch", 1: "tokens"} if token_level else {0: "batch"},
    }
    with warnings.catch_warnings():  # tracer notes on shape checks that are constant for encoders
        warnings.simplefilter("ignore")
        torch.onnx.export(
            classifier.eval(),
            example,
            str(path),
            dynamo=False,
            opset_version=17,
            input_names=["input_ids", "attention_mask"],
            output_names=["logits"],
            dynamic_axes=axes,
        )


def _quantise(source: Path, target: Path) -> None:
    """Dynamic int8 weights (ONNX Runtime's quantiser)."""
    with optional("The onnx-int8 variant"):
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantiser logs advice on the root logger
    try:
        # Fused ops live in ONNX Runtime's own domain, where shape inference finds no types: say fp32.
        quantize_dynamic(
            str(source),
            str(target),
            weight_type=QuantType.QInt8,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    finally:
        root.setLevel(level)
