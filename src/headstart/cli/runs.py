"""Commands that use finished runs: evaluate, predict, ensemble, suggest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from headstart.cli.options import (
    DEVICE,
    AsJson,
    Overwrite,
    PairCol,
    Quiet,
    RunDir,
    Variant,
    config_flags,
    with_flags,
)
from headstart.cli.output import Output
from headstart.config import TrainConfig
from headstart.errors import ConfigError

app = typer.Typer()

COLUMNS = config_flags(TrainConfig, only=("text_col", "label_col", "encoding", "delimiter"))
READING = config_flags(TrainConfig, only=("text_col", "encoding", "delimiter"))
KeyFile = Annotated[
    str | None,
    typer.Option(
        "--pseudonymize",
        help="Key file: pseudonymize the file's personal data first (default: the run's own key).",
        show_default=False,
    ),
]


@app.command()
@with_flags(COLUMNS, DEVICE)
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
    encoding: str | None = None,
    delimiter: str | None = None,
    device: str = "auto",
    precision: str = "fp32",
) -> None:
    """Evaluate a run on a labelled file: the task's metrics, per class and per language."""
    from headstart.runs import load_run

    output = Output(as_json, quiet)
    metrics = load_run(run, variant, device, precision).evaluate(
        data, text_col, label_col, out, text_pair_col, pseudonymize, encoding=encoding, delimiter=delimiter
    )
    output.metrics(metrics, f"Evaluation on {data.name}")


Rows = Annotated[
    list[str] | None,
    typer.Argument(
        help="File of texts (CSV, TSV, JSONL, Parquet or Excel), or - for JSON lines or CSV on "
        "standard input; several files or folders write one output each into the --out folder.",
        show_default=False,
    ),
]
Engine = Annotated[
    str,
    typer.Option(
        help="local (this process) or ray: Ray Data actors, one model each, on a local Ray or --address."
    ),
]
PredictionsOut = Annotated[
    str | None,
    typer.Option(
        "--out",
        "-o",
        help="Where to write the rows with their "
        "predictions (the format follows the "
        "extension), or - for standard output.",
        show_default=False,
    ),
]
Texts = Annotated[
    list[str] | None,
    typer.Option("--text", help="Predict this text instead of a file (repeatable).", show_default=False),
]

Coverage = Annotated[
    float | None,
    typer.Option(
        help="Add each text's conformal set of labels, holding the true one with this probability "
        "(e.g. 0.9), and mark texts whose set is not one label as uncertain.",
        show_default=False,
    ),
]
QueueFile = Annotated[
    Path | None,
    typer.Option(help="With --coverage: write the uncertain texts as annotation tasks (crowd format)."),
]


@app.command()
@with_flags(READING, DEVICE)
def predict(
    run: RunDir,
    rows: Rows = None,
    out: PredictionsOut = None,
    text: Texts = None,
    text_pair_col: PairCol = None,
    pseudonymize: KeyFile = None,
    variant: Variant = "auto",
    quiet: Quiet = False,
    as_json: AsJson = False,
    text_col: str | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    device: str = "auto",
    precision: str = "fp32",
    engine: Engine = "local",
    address: Annotated[
        str | None, typer.Option(help="Ray cluster to join (e.g. ray://head:10001); default: a local Ray.")
    ] = None,
    workers: Annotated[int, typer.Option(help="Ray actors, one model and one CPU each.")] = 2,
    coverage: Coverage = None,
    queue: QueueFile = None,
) -> None:
    """Predict every text of a file (or of many files, on Ray): labels and a probability per class."""
    from headstart.workflows.predict_file import STDIO, predict_file, predict_texts
    from headstart.workflows.predict_many import predict_many

    many = rows is not None and (len(rows) > 1 or any(Path(r).is_dir() for r in rows) or engine != "local")
    if queue is not None and text:
        raise ConfigError("--queue gathers the uncertain rows of files; --text shows each text's set.")
    if text:
        answered = predict_texts(run, text, variant, device, precision, coverage)
        return _show_answers(Output(as_json, quiet), text, answered)
    if not rows or out is None:
        raise ConfigError(
            "Give a file of texts and --out FILE (- reads standard input, -o - writes standard output), "
            "or --text TEXT."
        )
    reading: dict[str, Any] = {"text_col": text_col, "text_pair_col": text_pair_col, "encoding": encoding}
    reading |= {"delimiter": delimiter, "pseudonymize": pseudonymize}
    sets: dict[str, Any] = {"coverage": coverage, "queue": queue}
    if many:
        written = predict_many(
            run, list(rows), out, engine, address, workers, variant, device, **reading, **sets
        )
        output = Output(as_json, quiet)
        if as_json:
            output.json(written)
        output.note(f"Wrote {sum(written.values())} predictions into {len(written)} files in {out}")
        return
    output = Output(as_json, quiet or out == STDIO)  # standard output holds the predictions alone
    count = predict_file(
        run, rows[0], out, variant=variant, device=device, precision=precision, **sets, **reading
    )
    if as_json and out != STDIO:
        output.json({"rows": count, "out": out})
    output.note(f"Wrote {count} predictions to {out}")


def _show_answers(output: Output, texts: list[str], answers: list[dict[str, Any]]) -> None:
    """The answers to `--text`: as JSON, or a table of each text and its prediction in words."""
    if output.as_json:
        output.json(answers)
        return
    rows = [(text, _summary(answer)) for text, answer in zip(texts, answers, strict=True)]
    output.table(None, ["text", "prediction"], rows)


def _summary(answer: dict[str, Any]) -> str:
    """One prediction in words: the label and its probability, the labels, a value or entities."""
    if "entities" in answer:
        return ", ".join(f"{e['text']} ({e['label']})" for e in answer["entities"]) or "no entities"
    if "value" in answer:
        return f"{answer['value']:.4g}"
    if "labels" in answer:
        return ", ".join(answer["labels"]) or "no label"
    shown = f"{answer['label']} ({answer['probabilities'][answer['label']]:.3f})"
    if "label_set" in answer:
        shown += f"; set {{{', '.join(answer['label_set'])}}}" + (
            ", uncertain" if answer["uncertain"] else ""
        )
    return shown


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
    encoding: str | None = None,
    delimiter: str | None = None,
) -> None:
    """Average the probabilities of several runs into one saved predictor (use it like any run)."""
    from headstart.workflows.ensembles import ensemble as make_ensemble

    output = Output(as_json, quiet)
    run = make_ensemble(
        runs,
        out=out,
        data=data,
        text_col=text_col,
        label_col=label_col,
        overwrite=overwrite,
        encoding=encoding,
        delimiter=delimiter,
    )
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
@with_flags(config_flags(TrainConfig, only=("text_col", "model")), DEVICE)
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
    as_json: AsJson = False,
    text_col: str | None = None,
    model: str | None = None,
    device: str = "auto",
    precision: str = "fp32",
) -> None:
    """Active learning: the next texts to label, or a replay of the loop (--simulate)."""
    from headstart.workflows import active

    output = Output(as_json, quiet)
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
            device=device,
        )
        if as_json:
            output.json(json.loads((out / "summary.json").read_text(encoding="utf-8")))
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
    tasks = active.suggest(pool, run, k, out, method, text_col, device, precision)
    if as_json:
        output.json({"out": str(out), "tasks": len(tasks)})
    output.note(
        f"Wrote {len(tasks)} texts to label to {out}; hand them "
        "to annotators, then `headstart labels aggregate`."
    )
