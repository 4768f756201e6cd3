"""`headstart serve`: its limits' flags come from `ServeLimits`, declared once with the server."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from headstart.cli.options import DEVICE, RunDir, Variant, config_flags, given, with_flags
from headstart.cli.output import Output
from headstart.models.variants import resolve_variant
from headstart.workflows.serve_processes import serve as serve_run
from headstart.workflows.serving import ServeAccess, ServeLimits

app = typer.Typer()


@app.command()
@with_flags(config_flags(ServeLimits, optional=False), config_flags(ServeAccess, optional=False), DEVICE)
def serve(
    run: RunDir,
    variant: Variant = "auto",
    host: Annotated[
        str, typer.Option(help="Interface to listen on (0.0.0.0: every interface).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    device: str = "auto",
    precision: str = "fp32",
    **settings: Any,
) -> None:
    """Serve a run over HTTP: POST /predict, GET /health, /ready, /metadata, /metrics, /docs."""
    limits, access = ServeLimits(**given(settings, ServeLimits)), ServeAccess(**given(settings, ServeAccess))
    variant = resolve_variant(run, variant, precision)
    Output().line(f"Serving {run} ({variant}) on http://{host}:{port} — docs at /docs")
    serve_run(run, variant, host, port, limits, device, precision, access)
