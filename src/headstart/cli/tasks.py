"""`headstart tasks`: the MicroTasks crowd task service (projects, items, tokens, serving, export)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from headstart.cli.options import AsJson, Quiet
from headstart.cli.output import Output

app = typer.Typer(
    name="tasks",
    no_args_is_help=True,
    help="Crowd tasks: a service that hands out, checks and chains label/create/validate tasks.",
)
DB_ENV = "HEADSTART_TASKS_DB"

Database = Annotated[
    str,
    typer.Option(
        "--db",
        help=f"SQLAlchemy URL: sqlite:///FILE (default sqlite:///microtasks.db, or ${DB_ENV}) or "
        "postgresql+psycopg://user@host/db.",
        show_default=False,
    ),
]
KeyFile = Annotated[
    Path | None,
    typer.Option(
        help="Key for pseudonyms (annotators' ids, personal data in texts): a hex file; default "
        "$HEADSTART_PSEUDONYM_KEY.",
        show_default=False,
    ),
]
ProjectName = Annotated[
    str, typer.Argument(help="The project's name (its file's `name`).", show_default=False)
]


def _open(db: str | None, key_file: Path | None, create: bool = False) -> Any:
    """The service's state; only `project`, `token` and `serve` may start a new database."""
    from headstart.extras import optional
    from headstart.privacy.pseudonyms import KEY_ENV, read_key

    with optional("headstart tasks"):
        from headstart.microtasks.engine import MicroTasks

    # Reports and exports need no key; what does (ids, texts in) says so when it is missing.
    key = read_key(key_file) if key_file is not None or os.environ.get(KEY_ENV) else None
    return MicroTasks(database_url(db), key, create=create)


def database_url(db: str | None) -> str:
    """--db, else $HEADSTART_TASKS_DB, else the SQLite file microtasks.db here."""
    return db or os.environ.get(DB_ENV) or "sqlite:///microtasks.db"


@app.command()
def project(
    file: Annotated[Path, typer.Argument(help="The project file (YAML).", show_default=False)],
    db: Database = "",
    key_file: KeyFile = None,
    quiet: Quiet = False,
) -> None:
    """Create or update a project from its YAML file (checked first)."""
    from headstart.microtasks.project import load_project

    spec = load_project(file)  # before the database exists: a bad file leaves nothing behind
    name = _open(db, key_file, create=True).save_project(spec)
    Output(quiet=quiet).note(f"Project '{name}' saved.")


@app.command()
def add(
    name: ProjectName,
    file: Annotated[
        Path,
        typer.Argument(help="Items: CSV, JSONL, Parquet or Excel with a text column.", show_default=False),
    ],
    step: Annotated[str, typer.Option(help="The step the items enter.", show_default=False)],
    language: Annotated[
        str | None,
        typer.Option(help="One language for every row, or 'detect'; default: the language column."),
    ] = None,
    db: Database = "",
    key_file: KeyFile = None,
    quiet: Quiet = False,
) -> None:
    """Add items to a step (a `gold` column makes gold items; a predict --queue file works as is)."""
    from headstart.microtasks.tables import rows_from_file

    added = _open(db, key_file).add_items(name, step, rows_from_file(file, language))
    Output(quiet=quiet).note(f"Added {added} items to '{name}' step '{step}'.")


@app.command()
def token(
    client: Annotated[str, typer.Argument(help="A name for the app or operator.", show_default=False)],
    role: Annotated[str, typer.Option(help="app (tasks and answers) or admin (everything).")] = "app",
    db: Database = "",
    key_file: KeyFile = None,
) -> None:
    """Create a bearer token for a client; it is printed once (only its hash is kept)."""
    print(_open(db, key_file, create=True).create_token(client, role))


@app.command()
def status(
    name: ProjectName,
    db: Database = "",
    key_file: KeyFile = None,
    html: Annotated[
        Path | None,
        typer.Option(help="Also write the project page (plots, the rules as a graph) to this HTML file."),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """A project's progress by step, its annotators and what a settled item cost."""
    from headstart.files import write_text_atomic

    tasks = _open(db, key_file)
    found = tasks.progress(name)
    output = Output(as_json)
    if html is not None:
        write_text_atomic(html, tasks.page(name, found))
    if as_json:
        output.json(found)
        return
    rows = [
        (step, facts["kind"], facts["open"], facts["settled"], facts["rejected"])
        for step, facts in found["steps"].items()
    ]
    output.table(f"Project {name}", ["step", "kind", "open", "settled", "rejected"], rows)
    cost = found["answers_per_settled_item"]
    output.line(
        f"{found['answers']} answers" + (f", {cost} per settled item" if cost else "; none settled yet")
    )


@app.command()
def export(
    name: ProjectName,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="The file (or folder, for hf-dataset).", show_default=False)
    ],
    file_format: Annotated[str, typer.Option("--format", help="csv, jsonl, parquet or hf-dataset.")] = "csv",
    soft: Annotated[
        bool, typer.Option(help="Add p_<label> columns from Dawid-Skene to label steps.")
    ] = False,
    db: Database = "",
    key_file: KeyFile = None,
    quiet: Quiet = False,
) -> None:
    """Export the settled items of a project's last steps."""
    from headstart.microtasks.tables import write_export

    rows = _open(db, key_file).export(name, soft)
    write_export(rows, out, file_format)
    Output(quiet=quiet).note(f"Wrote {len(rows)} settled items to {out}")


@app.command()
def erase(
    user: Annotated[str, typer.Argument(help="The app's id of the person.", show_default=False)],
    db: Database = "",
    key_file: KeyFile = None,
    quiet: Quiet = False,
) -> None:
    """Erase a person's link to their answers (kept anonymously or deleted, per project)."""
    counts = _open(db, key_file).erase(user)
    Output(quiet=quiet).note(
        f"Erased: {counts['anonymised']} answers anonymised, {counts['deleted']} deleted."
    )


@app.command()
def serve(
    db: Database = "",
    key_file: KeyFile = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8100,
) -> None:
    """Serve the task API: GET /next-task, POST /answers, projects, items, export, erasure."""
    import uvicorn

    from headstart.microtasks.service import create_app

    tasks = _open(db, key_file, create=True)
    Output().line(f"Serving tasks from {tasks.engine.url.render_as_string()} on http://{host}:{port}")
    # No access log: request paths hold the app's user ids.
    uvicorn.run(create_app(tasks), host=host, port=port, log_level="warning", access_log=False)
