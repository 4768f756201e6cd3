"""Running `headstart serve`: one process, or `--workers N` processes sharing the port (uvicorn
spawns them; each loads the model and runs its own micro-batcher on its share of the cores).

On SIGTERM or SIGINT uvicorn stops accepting connections, waits up to the limits' `timeout` for
the requests it holds to be answered, then exits.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from headstart.errors import RunError
from headstart.extras import optional
from headstart.inference.predictor import ModelPredictor
from headstart.models.variants import OnnxClassifier, resolve_variant
from headstart.runs import Run, run_facts
from headstart.workflows.serving import ServeAccess, ServeLimits, create_app

with optional("headstart serve"):  # the 'serve' extra
    import uvicorn
    from fastapi import FastAPI

SETTINGS_ENV = "HEADSTART_SERVE_SETTINGS"  # how `--workers N` hands the settings to its processes


def serve(
    run_path: str | Path,
    variant: str = "auto",
    host: str = "127.0.0.1",
    port: int = 8000,
    limits: ServeLimits | None = None,
    device: str = "auto",
    precision: str = "fp32",
    access: ServeAccess | None = None,
) -> None:
    """Serve a run over HTTP until interrupted (SIGINT or SIGTERM), its model on `device`."""
    limits, access = limits or ServeLimits(), access or ServeAccess()
    settings = {
        "run": str(run_path),
        "variant": resolve_variant(Path(run_path), variant, precision),
        "device": device,
        "precision": precision,
        "limits": asdict(limits),
        "access": asdict(access),
    }
    # No access log: one line per request costs time under load, and request logs can leak data.
    # On SIGTERM uvicorn stops accepting and waits up to `timeout` for the requests it holds.
    common: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": "warning",
        "access_log": False,
        "timeout_graceful_shutdown": limits.timeout,
    }
    # uvicorn raises the signal again once it has shut down; a stop we asked for exits 0.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if access.workers == 1:
        uvicorn.run(_app_from_settings(settings), **common)
        return
    run_facts(run_path)  # a wrong folder fails here in one line, not in every worker
    os.environ[SETTINGS_ENV] = json.dumps(settings)
    uvicorn.run(f"{__name__}:app_from_environment", factory=True, workers=access.workers, **common)


def app_from_environment() -> FastAPI:
    """The app of one `--workers` process, from the settings its parent put in the environment."""
    settings = json.loads(os.environ.get(SETTINGS_ENV) or "null")
    if not isinstance(settings, dict):
        raise RunError(f"${SETTINGS_ENV} is not set; start the server with `headstart serve`.")
    workers = settings["access"]["workers"]
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))  # each process takes its share
    return _app_from_settings(settings)


def _app_from_settings(settings: dict[str, Any]) -> FastAPI:
    run = Run.load(settings["run"], settings["variant"], settings["device"], settings["precision"])
    predictor = run.predictor
    if isinstance(predictor, ModelPredictor) and isinstance(predictor.classifier, OnnxClassifier):
        predictor.classifier = OnnxClassifier(  # idle threads sleep: they share cores with the event loop
            predictor.classifier.path, spin=False, device=predictor.placement.device
        )
    limits = ServeLimits(**settings["limits"])
    access = ServeAccess(**settings["access"])  # written by `serve` from asdict(ServeAccess)
    return create_app(run, settings["variant"], limits, access)
