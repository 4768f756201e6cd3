"""The `headstart` command: a thin layer over the Python API.

Each command parses flags, calls one API function and prints its result through `Output`.
Commands live in modules by group (train.py: training and searches, runs.py: using a run, ...)
that are imported only when their command runs, so `headstart --help` starts in well under a
second; `ROOT_COMMANDS` lists them with the one-line help shown there.
"""

from __future__ import annotations

import importlib
import os
import sys
import warnings
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from headstart.cli.errors import debugging, report
from headstart.progress import quiet_libraries
from headstart.version import __version__

# name → (module in headstart.cli, one-line help). A module's typer app holds its commands; the
# modules of `labels` and `privacy` are sub-groups.
ROOT_COMMANDS: dict[str, tuple[str, str]] = {
    "train": (
        "train",
        "Train a classifier on a labelled file (or a bundled dataset) and save a run directory.",
    ),
    "evaluate": (
        "runs",
        "Evaluate a run on a labelled file: the task's metrics, per class and per language.",
    ),
    "predict": (
        "runs",
        "Predict every text of a file (or of many files, on Ray): labels and a probability per class.",
    ),
    "compare": (
        "train",
        "Run models × strategies × seeds on one split: leaderboard, Pareto plot, HTML report.",
    ),
    "tune": (
        "train",
        "Search hyper-parameters with Optuna for the dev score and latency; report the Pareto front.",
    ),
    "learning-curve": (
        "train",
        "How many labels are needed: test quality against labelled examples, per strategy.",
    ),
    "ensemble": (
        "runs",
        "Average the probabilities of several runs into one saved predictor (use it like any run).",
    ),
    "quantize": ("compress", "Make int8 variants of a run and measure each against fp32 on the test split."),
    "distill": (
        "compress",
        "Knowledge distillation: a smaller student learns the teacher's probabilities and labels.",
    ),
    "prune": ("compress", "Prune attention heads and/or weights by magnitude, then fine-tune briefly."),
    "export": (
        "export",
        "Export a run for transformers, sentence-transformers or ONNX Runtime (no headstart needed).",
    ),
    "push": ("export", "Upload a run's export, with its model card, to the Hugging Face Hub."),
    "serve": (
        "serve",
        "Serve a run over HTTP: POST /predict, GET /health, /ready, /metadata, /metrics, /docs.",
    ),
    "explain": (
        "explain",
        "Why did the run say that: a score per word, as an HTML page and JSON.",
    ),
    "map": (
        "explain",
        "Where the run puts each text: a 2-D map (UMAP or PCA) by label, as PNG and HTML.",
    ),
    "suggest": ("runs", "Active learning: the next texts to label, or a replay of the loop (--simulate)."),
    "labels": (
        "labels",
        "Crowd labels: aggregate several annotators' answers, audit a labelled file, prelabel with an LLM.",
    ),
    "privacy": ("privacy", "Personal data: scan, pseudonymize, re-identify (offline)."),
    "tasks": (
        "tasks",
        "Crowd tasks: a service that hands out, checks and chains label/create/validate tasks.",
    ),
    "models": (
        "catalog",
        "List encoders usable offline: packaged models, given folders, hub models in the cache.",
    ),
    "strategies": ("catalog", "List adaptation strategies, one line each, with their options."),
    "info": ("catalog", "What a run is: task, labels, model, strategy, data, test metrics, variants, size."),
}
GROUPS = {"labels", "privacy", "tasks"}


class LazyCommands(TyperGroup):
    """The root group: commands are imported when run; the help lists them from ROOT_COMMANDS."""

    listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        """Every command name, in the order of ROOT_COMMANDS."""
        return list(ROOT_COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        """The command (imported now), or a stand-in carrying its help while the help is printed."""
        if cmd_name not in ROOT_COMMANDS:
            return None
        module, summary = ROOT_COMMANDS[cmd_name]
        if self.listing:
            return TyperCommand(cmd_name, help=summary, short_help=summary)
        group = typer.main.get_group(importlib.import_module(f"headstart.cli.{module}").app)
        return group if cmd_name in GROUPS else group.commands[cmd_name]

    def format_help(self, ctx: Any, formatter: Any) -> None:
        """The root help, built from ROOT_COMMANDS without importing any command."""
        self.listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self.listing = False


app = typer.Typer(cls=LazyCommands, no_args_is_help=True, pretty_exceptions_enable=False)


def _print_version(value: bool) -> None:
    if value:
        print(f"headstart {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print headstart's version and exit.", is_eager=True, callback=_print_version
        ),
    ] = False,
) -> None:
    """Transfer learning for text classification: train, evaluate, compress, serve — offline."""


def _show_warning(
    message: Any, category: Any, filename: Any, lineno: Any, file: Any = None, line: Any = None
) -> None:
    print(f"warning: {message}", file=sys.stderr)


INTERRUPTED = 130


def main(argv: list[str] | None = None) -> None:
    """Entry point: run a command, turn known errors into one line and an exit code."""
    warnings.showwarning = _show_warning
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    quiet_libraries(debugging())
    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="headstart", standalone_mode=False)
    except BaseException as error:
        if isinstance(error, SystemExit):
            raise
        exit_code, line = report(error)
        print(line, file=sys.stderr)
        sys.exit(exit_code)
    if code == INTERRUPTED:  # typer turns Ctrl-C (and SIGTERM, in long jobs) into this code
        print("error: interrupted", file=sys.stderr)
    sys.exit(code if isinstance(code, int) else 0)
