"""`headstart export` and `headstart push`: a run as a folder for transformers,
sentence-transformers or ONNX Runtime, and that folder on the Hugging Face Hub."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from headstart.cli.options import AsJson, Overwrite, Quiet, RunDir
from headstart.cli.output import Output

app = typer.Typer()

Format = Annotated[
    str | None,
    typer.Option(
        "--format",
        help="transformers (runs trained through a transformers head), sentence-transformers "
        "(frozen encoders), or onnx (every run); default: the one that suits the run.",
        show_default=False,
    ),
]


@app.command()
def export(
    run: RunDir,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write.", show_default=False)],
    fmt: Format = None,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
    as_json: AsJson = False,
) -> None:
    """Export a run for transformers, sentence-transformers or ONNX Runtime (no headstart needed)."""
    from headstart.exports import export_run

    output = Output(as_json, quiet)
    folder = export_run(run, fmt, out, overwrite)
    if as_json:
        output.json({"out": str(folder)})
    output.note(f"Exported {run} to {folder}; its README.md says how to load it.")


@app.command()
def push(
    run: RunDir,
    repo_id: Annotated[
        str, typer.Argument(help="Hub repository, e.g. my-org/news-topics.", show_default=False)
    ],
    fmt: Format = None,
    private: Annotated[bool, typer.Option("--private", help="Create the repository as private.")] = False,
    token: Annotated[
        str | None,
        typer.Option(help="Hub token (default: HF_TOKEN or `hf auth login`'s).", show_default=False),
    ] = None,
    local_dir: Annotated[
        Path | None,
        typer.Option(help="Write the repository's files here and upload nothing.", show_default=False),
    ] = None,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
    as_json: AsJson = False,
) -> None:
    """Upload a run's export, with its model card, to the Hugging Face Hub."""
    from headstart.exports.hub import push_run

    output = Output(as_json, quiet)
    where = push_run(run, repo_id, fmt, private, token, local_dir, overwrite)
    if as_json:
        output.json({"repo_id": repo_id, "at": where})
    output.note(f"Pushed {run} to {where}" if local_dir is None else f"Wrote {repo_id}'s files to {where}")
