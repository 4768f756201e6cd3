"""Variants of one trained model: fp32 (as trained), int8 (PyTorch dynamic quantisation, made on
load), and onnx-int8 (ONNX export, ONNX Runtime's transformer fusions, dynamic int8 weights).

The fp32 model stays in `<run>/model`; `headstart quantize` writes `<run>/variants/onnx-int8/`.
These are the models layer's variants; measuring them against each other is `compression`'s job.
Every variant maps (input_ids, attention_mask) to logits, so the Predictor serves them all alike.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from transformers import PreTrainedModel
from typing_extensions import override

from headstart.errors import ConfigError, RunError
from headstart.extras import optional
from headstart.models.classifiers import (
    MultiTaskClassifier,
    StaticClassifier,
    TextClassifier,
)
from headstart.models.saved import load_classifier
from headstart.record import METRICS_FILE, MODEL_DIR, VARIANTS_DIR

VARIANTS = ("fp32", "int8", "onnx-int8")
AUTO = "auto"  # the variant `headstart quantize` chose, else fp32
CHOICE_LOSS_POINTS = 0.5  # how far below fp32 a chosen variant may score
CPU_DEVICE = torch.device("cpu")
ONNX_FILE = "model.onnx"


def variant_dir(run_path: Path, variant: str) -> Path:
    """Where a run keeps a variant's files (int8 is made on load and has none)."""
    return run_path / VARIANTS_DIR / variant


def check_variant(variant: str) -> None:
    """Refuse a variant name headstart does not know."""
    if variant not in VARIANTS:
        raise ConfigError(f"Unknown variant '{variant}'; choose one of {', '.join(VARIANTS)} or auto.")


def resolve_variant(run_path: Path, variant: str, precision: str = "fp32") -> str:
    """`auto` as a concrete variant: the one `headstart quantize` chose (the fastest within
    CHOICE_LOSS_POINTS of fp32 on the test split) when it is still there, else fp32 (also for
    `precision` other than fp32, which applies to fp32 only)."""
    if variant != AUTO:
        return variant
    metrics = run_path / METRICS_FILE
    if precision != "fp32" or not metrics.is_file():
        return "fp32"
    record = json.loads(metrics.read_text(encoding="utf-8"))
    chosen = record.get("compression", {}).get("quantization", {}).get("chosen", "fp32")
    present = chosen != "onnx-int8" or (variant_dir(run_path, chosen) / ONNX_FILE).is_file()
    return chosen if chosen in VARIANTS and present else "fp32"


def fastest_within_bound(compared: dict[str, dict[str, Any]]) -> str:
    """The variant with the most texts per second among those within CHOICE_LOSS_POINTS of fp32."""
    allowed = [
        name for name, entry in compared.items() if entry["score_change_points"] >= -CHOICE_LOSS_POINTS
    ]
    return max(allowed, key=lambda name: compared[name]["batch_texts_per_second"])


def load_variant(
    run_path: Path, variant: str = "fp32", allow_pickle: bool = False, device: torch.device = CPU_DEVICE
) -> nn.Module:
    """The run's classifier as the named variant (an ONNX Runtime session runs on `device`)."""
    check_variant(variant)
    if variant == "onnx-int8":
        path = variant_dir(run_path, variant) / ONNX_FILE
        if not path.is_file():
            raise RunError(
                f"'{run_path}' has no onnx-int8 variant yet; run `headstart quantize {run_path}` first."
            )
        return OnnxClassifier(path, device=device)
    classifier = load_classifier(run_path / MODEL_DIR, allow_pickle)
    return dynamic_int8(classifier) if variant == "int8" else classifier


def dynamic_int8(classifier: TextClassifier) -> TextClassifier:
    """The encoder's Linear layers with int8 weights, activations quantised per batch at run time
    (CPU). The head stays fp32: it is tiny, and a frozen-encoder head with the standardisation
    folded in has weights too uneven for one int8 scale (quantised, it lost 91 points on BBC News)."""
    owner, name = encoder_slot(classifier)
    with warnings.catch_warnings():  # torch 2.13 announces the move of these kernels to torchao
        warnings.simplefilter("ignore", UserWarning)
        encoder = torch.ao.quantization.quantize_dynamic(
            getattr(owner, name).eval(), {nn.Linear}, dtype=torch.qint8
        )
    setattr(owner, name, encoder)
    return classifier.eval()


def encoder_slot(classifier: nn.Module) -> tuple[nn.Module, str]:
    """Where a classifier holds its encoder: (module, attribute name)."""
    if hasattr(classifier, "encoder"):  # frozen-encoder and multi-task classifiers
        return classifier, "encoder"
    model: Any = classifier.model  # a transformers *For*Classification model: its base model
    return model, str(model.base_model_prefix)


class OnnxClassifier(nn.Module):
    """An ONNX Runtime session behind the classifier interface: (input_ids, attention_mask) → logits."""

    def __init__(
        self, path: Path, threads: int | None = None, spin: bool = True, device: torch.device = CPU_DEVICE
    ) -> None:
        super().__init__()
        with optional("The onnx-int8 variant"):
            import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if not spin:  # idle threads sleep: spinning would steal the cores a server's event loop needs
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.path = path
        self.session = ort.InferenceSession(str(path), options, providers=onnx_providers(device))

    @override
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        feed = {
            "input_ids": input_ids.cpu().numpy().astype(np.int64),
            "attention_mask": attention_mask.cpu().numpy().astype(np.int64),
        }
        return torch.from_numpy(self.session.run(["logits"], feed)[0])


def onnx_providers(device: torch.device) -> list[Any]:
    """ONNX Runtime's execution providers for a device: CUDA's (onnxruntime-gpu) on a GPU, else the CPU's."""
    import onnxruntime as ort

    if device.type != "cuda":
        return ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        raise ConfigError(
            f"ONNX Runtime here has no CUDA provider for {device}; `pip install onnxruntime-gpu` "
            "(instead of onnxruntime) or use --device cpu."
        )
    return [("CUDAExecutionProvider", {"device_id": device.index or 0}), "CPUExecutionProvider"]


def export_onnx_int8(classifier: nn.Module, target: Path, token_level: bool) -> Path:
    """Export to ONNX (opset 17), fuse LayerNorm/GELU (and attention where the graph matches the
    optimiser's patterns), quantise weights to int8.

    Written to a temporary folder and moved into `target` only when complete.
    """
    if isinstance(classifier, MultiTaskClassifier):
        raise ConfigError(
            "The onnx-int8 variant serves one head; a multi-task run can use --variant int8 instead."
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        exported, staged = Path(scratch) / "exported.onnx", Path(scratch) / "variant"
        export_onnx(classifier, exported, token_level)
        staged.mkdir()
        static = isinstance(classifier, StaticClassifier)
        optimise_and_quantise(exported, staged / ONNX_FILE, static, attention_shape(classifier))
        if target.exists():
            shutil.rmtree(target)
        staged.rename(target)
    return target / ONNX_FILE


def export_onnx(
    module: nn.Module, path: Path, token_level: bool, outputs: tuple[str, ...] = ("logits",)
) -> None:
    """A module as an ONNX graph (opset 17): token ids and attention mask in, the named outputs
    out (per text, or per token with `token_level`), batch size and length free."""
    device = next(module.parameters()).device  # the graph is traced where the model is
    example = tuple(torch.ones((2, 16), dtype=torch.long, device=device) for _ in range(2))
    per_row = {0: "batch", 1: "tokens"} if token_level else {0: "batch"}
    axes = {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"}}
    axes.update({name: per_row for name in outputs})
    with warnings.catch_warnings(), eager_attention(module):
        warnings.simplefilter("ignore")  # tracer notes on shape checks that are constant for encoders
        torch.onnx.export(
            module.eval(),
            example,
            str(path),
            dynamo=False,
            opset_version=17,
            input_names=["input_ids", "attention_mask"],
            output_names=list(outputs),
            dynamic_axes=axes,
        )


@contextmanager
def eager_attention(module: nn.Module) -> Iterator[None]:
    """The transformers models in `module` computing attention eagerly while it is exported.
    ONNX Runtime's optimiser fuses that graph into its Attention op; the SDPA graph transformers 5
    uses by default stays dozens of unfused nodes (the same outputs within 2e-6 either way)."""
    models = [m for m in module.modules() if isinstance(m, PreTrainedModel)]
    before = [m.config._attn_implementation for m in models]
    for model in models:
        model.set_attn_implementation("eager")
    try:
        yield
    finally:
        for model, implementation in zip(models, before, strict=True):
            model.set_attn_implementation(implementation)


def attention_shape(module: nn.Module) -> tuple[int, int]:
    """(heads, hidden size) of the encoder in `module`, which ONNX Runtime's attention fusion needs
    (it could not read them from the exported graph); (0, 0), leaving attention unfused, when there
    is no transformers encoder or its heads were pruned (then the layers' head counts differ)."""
    configs = [m.config for m in module.modules() if isinstance(m, PreTrainedModel)]
    heads, hidden = (
        (getattr(configs[0], "num_attention_heads", 0), getattr(configs[0], "hidden_size", 0))
        if configs
        else (0, 0)
    )
    queries = [m for name, m in module.named_modules() if name.endswith(".query")]
    pruned = any(isinstance(query, nn.Linear) and query.out_features != hidden for query in queries)
    return (0, 0) if pruned else (heads, hidden)


def optimise_and_quantise(
    source: Path, target: Path, keep_token_table: bool = False, attention: tuple[int, int] = (0, 0)
) -> None:
    """Fuse attention, LayerNorm and GELU, then quantise the weights to int8 (ONNX Runtime's
    tools). `attention` is (heads, hidden size) from `attention_shape`. `keep_token_table` leaves
    the embedding lookups in fp32: a static model's output is a mean of table rows, which one int8
    scale for the whole table moved by up to 6.8 on a regression target spread over 7.5 (tiny test
    model)."""
    with optional("The onnx-int8 variant"):
        from onnxruntime.transformers.optimizer import optimize_model

    fused = target.with_name(f".{target.name}.fused.onnx")
    heads, hidden = attention
    try:
        # The BERT fusions fit that whole family of encoders (RoBERTa, XLM-R, MiniLM, E5); what
        # does not match is left unfused, not broken.
        optimised = optimize_model(str(source), model_type="bert", num_heads=heads, hidden_size=hidden)
        optimised.save_model_to_file(str(fused))
        _quantise(fused, target, keep_token_table)
    finally:
        fused.unlink(missing_ok=True)


def _quantise(source: Path, target: Path, keep_token_table: bool) -> None:
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
            nodes_to_exclude=excluded_nodes(onnx.load(str(source)), keep_token_table),
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    finally:
        root.setLevel(level)


def excluded_nodes(model: Any, keep_token_table: bool) -> list[str]:
    """Nodes the quantiser leaves in fp32: the heads, and with `keep_token_table` the lookups."""
    lookups = [node.name for node in model.graph.node if node.op_type == "Gather"] if keep_token_table else []
    return head_nodes(model) + lookups


def head_nodes(model: Any) -> list[str]:
    """The last matrix product on every path to a graph output: the heads, kept fp32 (see
    `dynamic_int8`)."""
    producers = {output: node for node in model.graph.node for output in node.output}
    heads, seen = set(), set()
    pending = [output.name for output in model.graph.output]
    while pending:
        node = producers.get(pending.pop())
        if node is None or node.name in seen:
            continue
        seen.add(node.name)
        if node.op_type in ("MatMul", "Gemm"):
            heads.add(node.name)
            if node.op_type == "Gemm":  # the quantiser first rewrites a Gemm as `<name>_MatMul` + Add
                heads.add(f"{node.name}_MatMul")
        else:
            pending.extend(node.input)
    return sorted(heads)
