"""Commands that use finished runs: evaluate, predict, ensemble, suggest."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from headstart.cli.options import AsJson, Overwrite, PairCol, Quiet, RunDir, Variant, config_flags, with_flags
from headstart.cli.output import Output
from headstart.config import TrainConfig
from headstart.errors import ConfigError

app = typer.Typer()

COLUMNS = config_flags(TrainConfig, only=("text_col", "label_col"))
TEXT_COLUMN = config_flags(TrainConfig, only=("text_col",))
KeyFile = Annotated[
    str | None,
    typer.Option(
        "--pseudonymize",
        help="Key file: pseudonymize the file's personal data first (default: the run's own key).",
        show_default=False,
    ),
]


@app.command()
@with_flags(COLUMNS)
def evaluate(
    run: RunDir,
    data: Annotated[Path, typer.Option("--data", help="Labelled file to evaluate on.", show_default=False)],
    text_pair_col: PairCol = None,
    pseudonymize: KeyFile = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Folder for metrics.json and the confusion matrix (default <run>/evaluations/<file>).",
            show_default=False,
        ),
    ] = None,
    variant: Variant = "fp32",
    quiet: Quiet = False,
    as_json: AsJson = False,
    text_col: str | None = None,
    label_col: str | None = None,
) -> None:
    """Evaluate a run on a labelled file: the task's metrics, per class and per language."""
    from headstart.runs import load_run

    output = Output(as_json, quiet)
    metrics = load_run(run, variant).evaluate(data, text_col, label_col, out, text_pair_col, pseudonymize)
    output.metrics(metrics, f"Evaluation on {data.name}")


@app.command()
@with_flags(TEXT_COLUMN)
def predict(
    run: RunDir,
    input: Annotated[
        Path, typer.Argument(help="File of texts (CSV, TSV, JSONL or Parquet).", show_default=False)
    ],
    output_file: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            help="Where to write predictions; the format follows the extension.",
            show_default=False,
        ),
    ],
    text_pair_col: PairCol = None,
    pseudonymize: KeyFile = None,
    variant: Variant = "fp32",
    quiet: Quiet = False,
    text_col: str | None = None,
) -> None:
    """Predict every text of a file: labels and one probability column per class."""
    from headstart.workflows.predict_file import predict_file

    output = Output(quiet=quiet)
    rows = predict_file(run, input, output_file, text_col, text_pair_col, pseudonymize, variant)
    output.note(f"Wrote {rows} predictions to {output_file}")


@app.command()
@with_flags(COLUMNS)
def ensemble(
    runs: Annotated[
        list[Path],
        typer.Argument(help="Two or more run directories trained on the same labels.", show_default=False),
    ],
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="Where to save the ensemble (a run directory).", show_default=False),
    ],
    data: Annotated[
        Path | None,
        typer.Option("--data", help="Labelled file to evaluate the ensemble on.", show_default=False),
    ] = None,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
    as_json: AsJson = False,
    text_col: str | None = None,
    label_col: str | None = None,
) -> None:
    """Average the probabilities of several runs into one saved predictor (use it like any run)."""
    from headstart.workflows.ensembles import ensemble as make_ensemble

    output = Output(as_json, quiet)
    run = make_ensemble(runs, out=out, data=data, text_col=text_col, label_col=label_col, overwrite=overwrite)
    if "test" in run.metrics:
        output.metrics(run.metrics["test"], f"Ensemble of {len(runs)} runs")
    output.line(f"Ensemble saved to {run.path}")


Pool = Annotated[
    Path | None,
    typer.Argument(help="Unlabelled texts to choose from (CSV, TSV, JSONL or Parquet).", show_default=False),
]
GuidingRun = Annotated[
    Path | None,
    typer.Option("--run", help="Run whose uncertainty and embeddings guide the choice.", show_default=False),
]
Count = Annotated[int, typer.Option("-k", help="How many texts to choose.")]
TasksOut = Annotated[
    Path,
    typer.Option(
        "--out", "-o", help="Annotation tasks (item, text, uncertainty, predicted), or the simulation folder."
    ),
]
Method = Annotated[str, typer.Option(help="Uncertainty: margin or entropy (random for a baseline).")]
Replay = Annotated[
    str | None,
    typer.Option(
        "--simulate",
        help="Replay on this labelled file instead (or --dataset): "
        "accuracy against labels used, against random choice.",
        show_default=False,
    ),
]
ReplayDataset = Annotated[
    str | None, typer.Option(help="Bundled dataset for --simulate, e.g. bbc-news.", show_default=False)
]
Seeds = Annotated[int, typer.Option(help="Simulation seeds (initial sets and random choices).")]
Step = Annotated[int, typer.Option(help="Simulation: labels added per round.")]
Budget = Annotated[float, typer.Option(help="Simulation: stop at this share of the pool labelled.")]


@app.command()
@with_flags(config_flags(TrainConfig, only=("text_col", "model")))
def suggest(
    pool: Pool = None,
    run: GuidingRun = None,
    k: Count = 100,
    out: TasksOut = Path("to_label.csv"),
    method: Method = "margin",
    simulate: Replay = None,
    dataset: ReplayDataset = None,
    seeds: Seeds = 3,
    step: Step = 20,
    budget: Budget = 0.3,
    quiet: Quiet = False,
    text_col: str | None = None,
    model: str | None = None,
) -> None:
    """Active learning: the next texts to label, or a replay of the loop (--simulate)."""
    from headstart.workflows import active

    output = Output(quiet=quiet)
    if simulate is not None or dataset is not None:
        model = model or TrainConfig.model
        active.simulate(
            simulate,
            dataset=dataset,
            out=out,
            model=model,
            method=method,
            seeds=seeds,
            step=step,
            budget=budget,
        )
        output.line((out / "simulation.md").read_text(encoding="utf-8"))
        output.note(
            f"Wrote {out / 'simulation.csv'}, {out / 'simulation.md'}, "
            f"{out / 'simulation.png'}, {out / 'summary.json'}"
        )
        return
    if pool is None or run is None:
        raise ConfigError(
            "Give an unlabelled POOL file and --run RUN (or --simulate DATA / --dataset NAME for a replay)."
        )
    tasks = active.suggest(pool, run, k, out, method, text_col)
    output.note(
        f"Wrote {len(tasks)} texts to label to {out}; hand them "
        "to annotators, then `headstart labels aggregate`."
    )
