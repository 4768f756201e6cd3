"""`headstart quantize`: int8 variants of a run beside its fp32 model, each measured against it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from headstart.compression.report import against, measure, model_bytes, record, test_split
from headstart.compression.variants import VARIANTS, check_variant, export_onnx_int8, load_variant, variant_dir
from headstart.errors import ConfigError
from headstart.progress import info
from headstart.run import Predictor, Run


def quantize(run_path: str | Path, variants: tuple[str, ...] = ("int8", "onnx-int8")) -> dict[str, dict[str, Any]]:
    """Make the variants (the onnx-int8 file is written into the run), then measure each and fp32 on
    the run's test split; the comparison goes into metrics.json and the model card."""
    run_path = Path(run_path)
    for variant in variants:
        check_variant(variant)
    if "fp32" in variants:
        raise ConfigError("fp32 is the run's own model and is always measured; ask for int8 and/or onnx-int8.")
    run = Run.load(run_path)
    if not isinstance(run.predictor, Predictor):
        raise ConfigError(f"'{run_path}' is an ensemble; quantize each member run instead.")
    test = test_split(run)
    if "onnx-int8" in variants:
        info("Exporting to ONNX and quantising to int8 ...")
        export_onnx_int8(run.predictor.classifier, variant_dir(run_path, "onnx-int8"), run.task.token_level)
    entries = {}
    for variant in ("fp32", *[v for v in VARIANTS if v in variants]):
        classifier = run.predictor.classifier if variant == "fp32" else load_variant(run_path, variant, run.config.allow_pickle)
        predictor = Predictor(classifier, run.predictor.tokenizer, run.task, run.predictor.window, run.predictor.batch_size)
        entries[variant] = measure(predictor, test, model_bytes(run_path, variant, classifier))
    compared = against(entries, "fp32", run.task.primary_metric)
    record(run, "quantization", compared)
    return compared
