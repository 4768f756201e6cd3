"""Smaller and faster models from a trained run, each measured against it on the run's own test
split in one process, with the comparison recorded in the run's metrics.json and model card:

- `quantize`: int8 variants beside the run's fp32 model (`headstart quantize`);
- `distill` and `prune`: a new run made from a trained one, on the same data split.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from headstart.api import train
from headstart.compression.measure import against, measure, model_bytes
from headstart.data.labelled import LabelledTexts
from headstart.data.memory import is_path, memory_table
from headstart.errors import ConfigError, DataError
from headstart.exports.common import ExportSource
from headstart.exports.onnx import onnx_folder_files
from headstart.files import write_text_atomic
from headstart.inference.predictor import ModelPredictor, variant_placement
from headstart.models.variants import (
    CHOICE_LOSS_POINTS,
    VARIANTS,
    check_variant,
    export_onnx_int8,
    fastest_within_bound,
    load_variant,
    variant_dir,
)
from headstart.preparation import MemoryData, prepare_splits
from headstart.progress import info
from headstart.record import CARD_FILE, MODEL_DIR, CompressionRecord, write_record
from headstart.reports.model_card import model_card
from headstart.runs import Run
from headstart.strategies.distill import DistillConfig
from headstart.strategies.prune import PruneConfig

Comparison = dict[str, dict[str, Any]]  # model name → its measurements and change against the reference


def quantize(
    run_path: str | Path,
    variants: tuple[str, ...] = ("int8", "onnx-int8"),
    data: Any = None,
    device: str = "auto",
) -> Comparison:
    """Make the variants (the onnx-int8 file is written into the run), then measure each and fp32 on
    the run's test split; the comparison goes into metrics.json and the model card. A run trained
    on data from memory needs that data again (`data`) to rebuild its test split. fp32 and
    onnx-int8 run on `device`; PyTorch's int8 kernels run on the CPU (each entry says where)."""
    run_path = Path(run_path)
    for variant in variants:
        check_variant(variant)
    if "fp32" in variants:
        raise ConfigError(
            "fp32 is the run's own model and is always measured; ask for int8 and/or onnx-int8."
        )
    run = _single_model(Run.load(run_path, device=device), "quantize each member run instead")
    predictor = run.predictor
    assert isinstance(predictor, ModelPredictor)  # checked by _single_model
    test = rebuilt_test_split(run, data)
    if "onnx-int8" in variants:
        info("Exporting to ONNX and quantising to int8 ...")
        folder = export_onnx_int8(
            predictor.classifier, variant_dir(run_path, "onnx-int8"), run.task.token_level
        )
        # config.json and the tokenizer beside the graph: optimum's ORTModel classes load the folder
        onnx_folder_files(ExportSource(run.path, predictor, run.config, run.metrics), folder.parent)
    entries = {}
    for variant in ("fp32", *[v for v in VARIANTS if v in variants]):
        placement = predictor.placement if variant == "fp32" else variant_placement(variant, device, "fp32")
        classifier = (
            predictor.classifier
            if variant == "fp32"
            else load_variant(run_path, variant, run.config.allow_pickle, placement.device)
        )
        measured = ModelPredictor(
            classifier, predictor.tokenizer, run.task, predictor.window, predictor.batch_size, placement
        )
        entries[variant] = measure(measured, test, model_bytes(run_path, variant, classifier))
    compared = against(entries, "fp32", run.task.primary_metric)
    chosen = fastest_within_bound(compared)
    record_comparison(run, "quantization", CompressionRecord(models=compared, chosen=chosen))
    info(
        f"Chosen: {chosen}, the fastest within {CHOICE_LOSS_POINTS} points of fp32; serve and predict use it."
    )
    return compared


def distill(
    teacher: str | Path,
    out: str | Path,
    *,
    student: str | None = None,
    layers: int | None = None,
    temperature: float = DistillConfig.temperature,
    alpha: float = DistillConfig.alpha,
    unlabelled: str | None = None,
    overwrite: bool = False,
    data: Any = None,
    **options: Any,
) -> Run:
    """Distil a teacher run into a student: `student` names an encoder (zoo name, folder or hub id),
    or `layers` keeps that many of the teacher's own layers. `options` are TrainConfig fields; `data`
    is the teacher's data again when it was given from memory."""
    if student is not None and layers is not None:
        raise ConfigError(
            "Give either --student MODEL or --layers N (the teacher with fewer layers), not both."
        )
    source = _single_model(Run.load(teacher), "distil one of its member runs, or the ensemble's best member")
    model = str(source.path / MODEL_DIR) if layers is not None else (student or source.config.model)
    settings = {
        "teacher": str(source.path),
        "layers": layers,
        "temperature": temperature,
        "alpha": alpha,
        "unlabelled": unlabelled,
    }
    return _derive(
        source,
        out,
        "distillation",
        ("teacher", "student"),
        overwrite,
        data,
        model=model,
        strategy="distill",
        strategy_options=settings,
        **options,
    )


def prune(
    run: str | Path,
    out: str | Path,
    *,
    heads: float = PruneConfig.heads,
    sparsity: float = PruneConfig.sparsity,
    recover_epochs: int = 1,
    overwrite: bool = False,
    data: Any = None,
    **options: Any,
) -> Run:
    """Prune a run's attention heads (fraction `heads`) and/or weights (fraction `sparsity`), then
    fine-tune it for `recover_epochs` epochs (0: none); `data` is the run's data again when it was
    given from memory."""
    if recover_epochs < 0:
        raise ConfigError(f"--recover-epochs must be 0 or more, got {recover_epochs}.")
    if heads == sparsity == 0:
        raise ConfigError("Nothing to prune: give --heads and/or --sparsity as fractions, e.g. --heads 0.25.")
    source = _single_model(Run.load(run), "prune one of its member runs")
    settings = {
        "source": str(source.path),
        "heads": heads,
        "sparsity": sparsity,
        "recover": recover_epochs > 0,
    }
    return _derive(
        source,
        out,
        "pruning",
        ("unpruned", "pruned"),
        overwrite,
        data,
        model=str(source.path / MODEL_DIR),
        strategy="prune",
        strategy_options=settings,
        epochs=max(1, recover_epochs),
        **options,
    )


def _single_model(run: Run, instead: str) -> Run:
    if not isinstance(run.predictor, ModelPredictor):
        raise ConfigError(f"'{run.path}' is an ensemble; {instead}.")
    return run


def _derive(
    source: Run,
    out: str | Path,
    section: str,
    names: tuple[str, str],
    overwrite: bool,
    data: Any,
    **changes: Any,
) -> Run:
    """Train the derived run on the source's data, split, seed and length (with the new strategy's
    own learning rate), then measure both on the shared test split."""
    config = source.config.replace(lr=None, **changes)
    run = train(data, out=out, config=config, overwrite=overwrite)
    test = same_split(run, source, data)
    entries = {}
    for name, each in zip(names, (source, run), strict=True):
        predictor = each.predictor
        assert isinstance(predictor, ModelPredictor)
        entries[name] = measure(predictor, test, model_bytes(each.path, "fp32", predictor.classifier))
    compared = against(entries, names[0], run.task.primary_metric)
    record_comparison(run, section, CompressionRecord(models=compared, source=str(source.path)))
    return run


def rebuilt_test_split(run: Run, data: Any = None) -> LabelledTexts:
    """The run's test split, rebuilt from its config (and from `data`, for a run trained on data
    from memory); refused when the data no longer matches."""
    memory = MemoryData(memory_table(data)) if data is not None and not is_path(data) else None
    splits = prepare_splits(run.config, memory=memory)
    trained_on = run.metrics.get("data", {}).get("fingerprint")
    if trained_on is not None and splits.train.fingerprint() != trained_on:
        raise DataError(
            f"The data of '{run.path}' changed since training (fingerprint differs), so its test split "
            "cannot be rebuilt; restore the original file or retrain."
        )
    return splits.test


def same_split(run: Run, source: Run, data: Any = None) -> LabelledTexts:
    """The test split two runs share (a derived run keeps its source's data, split and seed)."""
    fields = ("data", "dataset", "in_memory", "test_data", "seed", "test_size", "dev_size", "sample")
    if any(getattr(run.config, f) != getattr(source.config, f) for f in fields):
        raise DataError(
            f"'{run.path}' and '{source.path}' were not trained on the same split; compare them with "
            "`headstart evaluate --data` on one file instead."
        )
    return rebuilt_test_split(run, data)


def record_comparison(run: Run, section: str, comparison: CompressionRecord) -> None:
    """Store the comparison under metrics.json["compression"][section] (and in `run.metrics`) and
    rewrite the model card."""
    run.metrics.setdefault("compression", {})[section] = comparison
    write_record(run.path, run.metrics)
    write_text_atomic(run.path / CARD_FILE, model_card(run.config.to_dict(), run.metrics, run.task))
    metric = run.task.primary_metric
    for name, entry in comparison.get("models", {}).items():
        info(
            f"{section} · {name}: {metric} {entry[metric]:.4f} ({entry['score_change_points']:+.2f} pts), "
            f"{entry['batch_texts_per_second']:.0f} texts/s (×{entry['speedup']:.2f}), "
            f"{entry['size_bytes'] / 2**20:.1f} MiB (×{entry['size_ratio']:.2f})"
        )
