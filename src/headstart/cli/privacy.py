"""`headstart privacy scan`, `pseudonymize` and `reidentify`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from headstart.cli.options import AsJson
from headstart.cli.output import Output

app = typer.Typer(
    name="privacy", no_args_is_help=True, help="Personal data: scan, pseudonymize, re-identify (offline)."
)

KeyFile = Annotated[
    Path | None,
    typer.Option(
        "--key-file",
        help="32-byte hex key; pseudonymize creates it (mode 600) if missing. "
        "Without it: the key in $HEADSTART_PSEUDONYM_KEY.",
        show_default=False,
    ),
]
NamesRun = Annotated[
    Path | None,
    typer.Option(
        "--names-run",
        help="A headstart NER run: its person and place names count as personal data too.",
        show_default=False,
    ),
]


@app.command("scan")
def scan(
    data: Annotated[
        Path, typer.Argument(help="File to scan (CSV, TSV, JSONL or Parquet).", show_default=False)
    ],
    names_run: NamesRun = None,
    as_json: AsJson = False,
) -> None:
    """Count personal data by column and type (email, phone, IBAN, card, IP, URL; names with --names-run).

    No value is printed, only counts."""
    from headstart.preparation import name_finder
    from headstart.privacy.pseudonyms import scan_file

    output = Output(as_json)
    counts = scan_file(data, name_finder(names_run))
    if as_json:
        output.json(json.loads(counts.to_json(orient="records")))
    elif len(counts):
        output.table(
            f"Personal data in {data.name}",
            ["column", "type", "count"],
            [(row.column, row.type, row.count) for row in counts.itertuples()],
        )
    else:
        output.line(f"No structured personal data found in {data.name}.")


@app.command("pseudonymize")
def pseudonymize(
    data: Annotated[
        Path, typer.Argument(help="File whose text cells hold personal data.", show_default=False)
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="Pseudonymized copy; the encrypted mapping goes to <out>.vault.",
            show_default=False,
        ),
    ],
    key_file: KeyFile = None,
    names_run: NamesRun = None,
    as_json: AsJson = False,
) -> None:
    """Replace personal data by keyed pseudonyms (same value, same pseudonym under one key)."""
    from headstart.preparation import name_finder
    from headstart.privacy.pseudonyms import pseudonymize_file

    count = pseudonymize_file(data, out, key_file, name_finder(names_run))
    output = Output(as_json)
    if as_json:
        output.json({"out": str(out), "vault": f"{out}.vault", "values": count})
    output.line(f"Wrote {out} with {count} distinct value(s) pseudonymized; mapping encrypted in {out}.vault")


@app.command("reidentify")
def reidentify(
    data: Annotated[
        Path, typer.Argument(help="A pseudonymized file (its .vault beside it).", show_default=False)
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Where to write the original values back.", show_default=False)
    ],
    key_file: KeyFile = None,
    as_json: AsJson = False,
) -> None:
    """Reverse `privacy pseudonymize` with its key."""
    from headstart.privacy.pseudonyms import reidentify_file

    count = reidentify_file(data, out, key_file)
    output = Output(as_json)
    if as_json:
        output.json({"out": str(out), "replaced": count})
    output.line(f"Wrote {out}: {count} pseudonym(s) replaced by their original values")
