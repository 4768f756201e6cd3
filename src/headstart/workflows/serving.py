"""`headstart serve`: a run behind HTTP (FastAPI + uvicorn), ready for a load balancer.

- Access: with an API key (`--api-key` or $HEADSTART_API_KEY) every route but /health needs
  `Authorization: Bearer <key>`; CORS is off unless `--cors-origin` names origins. Every response
  carries an `X-Request-ID` (the client's, or a new one).
- Load: concurrent requests are micro-batched (`microbatch.py`); the queue is bounded in texts and
  a full one answers 503 with `Retry-After`; an unanswered request gets 503 after `timeout`.
  `--workers N` runs N processes on one port, each with its own model and batcher. On SIGTERM
  the server stops accepting, answers what it holds, then exits.
- Errors: every 4xx and 500 has the shape {"detail", "status", "request_id"}; user input never
  causes a 500 (`serve_requests.py`). A 500 logs only the error's type, place and request id.
- Metrics (/metrics, Prometheus) are labelled by route and status only (`unmatched` for any path
  that is not a route), so a scanner cannot grow them. /docs is Swagger UI 5 from the files the
  fastapi-offline package installs, with no network.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from headstart.config import option
from headstart.errors import ConfigError, HeadstartError
from headstart.extras import optional
from headstart.runs import Run
from headstart.version import __version__
from headstart.workflows.microbatch import MicroBatcher, QueueFullError
from headstart.workflows.predict_file import answers, with_label_sets
from headstart.workflows.serve_explain import add_explain_route
from headstart.workflows.serve_requests import (
    REQUEST_ID_HEADER,
    PredictRequest,
    RefusedError,
    add_error_handlers,
    answer_or_500,
    authorised,
    checked_inputs,
    error_response,
    request_id,
)

with optional("headstart serve"):  # the 'serve' extra
    import fastapi_offline
    from fastapi import FastAPI, Request
    from fastapi.middleware.cors import CORSMiddleware
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
    from fastapi.staticfiles import StaticFiles
    from prometheus_client import (
        CONTENT_TYPE_LATEST,
        CollectorRegistry,
        Counter,
        Gauge,
        Histogram,
        generate_latest,
    )

API_KEY_ENV = "HEADSTART_API_KEY"
OPEN_ROUTES = ("/health",)  # answered without the API key (load balancers' liveness probes)
DOCS_ASSETS = "/docs/assets"
UNMATCHED = "unmatched"
logger = logging.getLogger("headstart.serve")


@dataclass(frozen=True)
class ServeLimits:
    """How the server batches and what it accepts; each field is a `headstart serve` flag."""

    max_batch: int = option(32, "Texts per forward pass: concurrent requests share it.")
    max_wait_ms: float = option(2.0, "How long a forming batch waits for more requests (milliseconds).")
    max_texts: int = option(64, "Texts per request (more: 413).")
    max_chars: int = option(20_000, "Characters per text (more: 413).")
    max_body_bytes: int = option(2_000_000, "Bytes per request body (more: 413).")
    max_queue: int = option(1024, "Texts waiting for the model, at most (more: 503 with Retry-After).")
    timeout: float = option(30.0, "Seconds before an unanswered request gets 503; also the SIGTERM grace.")


@dataclass(frozen=True)
class ServeAccess:
    """Who may call the server, and how many processes answer; each field is a `headstart serve` flag."""

    api_key: str | None = option(
        None,
        f"Bearer token required on every route but /health (default: ${API_KEY_ENV}, which, unlike "
        "a flag, `ps` does not show; unset: open).",
    )
    cors_origin: list[str] = option(
        [], "Browser origin allowed to call the server, repeatable (default: none)."
    )
    workers: int = option(1, "Server processes on the port, each with its own model and micro-batcher.")

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ConfigError(f"--workers must be at least 1; got {self.workers}.")


@dataclass(frozen=True)
class _Instruments:
    """The server's Prometheus metrics, in a registry of its own."""

    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    batch_sizes: Histogram
    texts: Counter
    in_flight: Gauge

    @classmethod
    def create(cls) -> _Instruments:
        """Every metric, registered afresh (apps in one process do not share counts)."""
        registry = CollectorRegistry()
        return cls(
            registry,
            Counter(
                "headstart_requests",
                "Requests by route and status code.",
                ["endpoint", "status"],
                registry=registry,
            ),
            Histogram(
                "headstart_request_seconds",
                "Time to answer a /predict request.",
                registry=registry,
                buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            ),
            Histogram(
                "headstart_batch_texts",
                "Texts per forward pass.",
                registry=registry,
                buckets=(1, 2, 4, 8, 16, 32, 64, 128),
            ),
            Counter("headstart_texts", "Texts predicted.", registry=registry),
            Gauge("headstart_requests_in_flight", "Requests read and not yet answered.", registry=registry),
        )


def create_app(
    run: Run, variant: str = "fp32", limits: ServeLimits | None = None, access: ServeAccess | None = None
) -> FastAPI:
    """The FastAPI app serving `run`: /predict, /explain (single-label classification), /health,
    /ready, /metadata, /metrics, /docs."""
    limits, access = limits or ServeLimits(), access or ServeAccess()
    instruments = _Instruments.create()
    batcher = MicroBatcher(
        lambda rows: answers(run, rows),
        limits.max_batch,
        limits.max_wait_ms,
        limits.max_queue,
        instruments.batch_sizes.observe,
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        batcher.start()
        yield
        await batcher.stop()
        unanswered = int(instruments.registry.get_sample_value("headstart_requests_in_flight") or 0)
        if unanswered:  # uvicorn waited `timeout` for them; say so (soak checks for this line)
            logger.error("shut down with %d request(s) read and never answered", unanswered)

    app = FastAPI(
        title="headstart",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,  # served from installed files below, not from a CDN
        redoc_url=None,
        description=f"{run.task.name} model from run '{run.path.name}' ({variant}).",
    )
    _add_guard(app, limits, access.api_key or os.environ.get(API_KEY_ENV) or None, instruments)
    add_error_handlers(app)
    _add_predict_route(app, run, limits, batcher, instruments)
    if run.task.name == "classification" and run.config.text_pair_col is None:
        add_explain_route(app, run, limits.max_chars)
    _add_info_routes(app, run, variant, limits, batcher, instruments)
    _add_docs(app)
    if access.cors_origin:  # added last, so it runs first: preflights are answered before the key check
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(access.cors_origin),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", REQUEST_ID_HEADER],
            expose_headers=[REQUEST_ID_HEADER],
        )
    return app


def _add_guard(app: FastAPI, limits: ServeLimits, api_key: str | None, instruments: _Instruments) -> None:
    """One middleware: request id, the key, body limits, a 500 in the one shape, metrics by route."""
    routes: set[str] = set()

    def route_label(path: str) -> str:
        if not routes:  # gathered once, when the first request comes and every route exists
            routes.update(getattr(route, "path", "") for route in app.routes)
        if path.startswith(DOCS_ASSETS + "/"):
            return DOCS_ASSETS
        return path if path in routes else UNMATCHED

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        request.state.request_id = request_id(request)
        with instruments.in_flight.track_inprogress():
            response = await _guarded(request, call_next)
        instruments.requests.labels(route_label(request.url.path), str(response.status_code)).inc()
        return response

    async def _guarded(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if api_key is not None and request.url.path not in OPEN_ROUTES and not authorised(request, api_key):
            response: Response = error_response(
                request,
                401,
                "This server needs an API key; send the header 'Authorization: Bearer <key>'.",
                {"WWW-Authenticate": "Bearer"},
            )
        else:
            response = _body_refusal(request, limits) or await answer_or_500(request, call_next, logger)
        response.headers[REQUEST_ID_HEADER] = request.state.request_id
        return response


def _body_refusal(request: Request, limits: ServeLimits) -> JSONResponse | None:
    """413 for a POST body over the limit, 411 for a chunked one; None when the body may be read."""
    if request.method != "POST":
        return None
    length = request.headers.get("content-length")
    if length is None and request.headers.get("transfer-encoding"):
        return error_response(request, 411, "Send a Content-Length header (chunked bodies are not accepted).")
    if length is not None and (not length.isdigit() or int(length) > limits.max_body_bytes):
        message = f"Request body over {limits.max_body_bytes} bytes; send fewer or shorter texts per request."
        return error_response(request, 413, message)
    return None


def _add_predict_route(
    app: FastAPI, run: Run, limits: ServeLimits, batcher: MicroBatcher, instruments: _Instruments
) -> None:
    pairs = run.config.text_pair_col is not None
    busy = {"Retry-After": "1"}

    @app.post("/predict")
    async def predict(body: PredictRequest, request: Request) -> JSONResponse:
        """Predict one text or a batch: labels and probabilities, a value, or NER entities; with
        `coverage`, each text's conformal label set and whether it is uncertain."""
        started = time.perf_counter()
        try:
            given, listed = body.given()
            inputs = checked_inputs(given, pairs, limits.max_texts, limits.max_chars)
            if body.coverage is not None:  # refused before anything is queued
                run.check_label_sets(body.coverage)
            results = await asyncio.wait_for(batcher.submit(inputs), limits.timeout)
            if body.coverage is not None:
                results = with_label_sets(run, results, body.coverage)
        except RefusedError as refused:
            return error_response(request, refused.status, str(refused), refused.headers)
        except QueueFullError:
            message = f"The server holds {limits.max_queue} queued texts already; retry shortly."
            return error_response(request, 503, message, busy)
        except TimeoutError:
            message = f"No answer within {limits.timeout:g} s: the server is overloaded; retry later."
            return error_response(request, 503, message, busy)
        except HeadstartError as error:
            return error_response(request, 422, str(error))
        instruments.texts.inc(len(inputs))
        instruments.latency.observe(time.perf_counter() - started)
        return JSONResponse({"predictions": results} if listed else results[0])


def _add_info_routes(
    app: FastAPI,
    run: Run,
    variant: str,
    limits: ServeLimits,
    batcher: MicroBatcher,
    instruments: _Instruments,
) -> None:
    """GET /health, /ready, /metadata and /metrics."""

    @app.get("/health")
    async def health() -> dict[str, str]:
        """Liveness: the process answers (no key needed)."""
        return {"status": "ok"}

    @app.get("/ready", response_model=None)
    async def ready(request: Request) -> dict[str, str] | JSONResponse:
        """Readiness: the model is loaded, its worker runs and the queue has room (else 503)."""
        if not batcher.running:
            return error_response(request, 503, "The model worker is not running.")
        if batcher.saturated:
            return error_response(request, 503, "The queue is full; retry shortly.", {"Retry-After": "1"})
        return {"status": "ready"}

    @app.get("/metadata")
    async def metadata() -> dict[str, Any]:
        """The model behind this server: encoder, strategy, task, labels, test metrics, limits."""
        test = {
            name: value for name, value in run.metrics.get("test", {}).items() if isinstance(value, float)
        }
        return {
            "run": run.path.name,
            "model": run.config.model,
            "strategy": run.config.strategy,
            "variant": variant,
            "device": str(run.predictor.placement.device),
            "task": run.task.name,
            "labels": run.task.classes,
            "max_length": run.config.max_length,
            "sentence_pairs": run.config.text_pair_col is not None,
            "test_metrics": test,
            "limits": asdict(limits),
            "process": os.getpid(),  # which of the `--workers` processes answered
        }

    @app.get("/metrics", response_class=PlainTextResponse)
    async def metrics() -> PlainTextResponse:
        """Prometheus text format: requests by route and status, latency, batch sizes, texts."""
        return PlainTextResponse(
            generate_latest(instruments.registry).decode(), media_type=CONTENT_TYPE_LATEST
        )


def _add_docs(app: FastAPI) -> None:
    """GET /docs: Swagger UI 5 (it reads the OpenAPI 3.1 that FastAPI writes) from the files the
    fastapi-offline package installs, so it works with no network."""
    assets = Path(fastapi_offline.__file__).parent / "static"
    app.mount(DOCS_ASSETS, StaticFiles(directory=str(assets)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="headstart serve",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon.png",
        )
