"""`headstart train`, `compare`, `tune` and `learning-curve`: their TrainConfig flags are generated
from the config, so each option has one name, default and help text everywhere.

The API is imported inside each command: `headstart train --help` must not load torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from headstart.cli.options import (
    AsJson,
    Options,
    Quiet,
    StartOver,
    comma_list,
    config_flags,
    given,
    parse_options,
    per_strategy_options,
    with_flags,
)
from headstart.cli.output import Output
from headstart.config import TrainConfig
from headstart.errors import ConfigError

app = typer.Typer()

ConfigFile = Annotated[
    Path | None,
    typer.Option(
        "--config", help="Re-run from a run's config.yaml; flags given here override it.", show_default=False
    ),
]


@app.command()
@with_flags(config_flags(TrainConfig, positional="data"))
def train(
    config: ConfigFile = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Run directory to write (default runs/<data>-<strategy>).", show_default=False
        ),
    ] = None,
    option: Options = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume", help="Continue an interrupted run of the same command from its last checkpoint."
        ),
    ] = False,
    overwrite: StartOver = False,
    quiet: Quiet = False,
    as_json: AsJson = False,
    tasks: Annotated[
        str | None,
        typer.Option(
            "--tasks",
            help="Train on a task-service project's settled label items instead of a file "
            "(with --soft-labels, on Dawid-Skene's posteriors).",
            show_default=False,
        ),
    ] = None,
    tasks_db: Annotated[
        str, typer.Option(help="The task service's database URL, with --tasks.", show_default=False)
    ] = "",
    **fields: Any,
) -> None:
    """Train a classifier on a labelled file (or a bundled dataset) and save a run directory."""
    from headstart.api import train as train_run

    output = Output(as_json, quiet)
    flags = given(fields)
    data = None
    if tasks is not None:
        data = settled_items(tasks, tasks_db)
        flags["in_memory"] = f"task project {tasks}"  # the run records the table's size and hash
    resolved = train_config(config, flags, parse_options(option) if option else None)
    if out is None:
        source = resolved.data or resolved.annotations or tasks
        out = Path("runs") / f"{Path(source).stem if source else resolved.dataset}-{resolved.strategy}"
    run = train_run(data, out=out, config=resolved, resume=resume, overwrite=overwrite)
    output.metrics(run.metrics["test"], "Test", extra=dict(run.metrics["cost"]))
    output.line(f"Run directory: {run.path}")


def settled_items(project: str, db: str) -> Any:
    """A task project's settled single-label items as a table (text, label, soft_label)."""
    from headstart.cli.tasks import database_url
    from headstart.extras import optional

    with optional("train --tasks"):
        from headstart.microtasks.engine import MicroTasks
        from headstart.microtasks.tables import training_frame

    service = MicroTasks(database_url(db), key=None, create=False)
    return training_frame(service.export(project, soft=True), project)


def train_config(
    config_file: Path | None, flags: dict[str, Any], strategy_options: dict[str, Any] | None
) -> TrainConfig:
    """The config of a `train` call: a saved config.yaml, if given, with the given flags on top."""
    if strategy_options is not None:
        flags["strategy_options"] = strategy_options
    if config_file is None:
        return TrainConfig.from_dict(flags)
    base = TrainConfig.from_yaml(config_file).to_dict()
    if {"data", "dataset", "annotations"} & set(flags):  # a new data source replaces the saved one
        base.update(data=None, dataset=None, annotations=None)
    if "strategy" in flags and "strategy_options" not in flags and flags["strategy"] != base.get("strategy"):
        base["strategy_options"] = {}  # another strategy: the saved options were the old one's
    return TrainConfig.from_dict({**base, **flags})


@app.command()
@with_flags(config_flags(TrainConfig, positional="data", exclude=("model", "strategy")))
def compare(
    models: Annotated[str, typer.Option(help="Comma-separated encoders.")] = TrainConfig.model,
    strategies: Annotated[
        str, typer.Option(help="Comma-separated strategies (see `headstart strategies`).")
    ] = "static,features,finetune",
    seeds: Annotated[
        int, typer.Option(help="Seeds per (model, strategy), from --seed on; mean ± std are reported.")
    ] = 3,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Comparison folder; rerunning skips finished cells.")
    ] = Path("comparison"),
    option: Options = None,
    overwrite: StartOver = False,
    quiet: Quiet = False,
    as_json: AsJson = False,
    **fields: Any,
) -> None:
    """Run models × strategies × seeds on one split: leaderboard, Pareto plot, HTML report."""
    from headstart.reports.comparison import table_rows
    from headstart.workflows.compare import compare as compare_runs

    output = Output(as_json, quiet)
    board = compare_runs(
        out=out,
        overwrite=overwrite,
        seeds=seeds,
        models=comma_list(models),
        strategies=comma_list(strategies),
        strategy_options=per_strategy_options(option),
        **given(fields),
    )
    if as_json:
        output.json(board.to_dict("records"))
        return
    output.rows(table_rows(board), "Leaderboard (★ Pareto front: main metric vs latency)")
    output.note(
        f"Wrote {out / 'leaderboard.csv'}, {out / 'leaderboard.md'}, "
        f"{out / 'pareto.png'}, {out / 'report.html'}"
    )


SEARCHED = (
    "strategy",
    "max_length",
    "lr",
    "epochs",
    "batch_size",
)  # drawn by each trial, or set by tune's own flags
Searched = Annotated[
    str, typer.Option("--strategy", help="Strategy whose settings are searched (see `headstart strategies`).")
]
Trials = Annotated[
    int, typer.Option(help="Finished trials wanted; rerunning the same command continues the study.")
]
Workers = Annotated[
    int, typer.Option(help="Trials run at once, in separate processes sharing the study file.")
]
MaxLengths = Annotated[
    str, typer.Option(help="Comma-separated truncation lengths to try (they set latency).")
]
Backend = Annotated[
    str, typer.Option(help="'optuna' (processes on this machine) or 'ray' (Ray Tune; needs the ray extra).")
]
RayAddress = Annotated[
    str | None,
    typer.Option(help="Ray cluster to join, e.g. 'auto'; default: a local Ray.", show_default=False),
]
SearchOut = Annotated[
    Path, typer.Option("--out", "-o", help="Search folder: study journal, trials, Pareto front.")
]
FixedOptions = Annotated[
    list[str] | None,
    typer.Option(
        "--option",
        help="Fixed strategy option KEY=VALUE (repeatable); searched ones are drawn on top.",
        show_default=False,
    ),
]


@app.command()
@with_flags(config_flags(TrainConfig, positional="data", exclude=SEARCHED))
def tune(
    strategy: Searched = TrainConfig.strategy,
    trials: Trials = 20,
    workers: Workers = 1,
    max_lengths: MaxLengths = "64,128,256",
    backend: Backend = "optuna",
    ray_address: RayAddress = None,
    out: SearchOut = Path("tuning"),
    option: FixedOptions = None,
    overwrite: StartOver = False,
    quiet: Quiet = False,
    as_json: AsJson = False,
    **fields: Any,
) -> None:
    """Search hyper-parameters with Optuna for the dev score and latency; report the Pareto front."""
    from headstart.workflows.tune import front_rows
    from headstart.workflows.tune import tune as search

    output = Output(as_json, quiet)
    try:
        lengths = tuple(int(value) for value in comma_list(max_lengths))
    except ValueError:
        raise ConfigError(f"--max-lengths must be comma-separated integers, got '{max_lengths}'.") from None
    front = search(
        out=out,
        overwrite=overwrite,
        strategy=strategy,
        trials=trials,
        workers=workers,
        max_lengths=lengths,
        backend=backend,
        ray_address=ray_address,
        strategy_options=parse_options(option),
        **given(fields),
    )
    if as_json:
        output.json(front.to_dict("records"))
        return
    output.rows(front_rows(front), "Pareto front: dev score (the task's main metric) against latency")
    output.note(
        f"Wrote {out / 'trials.csv'}, {out / 'pareto.csv'}, {out / 'pareto.md'}, {out / 'pareto.png'}"
    )


@app.command("learning-curve")
@with_flags(config_flags(TrainConfig, positional="data", exclude=("strategy", "shots", "train_size")))
def learning_curve(
    sizes: Annotated[
        str,
        typer.Option(
            help="Labelled training examples per point, comma-separated; 'all' = the whole train split."
        ),
    ] = "8,16,32,64,128,256,all",
    strategies: Annotated[
        str, typer.Option(help="Comma-separated strategies; zero-shot is drawn as a no-label reference line.")
    ] = "static,features,setfit",
    seeds: Annotated[
        int, typer.Option(help="Seeds per point (the sample and the training); mean ± std are drawn.")
    ] = 3,
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="Folder: runs, curve.csv/.md/.png; rerunning skips finished runs."),
    ] = Path("learning-curve"),
    option: Options = None,
    overwrite: StartOver = False,
    quiet: Quiet = False,
    as_json: AsJson = False,
    **fields: Any,
) -> None:
    """How many labels are needed: test quality against labelled examples, per strategy."""
    from headstart.workflows.curves import learning_curve as curve
    from headstart.workflows.curves import parse_sizes

    output = Output(as_json, quiet)
    points = curve(
        out=out,
        overwrite=overwrite,
        sizes=parse_sizes(sizes),
        strategies=comma_list(strategies),
        seeds=seeds,
        strategy_options=per_strategy_options(option),
        **given(fields),
    )
    if as_json:
        output.json(points.to_dict("records"))
        return
    output.line((out / "curve.md").read_text(encoding="utf-8"))
    output.note(f"Wrote {out / 'curve.csv'}, {out / 'curve.md'}, {out / 'curve.png'}")
