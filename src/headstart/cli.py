"""The `headstart` command: a thin layer over the Python API.

Each command parses flags, calls one API function and prints its result. Errors a user can fix
(HeadstartError) become one line on stderr and exit code 2; set HEADSTART_DEBUG=1 for tracebacks.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.table import Table

from headstart.config import TrainConfig, config_help
from headstart.errors import ConfigError, HeadstartError
from headstart.progress import quiet_libraries, set_quiet

try:  # typer vendors its own copy of click; its exceptions are the ones raised
    from typer._click import exceptions as click_exceptions
except ImportError:  # older typer uses click itself
    import click.exceptions as click_exceptions

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Transfer learning for text classification: train, evaluate, predict — offline.")
labels_app = typer.Typer(no_args_is_help=True, help="Crowd labels: aggregate several annotators' answers.")
app.add_typer(labels_app, name="labels")
privacy_app = typer.Typer(no_args_is_help=True, help="Personal data: scan, pseudonymize, re-identify (offline).")
app.add_typer(privacy_app, name="privacy")
stdout = Console(highlight=False)
HELP = config_help()

Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or status lines (errors and warnings still show).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]
TextCol = Annotated[str | None, typer.Option(help=HELP["text_col"])]
LabelCol = Annotated[str | None, typer.Option(help=HELP["label_col"])]
PairCol = Annotated[str | None, typer.Option(help="Second-text column of sentence pairs (default: the one used in training).")]
RunDir = Annotated[Path, typer.Argument(help="Run directory written by `headstart train`.")]
Variant = Annotated[str, typer.Option(help="Model variant: fp32 (as trained), int8 (dynamic quantisation) or onnx-int8 (after `headstart quantize`).")]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace an existing run directory (only once the new run is complete).")]


def split_strategy_options(pairs: list[str]) -> dict[str, dict[str, Any]]:
    """STRATEGY.KEY=VALUE flags → {strategy: {key: value}}."""
    per_strategy: dict[str, dict[str, Any]] = {}
    for key, value in parse_options(pairs).items():
        name, dot, field = key.partition(".")
        if not dot or not field:
            raise ConfigError(f"--option here needs the strategy in front, e.g. lora.r=16; got '{key}'.")
        per_strategy.setdefault(name, {})[field] = value
    return per_strategy


def parse_options(pairs: list[str]) -> dict[str, Any]:
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"Strategy option '{pair}' must look like KEY=VALUE, e.g. --option c_values=[0.1,1].")
        options[key.strip()] = yaml.safe_load(value)
    return options


@app.command()
def train(
    data: Annotated[str | None, typer.Argument(help=HELP["data"], show_default=False)] = None,
    dataset: Annotated[str | None, typer.Option(help=HELP["dataset"])] = None,
    annotations: Annotated[str | None, typer.Option(help=HELP["annotations"])] = None,
    aggregation: Annotated[str | None, typer.Option(help=HELP["aggregation"])] = None,
    soft_labels: Annotated[bool | None, typer.Option("--soft-labels", help=HELP["soft_labels"], show_default=False)] = None,
    config: Annotated[Path | None, typer.Option(help="Re-run from a run's config.yaml; flags given here override it.")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Run directory to write (default runs/<data>-<strategy>).")] = None,
    model: Annotated[str | None, typer.Option(help=HELP["model"])] = None,
    strategy: Annotated[str | None, typer.Option(help=HELP["strategy"])] = None,
    option: Annotated[list[str] | None, typer.Option("--option", help="Strategy option KEY=VALUE (repeatable).")] = None,
    text_col: TextCol = None,
    label_col: LabelCol = None,
    text_pair_col: Annotated[str | None, typer.Option(help=HELP["text_pair_col"])] = None,
    pseudonymize: Annotated[str | None, typer.Option(help=HELP["pseudonymize"])] = None,
    pseudonymize_names: Annotated[str | None, typer.Option(help=HELP["pseudonymize_names"])] = None,
    task: Annotated[str | None, typer.Option(help=HELP["task"])] = None,
    label_sep: Annotated[str | None, typer.Option(help=HELP["label_sep"])] = None,
    label_cols: Annotated[list[str] | None, typer.Option(help=HELP["label_cols"] + " Repeat the flag per column.")] = None,
    dev_data: Annotated[str | None, typer.Option(help=HELP["dev_data"])] = None,
    test_data: Annotated[str | None, typer.Option(help=HELP["test_data"])] = None,
    sample: Annotated[int | None, typer.Option(help=HELP["sample"])] = None,
    shots: Annotated[int | None, typer.Option(help=HELP["shots"])] = None,
    train_size: Annotated[int | None, typer.Option(help=HELP["train_size"])] = None,
    dev_size: Annotated[float | None, typer.Option(help=HELP["dev_size"])] = None,
    test_size: Annotated[float | None, typer.Option(help=HELP["test_size"])] = None,
    max_length: Annotated[int | None, typer.Option(help=HELP["max_length"])] = None,
    stride: Annotated[int | None, typer.Option(help=HELP["stride"])] = None,
    pool: Annotated[str | None, typer.Option(help=HELP["pool"])] = None,
    epochs: Annotated[int | None, typer.Option(help=HELP["epochs"])] = None,
    batch_size: Annotated[int | None, typer.Option(help=HELP["batch_size"])] = None,
    lr: Annotated[float | None, typer.Option(help=HELP["lr"])] = None,
    weight_decay: Annotated[float | None, typer.Option(help=HELP["weight_decay"])] = None,
    warmup_ratio: Annotated[float | None, typer.Option(help=HELP["warmup_ratio"])] = None,
    max_grad_norm: Annotated[float | None, typer.Option(help=HELP["max_grad_norm"])] = None,
    schedule: Annotated[str | None, typer.Option(help=HELP["schedule"])] = None,
    layer_lr_decay: Annotated[float | None, typer.Option(help=HELP["layer_lr_decay"])] = None,
    patience: Annotated[int | None, typer.Option(help=HELP["patience"])] = None,
    class_weights: Annotated[bool | None, typer.Option("--class-weights/--no-class-weights", help=HELP["class_weights"], show_default=False)] = None,
    seed: Annotated[int | None, typer.Option(help=HELP["seed"])] = None,
    eval_batch_size: Annotated[int | None, typer.Option(help=HELP["eval_batch_size"])] = None,
    checkpoint_every: Annotated[int | None, typer.Option(help=HELP["checkpoint_every"])] = None,
    mixed_precision: Annotated[str | None, typer.Option(help=HELP["mixed_precision"])] = None,
    allow_pickle: Annotated[bool | None, typer.Option("--allow-pickle", help=HELP["allow_pickle"], show_default=False)] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run of the same command from its last checkpoint.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing run directory (only once the new run is complete).")] = False,
    quiet: Quiet = False,
    as_json: AsJson = False,
) -> None:
    """Train a classifier on a labelled file (or a bundled dataset) and save a run directory."""
    from headstart.api import train as train_api

    set_quiet(quiet)
    given = {k: v for k, v in locals().items() if k in HELP and v is not None}
    if option:
        given["strategy_options"] = parse_options(option)
    if config is not None:
        base = TrainConfig.from_yaml(config).to_dict()
        if {"data", "dataset", "annotations"} & set(given):
            base.update(data=None, dataset=None, annotations=None)
        if "strategy" in given and "strategy_options" not in given and given["strategy"] != base.get("strategy"):
            base["strategy_options"] = {}
        resolved = TrainConfig.from_dict({**base, **given})
    else:
        resolved = TrainConfig.from_dict(given)
    if out is None:
        name = Path(resolved.data or resolved.annotations).stem if resolved.data or resolved.annotations else resolved.dataset
        out = Path("runs") / f"{name}-{resolved.strategy}"
    run = train_api(out=out, config=resolved, resume=resume, overwrite=overwrite)
    show_metrics(run.metrics["test"], "Test", as_json, extra=run.metrics["cost"])
    if not as_json:
        stdout.print(f"Run directory: {run.path}")


@app.command()
def compare(
    data: Annotated[str | None, typer.Argument(help=HELP["data"], show_default=False)] = None,
    dataset: Annotated[str | None, typer.Option(help=HELP["dataset"])] = None,
    models: Annotated[str, typer.Option(help="Comma-separated encoders.")] = TrainConfig.model,
    strategies: Annotated[str, typer.Option(help="Comma-separated strategies (see `headstart strategies`).")] = "features,finetune",
    option: Annotated[list[str] | None, typer.Option("--option", help="Strategy option STRATEGY.KEY=VALUE, e.g. lora.r=16 (repeatable).")] = None,
    seeds: Annotated[int, typer.Option(help="Seeds per (model, strategy); mean ± std are reported.")] = 3,
    out: Annotated[Path, typer.Option("--out", "-o", help="Comparison folder; rerunning skips finished cells.")] = Path("comparison"),
    text_col: TextCol = None,
    label_col: LabelCol = None,
    sample: Annotated[int | None, typer.Option(help=HELP["sample"])] = None,
    max_length: Annotated[int | None, typer.Option(help=HELP["max_length"])] = None,
    epochs: Annotated[int | None, typer.Option(help=HELP["epochs"])] = None,
    batch_size: Annotated[int | None, typer.Option(help=HELP["batch_size"])] = None,
    lr: Annotated[float | None, typer.Option(help=HELP["lr"])] = None,
    quiet: Quiet = False,
) -> None:
    """Run models × strategies × seeds on one split: leaderboard (terminal, CSV, Markdown), Pareto plot, HTML report."""
    from headstart.grid import compare as compare_api
    from headstart.reports.comparison import table_rows

    set_quiet(quiet)
    options = {k: v for k, v in {"text_col": text_col, "label_col": label_col, "sample": sample, "max_length": max_length,
                                 "epochs": epochs, "batch_size": batch_size, "lr": lr}.items() if v is not None}
    per_strategy = split_strategy_options(option or [])
    board = compare_api(data, dataset=dataset, out=out, seeds=seeds, models=[m for m in models.split(",") if m],
                        strategies=[s for s in strategies.split(",") if s], strategy_options=per_strategy, **options)
    print_rows(table_rows(board), "Leaderboard (★ Pareto front: macro-F1 vs latency)")
    stdout.print(f"Wrote {out / 'leaderboard.csv'}, {out / 'leaderboard.md'}, {out / 'pareto.png'}, {out / 'report.html'}")


@app.command()
def tune(
    data: Annotated[str | None, typer.Argument(help=HELP["data"], show_default=False)] = None,
    strategy: Annotated[str, typer.Option(help="Strategy whose settings are searched (see `headstart strategies`).")] = "finetune",
    trials: Annotated[int, typer.Option(help="Finished trials wanted; rerunning the same command continues the study.")] = 20,
    workers: Annotated[int, typer.Option(help="Trials run at once, in separate processes sharing the study file.")] = 1,
    max_lengths: Annotated[str, typer.Option(help="Comma-separated truncation lengths to try (they set latency).")] = "64,128,256",
    backend: Annotated[str, typer.Option(help="'optuna' (processes on this machine) or 'ray' (Ray Tune; needs the ray extra).")] = "optuna",
    ray_address: Annotated[str | None, typer.Option(help="Ray cluster to join, e.g. 'auto'; default: a local Ray.")] = None,
    option: Annotated[list[str] | None, typer.Option("--option", help="Fixed strategy option KEY=VALUE (repeatable); searched ones are drawn on top.")] = None,
    dataset: Annotated[str | None, typer.Option(help=HELP["dataset"])] = None,
    model: Annotated[str | None, typer.Option(help=HELP["model"])] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Search folder: study journal, trials, Pareto front.")] = Path("tuning"),
    text_col: TextCol = None,
    label_col: LabelCol = None,
    sample: Annotated[int | None, typer.Option(help=HELP["sample"])] = None,
    seed: Annotated[int | None, typer.Option(help=HELP["seed"])] = None,
    quiet: Quiet = False,
) -> None:
    """Search hyper-parameters with Optuna for macro-F1 and latency at once; report the Pareto front."""
    from headstart.tuning import front_rows
    from headstart.tuning import tune as tune_api

    set_quiet(quiet)
    try:
        lengths = tuple(int(value) for value in max_lengths.split(",") if value.strip())
    except ValueError:
        raise ConfigError(f"--max-lengths must be comma-separated integers, got '{max_lengths}'.") from None
    options = {k: v for k, v in {"model": model, "text_col": text_col, "label_col": label_col, "sample": sample,
                                 "seed": seed}.items() if v is not None}
    front = tune_api(data, dataset=dataset, out=out, strategy=strategy, trials=trials, workers=workers, max_lengths=lengths,
                     backend=backend, ray_address=ray_address, strategy_options=parse_options(option or []), **options)
    print_rows(front_rows(front), "Pareto front: dev score (the task's main metric) against latency")
    stdout.print(f"Wrote {out / 'trials.csv'}, {out / 'pareto.csv'}, {out / 'pareto.md'}, {out / 'pareto.png'}")


@app.command()
def ensemble(
    runs: Annotated[list[Path], typer.Argument(help="Two or more run directories trained on the same labels.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to save the ensemble (a run directory).")],
    data: Annotated[Path | None, typer.Option("--data", help="Labelled file to evaluate the ensemble on.")] = None,
    text_col: TextCol = None,
    label_col: LabelCol = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing directory.")] = False,
    quiet: Quiet = False,
    as_json: AsJson = False,
) -> None:
    """Average the probabilities of several runs into one saved predictor (use it like any run)."""
    from headstart.ensembles import ensemble as ensemble_api

    set_quiet(quiet)
    run = ensemble_api(runs, out=out, data=data, text_col=text_col, label_col=label_col, overwrite=overwrite)
    if "test" in run.metrics:
        show_metrics(run.metrics["test"], f"Ensemble of {len(runs)} runs", as_json)
    if not as_json:
        stdout.print(f"Ensemble saved to {run.path}")


@app.command()
def evaluate(
    run: RunDir,
    data: Annotated[Path, typer.Option("--data", help="Labelled file to evaluate on.")],
    text_col: TextCol = None,
    text_pair_col: PairCol = None,
    pseudonymize: Annotated[str | None, typer.Option(help="Key file: pseudonymize the file's personal data first (default: the run's own key).")] = None,
    label_col: LabelCol = None,
    out: Annotated[Path | None, typer.Option(help="Folder for metrics.json and the confusion matrix (default <run>/evaluations/<file>).")] = None,
    variant: Variant = "fp32",
    quiet: Quiet = False,
    as_json: AsJson = False,
) -> None:
    """Evaluate a run on a labelled file: accuracy, macro-F1, per-class scores, calibration, confusion matrix."""
    from headstart.run import load_run

    set_quiet(quiet)
    metrics = load_run(run, variant).evaluate(data, text_col, label_col, out, text_pair_col, pseudonymize)
    show_metrics(metrics, f"Evaluation on {data.name}", as_json)


@app.command()
def predict(
    run: RunDir,
    input: Annotated[Path, typer.Argument(help="File of texts (CSV, TSV, JSONL or Parquet).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write predictions; the format follows the extension.")],
    text_col: TextCol = None,
    text_pair_col: PairCol = None,
    pseudonymize: Annotated[str | None, typer.Option(help="Key file: pseudonymize the file's personal data first (default: the run's own key).")] = None,
    variant: Variant = "fp32",
    quiet: Quiet = False,
) -> None:
    """Predict labels and one probability column per class for every text of a file."""
    from headstart.predict import predict_file

    set_quiet(quiet)
    rows = predict_file(run, input, output, text_col, text_pair_col, pseudonymize, variant)
    if not quiet:
        stdout.print(f"Wrote {rows} predictions to {output}")


@app.command()
def quantize(
    run: RunDir,
    variants: Annotated[str, typer.Option(help="Comma-separated: int8 (PyTorch dynamic) and/or onnx-int8 (ONNX Runtime).")] = "int8,onnx-int8",
    quiet: Quiet = False,
    as_json: AsJson = False,
) -> None:
    """Make int8 variants of a run (its fp32 model stays) and measure each against fp32 on the test split."""
    from headstart.compression.quantize import quantize as quantize_api

    set_quiet(quiet)
    show_compression(quantize_api(run, tuple(v.strip() for v in variants.split(",") if v.strip())), "Quantization", as_json)


@app.command()
def distill(
    teacher: Annotated[Path, typer.Argument(help="Run directory of the teacher (a classification run).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory of the student.")],
    student: Annotated[str | None, typer.Option(help="Student encoder (zoo name, folder or hub id), e.g. a smaller packaged model.")] = None,
    layers: Annotated[int | None, typer.Option(help="Student = the teacher with only this many layers (every k-th, first and last kept).")] = None,
    temperature: Annotated[float, typer.Option(help="Softening temperature T of the KL term.")] = 2.0,
    alpha: Annotated[float, typer.Option(help="Weight of the KL term; the labels' cross-entropy gets 1 − alpha.")] = 0.5,
    unlabelled: Annotated[str | None, typer.Option(help="Extra texts without labels (.txt or a table), labelled by the teacher.")] = None,
    epochs: Annotated[int | None, typer.Option(help=HELP["epochs"])] = None,
    lr: Annotated[float | None, typer.Option(help=HELP["lr"])] = None,
    batch_size: Annotated[int | None, typer.Option(help=HELP["batch_size"])] = None,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
    as_json: AsJson = False,
) -> None:
    """Knowledge distillation: a smaller student learns the teacher's softened probabilities and the labels."""
    from headstart.compression.derived import distill as distill_api

    set_quiet(quiet)
    options = {k: v for k, v in {"epochs": epochs, "lr": lr, "batch_size": batch_size}.items() if v is not None}
    result = distill_api(teacher, out, student=student, layers=layers, temperature=temperature, alpha=alpha,
                         unlabelled=unlabelled, overwrite=overwrite, **options)
    show_compression(result.metrics["compression"]["distillation"]["models"], "Distillation", as_json)


@app.command()
def prune(
    run: RunDir,
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory of the pruned model.")],
    heads: Annotated[float, typer.Option(help="Fraction of attention heads to remove, least important first.")] = 0.0,
    sparsity: Annotated[float, typer.Option(help="Fraction of encoder linear weights to zero, smallest first.")] = 0.0,
    recover_epochs: Annotated[int, typer.Option(help="Epochs of recovery fine-tuning after pruning (0: none).")] = 1,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
    as_json: AsJson = False,
) -> None:
    """Prune attention heads (smaller, faster) and/or weights by magnitude, then fine-tune briefly."""
    from headstart.compression.derived import prune as prune_api

    set_quiet(quiet)
    result = prune_api(run, out, heads=heads, sparsity=sparsity, recover_epochs=recover_epochs, overwrite=overwrite)
    show_compression(result.metrics["compression"]["pruning"]["models"], "Pruning", as_json)


@app.command()
def serve(
    run: RunDir,
    variant: Variant = "fp32",
    host: Annotated[str, typer.Option(help="Interface to listen on (0.0.0.0: every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    max_batch: Annotated[int, typer.Option(help="Texts per forward pass: concurrent requests share it.")] = 32,
    max_wait_ms: Annotated[float, typer.Option(help="How long a forming batch waits for more requests.")] = 2.0,
    max_texts: Annotated[int, typer.Option(help="Texts per request (more: 413).")] = 64,
    max_chars: Annotated[int, typer.Option(help="Characters per text (more: 413).")] = 20_000,
    timeout: Annotated[float, typer.Option(help="Seconds before an unanswered request gets 503.")] = 30.0,
) -> None:
    """Serve a run over HTTP: POST /predict, GET /health, /metadata, /metrics (Prometheus), /docs."""
    from headstart.serving.app import ServeLimits, serve as serve_api

    limits = ServeLimits(max_batch=max_batch, max_wait_ms=max_wait_ms, max_texts=max_texts, max_chars=max_chars, timeout_s=timeout)
    stdout.print(f"Serving {run} ({variant}) on http://{host}:{port} — docs at /docs")
    serve_api(str(run), variant, host, port, limits)


@app.command("learning-curve")
def learning_curve(
    data: Annotated[str | None, typer.Argument(help=HELP["data"], show_default=False)] = None,
    dataset: Annotated[str | None, typer.Option(help=HELP["dataset"])] = None,
    sizes: Annotated[str, typer.Option(help="Labelled training examples per point, comma-separated; 'all' = the whole train split.")] = "8,16,32,64,128,256,all",
    strategies: Annotated[str, typer.Option(help="Comma-separated strategies; zero-shot is drawn as a no-label reference line.")] = "features,setfit",
    option: Annotated[list[str] | None, typer.Option("--option", help="Strategy option STRATEGY.KEY=VALUE (repeatable).")] = None,
    seeds: Annotated[int, typer.Option(help="Seeds per point (the sample and the training); mean ± std are drawn.")] = 3,
    model: Annotated[str | None, typer.Option(help=HELP["model"])] = None,
    max_length: Annotated[int | None, typer.Option(help=HELP["max_length"])] = None,
    epochs: Annotated[int | None, typer.Option(help=HELP["epochs"])] = None,
    text_col: TextCol = None,
    label_col: LabelCol = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder: runs, curve.csv/.md/.png; rerunning skips finished runs.")] = Path("learning-curve"),
    quiet: Quiet = False,
) -> None:
    """How many labels are needed: test quality against labelled examples, per strategy, as a table and a plot."""
    from headstart.curves import learning_curve as curve_api, parse_sizes

    set_quiet(quiet)
    options = {k: v for k, v in {"model": model, "max_length": max_length, "epochs": epochs, "text_col": text_col,
                                 "label_col": label_col}.items() if v is not None}
    names = [name.strip() for name in strategies.split(",") if name.strip()]
    curve_api(data, dataset=dataset, out=out, sizes=parse_sizes(sizes), strategies=names, seeds=seeds,
              strategy_options=split_strategy_options(option or []), **options)
    stdout.print((out / "curve.md").read_text(encoding="utf-8"))
    stdout.print(f"Wrote {out / 'curve.csv'}, {out / 'curve.md'}, {out / 'curve.png'}")


@app.command()
def suggest(
    pool: Annotated[Path | None, typer.Argument(help="Unlabelled texts to choose from (CSV, TSV, JSONL or Parquet).", show_default=False)] = None,
    run: Annotated[Path | None, typer.Option("--run", help="Run whose uncertainty and embeddings guide the choice.")] = None,
    k: Annotated[int, typer.Option("-k", help="How many texts to choose.")] = 100,
    out: Annotated[Path, typer.Option("--out", "-o", help="Annotation tasks (item, text, uncertainty, predicted), or the simulation folder.")] = Path("to_label.csv"),
    method: Annotated[str, typer.Option(help="Uncertainty: margin or entropy (random for a baseline).")] = "margin",
    text_col: TextCol = None,
    simulate: Annotated[str | None, typer.Option(help="Replay on this labelled file instead (or --dataset): accuracy against labels used, against random choice.")] = None,
    dataset: Annotated[str | None, typer.Option(help="Bundled dataset for --simulate, e.g. bbc-news.")] = None,
    model: Annotated[str, typer.Option(help="Encoder of the simulation's model (frozen, logistic-regression head).")] = TrainConfig.model,
    seeds: Annotated[int, typer.Option(help="Simulation seeds (initial sets and random choices).")] = 3,
    step: Annotated[int, typer.Option(help="Simulation: labels added per round.")] = 20,
    budget: Annotated[float, typer.Option(help="Simulation: stop at this share of the pool labelled.")] = 0.3,
    quiet: Quiet = False,
) -> None:
    """Active learning: the next texts to label (uncertainty + cluster diversity), or a replay of it (--simulate)."""
    from headstart import active

    set_quiet(quiet)
    if simulate is not None or dataset is not None:
        active.simulate(simulate, dataset=dataset, out=out, model=model, method=method, seeds=seeds, step=step, budget=budget)
        stdout.print((out / "simulation.md").read_text(encoding="utf-8"))
        stdout.print(f"Wrote {out / 'simulation.csv'}, {out / 'simulation.md'}, {out / 'simulation.png'}, {out / 'summary.json'}")
        return
    if pool is None or run is None:
        raise ConfigError("Give an unlabelled POOL file and --run RUN (or --simulate DATA / --dataset NAME for a replay).")
    tasks = active.suggest(pool, run, k, out, method, text_col)
    if not quiet:
        stdout.print(f"Wrote {len(tasks)} texts to label to {out}; hand them to annotators, then `headstart labels aggregate`.")


def show_compression(models: dict[str, dict[str, Any]], title: str, as_json: bool) -> None:
    if as_json:
        stdout.print_json(json.dumps(models))
        return
    metric = next(iter(next(iter(models.values()))))  # each entry starts with the task's main metric
    table = Table("model", metric, "change (pts)", "texts/s", "speed-up", "p50 ms", "size MiB", "size ratio", title=title)
    for name, m in models.items():
        table.add_row(name, f"{m[metric]:.4f}", f"{m['score_change_points']:+.2f}", f"{m['batch_texts_per_second']:.1f}",
                      f"×{m['speedup']:.2f}", f"{m['latency_ms_p50']:.1f}", f"{m['size_bytes'] / 2**20:.1f}", f"×{m['size_ratio']:.2f}")
    stdout.print(table)


@app.command()
def models(
    folder: Annotated[list[str] | None, typer.Option("--folder", help="Also describe this local model folder (repeatable).")] = None,
    as_json: AsJson = False,
) -> None:
    """List encoders usable offline: packaged models, given folders, hub models in the local cache."""
    from headstart.models.zoo import list_models

    found = list_models(folder or [])
    if as_json:
        stdout.print_json(json.dumps([{**vars(m), "path": str(m.path)} for m in found]))
        return
    table = Table("name", "source", "parameters", "layers", "hidden", "max tokens", "languages", "size", title="Encoders available offline")
    for m in found:
        table.add_row(m.name, m.source, f"{m.parameters / 1e6:.1f}M", str(m.layers), str(m.hidden), str(m.max_length),
                      m.languages, f"{m.size_bytes / 2**20:.0f} MiB")
    stdout.print(table)


@labels_app.command("aggregate")
def labels_aggregate(
    answers: Annotated[list[Path], typer.Argument(help="Files of (item id, annotator, label) rows, optionally with the item's text; one per annotation round, in order.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Gold labels: item, label, confidence (CSV, JSONL or Parquet).")],
    method: Annotated[str, typer.Option(help="mv, wawa, ds (Dawid-Skene), one-coin-ds, glad or mace.")] = "ds",
    report: Annotated[Path | None, typer.Option(help="JSON report: rounds, annotators, suspected spammers, agreement.")] = None,
    queue: Annotated[Path | None, typer.Option(help="Write the items to annotate again (unsure or split), in the answers' format.")] = None,
    threshold: Annotated[float, typer.Option(help="Confidence below which an item is unsettled (queued, and not counted as settled).")] = 0.9,
    budget: Annotated[int | None, typer.Option(help="At most this many items in the queue, least confident first.")] = None,
    item_col: Annotated[str | None, typer.Option(help="Item id column (default: item, item_id, task, ...).")] = None,
    annotator_col: Annotated[str | None, typer.Option(help="Annotator column (default: annotator, worker, ...).")] = None,
    label_col: LabelCol = None,
    seed: Annotated[int, typer.Option(help="Seed of the methods that draw at random (MACE).")] = 0,
    as_json: AsJson = False,
) -> None:
    """One label per item from several annotators' answers, with confidence and an annotator report."""
    from headstart.labels.aggregate import aggregate, read_rounds, reannotation_queue, rounds_report, summary, write_aggregation
    from headstart.data.io import write_table_atomic

    if not 0 < threshold <= 1 or (budget is not None and budget < 1):
        raise ConfigError(f"--threshold must be in (0, 1] and --budget at least 1; got {threshold} and {budget}.")
    rows = read_rounds(list(answers), item_col, annotator_col, label_col)
    result = aggregate(rows, method, seed)
    rounds = rounds_report(rows, result, threshold, seed)
    write_aggregation(result, out, report, rounds)
    if queue is not None:
        write_table_atomic(reannotation_queue(result, rows, threshold, budget), queue)
    facts = summary(result, rounds)
    if as_json:
        stdout.print_json(json.dumps(facts))
        return
    table = Table("", "", title=f"Aggregated {len(result.labels)} items ({method})")
    for key, value in {**{k: v for k, v in facts.items() if k not in ("agreement", "rounds")}, **result.agreement}.items():
        table.add_row(key, "n/a (items have unequal numbers of answers)" if value is None else str(value))
    for entry in rounds:
        table.add_row(f"round {entry['round']}", f"{entry['settled']} of {entry['items']} items settled (confidence ≥ {threshold})")
    stdout.print(table)
    stdout.print(f"Wrote {out}" + (f", {report}" if report else "") + (f", {queue}" if queue else ""))


@labels_app.command("audit")
def labels_audit(
    data: Annotated[Path, typer.Argument(help="Labelled file (text and label columns) to check.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Review file: row, text, given label, suggested label, label quality.")],
    model: Annotated[str | None, typer.Option(help=HELP["model"])] = None,
    strategy: Annotated[str, typer.Option(help="Strategy of the cross-validated models; features is fast (embeddings computed once).")] = "features",
    folds: Annotated[int, typer.Option(help="K of the K-fold cross-validation.")] = 5,
    max_length: Annotated[int | None, typer.Option(help=HELP["max_length"])] = None,
    text_col: TextCol = None,
    label_col: LabelCol = None,
    quiet: Quiet = False,
) -> None:
    """Rank likely label errors: out-of-fold probabilities by K-fold cross-validation, ranked by cleanlab."""
    from headstart.labels.audit import audit, write_review

    set_quiet(quiet)
    options = {k: v for k, v in {"model": model, "max_length": max_length}.items() if v is not None}
    config = TrainConfig(data=str(data), strategy=strategy, text_col=text_col, label_col=label_col, **options)
    result = audit(data, config, folds, text_col, label_col)
    write_review(result, out)
    stdout.print(f"{len(result.review)} of {len(result.probabilities)} labels look wrong; review them in {out}")


KeyFile = Annotated[Path, typer.Option("--key-file", help="32-byte hex key; pseudonymize creates it (mode 600) if missing.")]
NamesRun = Annotated[Path | None, typer.Option("--names-run", help="A headstart NER run: its person and place names count as personal data too.")]


@privacy_app.command("scan")
def privacy_scan(data: Annotated[Path, typer.Argument(help="File to scan (CSV, TSV, JSONL or Parquet).")], names_run: NamesRun = None,
                 as_json: AsJson = False) -> None:
    """Count personal data by column and type (email, phone, IBAN, card, IP, URL; names with --names-run); no value is printed."""
    from headstart.privacy.pseudonyms import load_names_run, scan_file

    counts = scan_file(data, load_names_run(names_run))
    if as_json:
        stdout.print_json(counts.to_json(orient="records"))
        return
    table = Table("column", "type", "count", title=f"Personal data in {data.name}")
    for row in counts.itertuples():
        table.add_row(str(row.column), row.type, str(row.count))
    stdout.print(table if len(counts) else f"No structured personal data found in {data.name}.")


@privacy_app.command("pseudonymize")
def privacy_pseudonymize(
    data: Annotated[Path, typer.Argument(help="File whose text cells hold personal data.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Pseudonymized copy; the encrypted mapping goes to <out>.vault.")],
    key_file: KeyFile,
    names_run: NamesRun = None,
) -> None:
    """Replace personal data by keyed pseudonyms (same value, same pseudonym under one key)."""
    from headstart.privacy.pseudonyms import load_names_run, pseudonymize_file

    count = pseudonymize_file(data, out, key_file, load_names_run(names_run))
    stdout.print(f"Wrote {out} with {count} distinct value(s) pseudonymized; mapping encrypted in {out}.vault")


@privacy_app.command("reidentify")
def privacy_reidentify(
    data: Annotated[Path, typer.Argument(help="A pseudonymized file (its .vault beside it).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the original values back.")],
    key_file: KeyFile,
) -> None:
    """Reverse `privacy pseudonymize` with its key."""
    from headstart.privacy.pseudonyms import reidentify_file

    count = reidentify_file(data, out, key_file)
    stdout.print(f"Wrote {out}: {count} pseudonym(s) replaced by their original values")


COMBINED_METHODS = (
    ("stlr", "Slanted triangular learning rate (ULMFiT): short linear rise, long linear fall.", "--schedule stlr"),
    ("discriminative lr", "Layer-wise learning-rate decay, lr × decay^depth from the top.", "--layer-lr-decay 0.8"),
    ("ensemble", "Mean of several runs' probabilities, saved as one run.", "headstart ensemble RUN RUN ... --out DIR"),
)


@app.command()
def strategies() -> None:
    """List adaptation strategies, one line each, with their options."""
    from headstart.strategies import STRATEGIES

    table = Table("strategy", "what it does", "default lr", "options", title="Strategies")
    for name, cls in sorted(STRATEGIES.items()):
        strategy = cls()
        lr = "-" if strategy.default_lr is None else f"{strategy.default_lr:g}"
        table.add_row(name, cls.summary, lr, ", ".join(f"{k}={v}" for k, v in strategy.config.to_dict().items()) or "-")
    stdout.print(table)
    combine = Table("method", "what it does", "how", title="Combined with any strategy")
    for row in COMBINED_METHODS:
        combine.add_row(*row)
    stdout.print(combine)


def print_rows(rows: list[dict[str, str]], title: str) -> None:
    table = Table(*rows[0], title=title)
    for row in rows:
        table.add_row(*row.values())
    stdout.print(table)


def show_metrics(metrics: dict[str, Any], title: str, as_json: bool, extra: dict[str, Any] | None = None) -> None:
    if as_json:
        stdout.print_json(json.dumps({**metrics, **({"cost": extra} if extra else {})}))
        return
    table = Table("metric", "value", title=title)
    for key, value in metrics.items():
        if isinstance(value, (int, float)):
            table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    for key, value in (extra or {}).items():
        table.add_row(key, f"{value:,}" if isinstance(value, int) else str(value))
    stdout.print(table)
    if "per_class" in metrics:
        per_class = Table("class", "precision", "recall", "f1", "support")
        for label, scores in metrics["per_class"].items():
            per_class.add_row(label, f"{scores['precision']:.3f}", f"{scores['recall']:.3f}", f"{scores['f1']:.3f}", str(scores["support"]))
        stdout.print(per_class)
    if metrics.get("by_language"):
        names = [k for k in next(iter(metrics["by_language"].values())) if k != "examples"]
        languages = Table("language", "examples", *names, title="Per language")
        for language, scores in metrics["by_language"].items():
            languages.add_row(language, str(scores["examples"]), *(f"{scores[n]:.4f}" for n in names))
        stdout.print(languages)
    if metrics.get("transfer"):
        t = metrics["transfer"]
        in_language = "unknown" if t["in_language"] is None else f"{t['in_language']:.4f}"
        stdout.print(f"Zero-shot cross-lingual transfer: trained on {', '.join(t['trained_on'])}, evaluated on "
                     f"{', '.join(t['evaluated_on'])}. {t['metric']}: {in_language} in-language (test split) → "
                     f"{t['transferred']:.4f} transferred" + ("" if t["change_points"] is None else f" ({t['change_points']:+.2f} points)."))


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001 - warnings API
    print(f"warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run a command, turn known errors into one line and exit code 2."""
    debug = os.environ.get("HEADSTART_DEBUG", "") not in ("", "0")
    warnings.showwarning = _show_warning
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    quiet_libraries(debug)
    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="headstart", standalone_mode=False)
    except click_exceptions.UsageError as error:
        print(f"error: {error.format_message()}" + (f" (see `headstart {error.ctx.info_name} --help`)" if error.ctx else ""), file=sys.stderr)
        sys.exit(2)
    except click_exceptions.ClickException as error:
        print(f"error: {error.format_message()}", file=sys.stderr)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        print("error: interrupted", file=sys.stderr)
        sys.exit(130)
    except HeadstartError as error:
        if debug:
            raise
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except Exception as error:  # a bug, not bad input: say so, keep the traceback behind the debug switch
        if debug:
            raise
        print(f"internal error: {type(error).__name__}: {error} (rerun with HEADSTART_DEBUG=1 for the traceback)", file=sys.stderr)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
