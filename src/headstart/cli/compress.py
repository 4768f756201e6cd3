"""`headstart quantize`, `distill` and `prune`: the options of distill and prune are the fields of
their strategies' configs, so their defaults live in one place."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from headstart.cli.options import (
    AsJson,
    Overwrite,
    Quiet,
    RunDir,
    comma_list,
    config_flags,
    given,
    with_flags,
)
from headstart.cli.output import Output
from headstart.config import TrainConfig
from headstart.strategies.distill import DistillConfig
from headstart.strategies.prune import PruneConfig
from headstart.workflows.compress import Comparison
from headstart.workflows.compress import distill as distill_run
from headstart.workflows.compress import prune as prune_run
from headstart.workflows.compress import quantize as quantize_run

app = typer.Typer()

Out = Annotated[Path, typer.Option("--out", "-o", help="Run directory of the new model.", show_default=False)]
TRAINING = config_flags(TrainConfig, only=("epochs", "lr", "batch_size", "device"))


def show_comparison(output: Output, models: Comparison, title: str) -> None:
    """Each model against its reference: main metric, its change, speed, latency and size."""
    if output.as_json:
        output.json(models)
        return
    metric = next(iter(next(iter(models.values()))))  # each entry starts with the task's main metric
    output.table(
        title,
        ["model", metric, "change (pts)", "texts/s", "speed-up", "p50 ms", "size MiB", "size ratio"],
        [
            (
                name,
                f"{m[metric]:.4f}",
                f"{m['score_change_points']:+.2f}",
                f"{m['batch_texts_per_second']:.1f}",
                f"×{m['speedup']:.2f}",
                f"{m['latency_ms_p50']:.1f}",
                f"{m['size_bytes'] / 2**20:.1f}",
                f"×{m['size_ratio']:.2f}",
            )
            for name, m in models.items()
        ],
    )


@app.command()
@with_flags(config_flags(TrainConfig, only=("device",), optional=False))
def quantize(
    run: RunDir,
    variants: Annotated[
        str, typer.Option(help="Comma-separated: int8 (PyTorch dynamic) and/or onnx-int8 (ONNX Runtime).")
    ] = "int8,onnx-int8",
    quiet: Quiet = False,
    as_json: AsJson = False,
    device: str = "auto",
) -> None:
    """Make int8 variants of a run and measure each against fp32 on the test split."""
    output = Output(as_json, quiet)
    show_comparison(output, quantize_run(run, tuple(comma_list(variants)), device=device), "Quantization")


@app.command()
@with_flags(config_flags(DistillConfig, exclude=("teacher",), optional=False), TRAINING)
def distill(
    teacher: Annotated[
        Path, typer.Argument(help="Run directory of the teacher (a classification run).", show_default=False)
    ],
    out: Out,
    student: Annotated[
        str | None,
        typer.Option(
            help="Student encoder (zoo name, folder or hub id), e.g. a smaller packaged model.",
            show_default=False,
        ),
    ] = None,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
    as_json: AsJson = False,
    **options: Any,
) -> None:
    """Knowledge distillation: a smaller student learns the teacher's probabilities and labels."""
    output = Output(as_json, quiet)
    settings = {name: options.pop(name) for name in ("layers", "temperature", "alpha", "unlabelled")}
    result = distill_run(teacher, out, student=student, overwrite=overwrite, **settings, **given(options))
    show_comparison(output, result.metrics["compression"]["distillation"]["models"], "Distillation")


@app.command()
@with_flags(
    config_flags(PruneConfig, only=("heads", "sparsity"), optional=False),
    config_flags(TrainConfig, only=("device",)),
)
def prune(
    run: RunDir,
    out: Out,
    recover_epochs: Annotated[
        int, typer.Option(help="Epochs of recovery fine-tuning after pruning (0: none).")
    ] = 1,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
    as_json: AsJson = False,
    heads: float = PruneConfig.heads,
    sparsity: float = PruneConfig.sparsity,
    device: str | None = None,
) -> None:
    """Prune attention heads and/or weights by magnitude, then fine-tune briefly."""
    output = Output(as_json, quiet)
    result = prune_run(
        run,
        out,
        heads=heads,
        sparsity=sparsity,
        recover_epochs=recover_epochs,
        overwrite=overwrite,
        **given({"device": device}),
    )
    show_comparison(output, result.metrics["compression"]["pruning"]["models"], "Pruning")
