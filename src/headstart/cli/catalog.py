"""`headstart models` and `headstart strategies`: what is available here."""

from __future__ import annotations

from typing import Annotated

import typer

from headstart.cli.options import AsJson, RunDir
from headstart.cli.output import Output

app = typer.Typer()


@app.command()
def models(
    folder: Annotated[
        list[str] | None,
        typer.Option(
            "--folder", help="Also describe this local model folder (repeatable).", show_default=False
        ),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """List encoders usable offline: packaged models, given folders, hub models in the cache."""
    from headstart.models.zoo import list_models

    output = Output(as_json)
    found = list_models(folder or [])
    if as_json:
        output.json([{**vars(m), "path": str(m.path)} for m in found])
        return
    output.table(
        "Encoders available offline",
        ["name", "source", "parameters", "layers", "hidden", "max tokens", "languages", "size"],
        [
            (
                m.name,
                m.source,
                f"{m.parameters / 1e6:.1f}M",
                m.layers,
                m.hidden,
                m.max_length,
                m.languages,
                f"{m.size_bytes / 2**20:.0f} MiB",
            )
            for m in found
        ],
    )


@app.command()
def strategies(as_json: AsJson = False) -> None:
    """List adaptation strategies, one line each, with their options."""
    from headstart.strategies import COMBINABLE, STRATEGIES

    output = Output(as_json)
    rows = []
    for name, cls in sorted(STRATEGIES.items()):
        strategy = cls()
        rows.append(
            {
                "strategy": name,
                "what it does": cls.summary,
                "default lr": "-" if strategy.default_lr is None else f"{strategy.default_lr:g}",
                "options": ", ".join(f"{k}={v}" for k, v in strategy.config.to_dict().items()) or "-",
            }
        )
    if as_json:
        output.json(rows)
        return
    output.rows(rows, "Strategies")
    output.table("Combined with any strategy", ["method", "what it does", "how"], COMBINABLE)


@app.command()
def info(run: RunDir, as_json: AsJson = False) -> None:
    """What a run is: task, labels, model, strategy, data, test metrics, variants, size."""
    from headstart.runs import run_facts

    output = Output(as_json)
    facts = run_facts(run)
    if as_json:
        output.json(facts)
        return
    rows = [(key, value) for key, value in facts.items() if key not in ("test", "load", "labels", "members")]
    rows[rows.index(("size_bytes", facts["size_bytes"]))] = ("size", f"{facts['size_bytes'] / 2**20:.1f} MiB")
    rows += [("labels", ", ".join(facts["labels"]) or "(a number per text)")]
    rows += [(f"test {name}", f"{value:.4f}") for name, value in facts["test"].items()]
    rows += [("members", ", ".join(facts["members"]))] if facts["members"] else []
    rows += [("load in Python", facts["load"]["python"]), ("predict a file", facts["load"]["cli"])]
    output.table(
        f"Run {run}",
        ["", ""],
        [(key, ", ".join(value) if isinstance(value, list) else value) for key, value in rows],
    )
