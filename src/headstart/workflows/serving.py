"""`headstart serve`: a run behind HTTP (FastAPI + uvicorn).

Concurrent requests are micro-batched: a single worker takes whatever requests are queued (up to
`max_batch` texts, waiting at most `max_wait_ms` for more), runs one forward pass for them all
(the Predictor sorts by length, so batches pad little), and answers each request its own rows.
User input never causes a 500: malformed bodies get 422, oversize bodies and texts 413, a full
queue past the timeout 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from headstart.config import option
from headstart.errors import HeadstartError
from headstart.extras import optional
from headstart.inference.predictor import ModelPredictor
from headstart.models.variants import OnnxClassifier, resolve_variant
from headstart.runs import Run
from headstart.workflows.predict_file import answers

with optional("headstart serve"):  # the 'serve' extra
    import uvicorn
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse, PlainTextResponse, Response
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
    from pydantic import BaseModel, ConfigDict, Field

Input = str | tuple[str, str]


@dataclass(frozen=True)
class ServeLimits:
    """How the server batches and what it accepts; each field is a `headstart serve` flag."""

    max_batch: int = option(32, "Texts per forward pass: concurrent requests share it.")
    max_wait_ms: float = option(2.0, "How long a forming batch waits for more requests (milliseconds).")
    max_texts: int = option(64, "Texts per request (more: 413).")
    max_chars: int = option(20_000, "Characters per text (more: 413).")
    max_body_bytes: int = option(2_000_000, "Bytes per request body (more: 413).")
    timeout: float = option(30.0, "Seconds before an unanswered request gets 503.")


class PredictRequest(BaseModel):
    """One input (`text`) or several (`texts`); an input is a string, or [text, second text] for a
    run trained on sentence pairs."""

    model_config = ConfigDict(extra="forbid")
    text: str | tuple[str, str] | None = Field(None, examples=["Shares in the bank rose 5% after results."])
    texts: list[str | tuple[str, str]] | None = Field(None, examples=[["First text.", "Second text."]])


class MicroBatcher:
    """Requests queue here; one worker runs them through the model in shared batches."""

    def __init__(
        self,
        predict: Callable[[list[Input]], list[dict[str, Any]]],
        limits: ServeLimits,
        batch_sizes: Histogram,
    ) -> None:
        self.predict = predict
        self.limits = limits
        self.batch_sizes = batch_sizes
        self.queue: asyncio.Queue[tuple[list[Input], asyncio.Future]] = asyncio.Queue()
        self.executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="headstart-model"
        )  # one forward pass at a time
        self.worker: asyncio.Task | None = None

    def start(self) -> None:
        """Start the worker on the running event loop."""
        self.worker = asyncio.get_running_loop().create_task(self._work())

    async def stop(self) -> None:
        """Stop the worker; requests still queued are dropped."""
        if self.worker is not None:
            self.worker.cancel()
        self.executor.shutdown(wait=False, cancel_futures=True)

    async def submit(self, inputs: list[Input]) -> list[dict[str, Any]]:
        """Queue the inputs and wait for their answers."""
        future = asyncio.get_running_loop().create_future()
        await self.queue.put((inputs, future))
        return await future

    async def _next_batch(self) -> list[tuple[list[Input], asyncio.Future]]:
        batch = [await self.queue.get()]
        size = len(batch[0][0])
        deadline = time.perf_counter() + self.limits.max_wait_ms / 1000
        while size < self.limits.max_batch:
            try:
                item = self.queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    break
                try:
                    item = await asyncio.wait_for(self.queue.get(), remaining)
                except TimeoutError:
                    break
            batch.append(item)
            size += len(item[0])
        return batch

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [
                (inputs, future) for inputs, future in await self._next_batch() if not future.cancelled()
            ]
            rows = [row for inputs, _ in batch for row in inputs]
            if not rows:
                continue
            self.batch_sizes.observe(len(rows))
            try:
                results = await loop.run_in_executor(self.executor, self.predict, rows)
            except Exception as error:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            start = 0
            for inputs, future in batch:
                if not future.done():
                    future.set_result(results[start : start + len(inputs)])
                start += len(inputs)


@dataclass(frozen=True)
class _Instruments:
    """The server's Prometheus metrics, in a registry of its own."""

    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    batch_sizes: Histogram
    texts: Counter

    @classmethod
    def create(cls) -> _Instruments:
        """Every metric, registered afresh (apps in one process do not share counts)."""
        registry = CollectorRegistry()
        return cls(
            registry,
            Counter(
                "headstart_requests",
                "Requests by endpoint and status code.",
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
        )


class _RefusedError(Exception):
    """A request refused with an HTTP status and a reason."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _refuse(status: int, message: str) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status)


def _checked_inputs(body: PredictRequest, limits: ServeLimits, pairs: bool) -> list[Input]:
    """The request's inputs, or _RefusedError when they break a rule or a limit."""
    if (body.text is None) == (body.texts is None):
        raise _RefusedError(422, 'Send exactly one of "text" (one input) or "texts" (a list of inputs).')
    inputs: list[Input] = [body.text] if body.text is not None else list(body.texts or [])
    if not inputs:
        raise _RefusedError(422, '"texts" is empty; send at least one text.')
    if len(inputs) > limits.max_texts:
        raise _RefusedError(
            413, f"{len(inputs)} texts in one request; send at most {limits.max_texts} per request."
        )
    if any(isinstance(item, tuple) != pairs for item in inputs):
        shape = "[text, second text] pairs" if pairs else "plain strings"
        raise _RefusedError(
            422, f"This model was trained on {'sentence pairs' if pairs else 'single texts'}; send {shape}."
        )
    longest = max(len(part) for item in inputs for part in ((item,) if isinstance(item, str) else item))
    if longest > limits.max_chars:
        raise _RefusedError(
            413, f"A text has {longest} characters; the limit is {limits.max_chars}. Split or shorten it."
        )
    return inputs


def create_app(run: Run, variant: str = "fp32", limits: ServeLimits | None = None) -> FastAPI:
    """The FastAPI app serving `run`: /predict, /health, /metadata, /metrics, /docs."""
    limits = limits or ServeLimits()
    instruments = _Instruments.create()
    batcher = MicroBatcher(lambda rows: answers(run, rows), limits, instruments.batch_sizes)
    pairs = run.config.text_pair_col is not None

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        batcher.start()
        yield
        await batcher.stop()

    app = FastAPI(
        title="headstart",
        version="0.1.0",
        lifespan=lifespan,
        description=f"{run.task.name} model from run '{run.path.name}' ({variant}).",
    )

    @app.middleware("http")
    async def limit_and_count(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        refusal = _body_refusal(request, limits)
        response = refusal if refusal is not None else await call_next(request)
        instruments.requests.labels(request.url.path, str(response.status_code)).inc()
        return response

    @app.post("/predict")
    async def predict(body: PredictRequest) -> JSONResponse:
        """Predict one text or a batch: labels and probabilities, a value, or NER entities."""
        started = time.perf_counter()
        try:
            inputs = _checked_inputs(body, limits, pairs)
            results = await asyncio.wait_for(batcher.submit(inputs), limits.timeout)
        except _RefusedError as refused:
            return _refuse(refused.status, str(refused))
        except TimeoutError:
            return _refuse(
                503, f"No answer within {limits.timeout:.0f} s: the server is overloaded; retry later."
            )
        except HeadstartError as error:
            return _refuse(422, str(error))
        instruments.texts.inc(len(inputs))
        instruments.latency.observe(time.perf_counter() - started)
        return JSONResponse({"predictions": results} if body.texts is not None else results[0])

    _add_info_routes(app, run, variant, limits, batcher, instruments)
    return app


def _body_refusal(request: Request, limits: ServeLimits) -> JSONResponse | None:
    """413 for a POST body over the limit, 411 for a chunked one; None when the body may be read."""
    if request.method != "POST":
        return None
    length = request.headers.get("content-length")
    if length is None and request.headers.get("transfer-encoding"):
        return _refuse(411, "Send a Content-Length header (chunked bodies are not accepted).")
    if length is not None and (not length.isdigit() or int(length) > limits.max_body_bytes):
        return _refuse(
            413, f"Request body over {limits.max_body_bytes} bytes; send fewer or shorter texts per request."
        )
    return None


def _add_info_routes(
    app: FastAPI,
    run: Run,
    variant: str,
    limits: ServeLimits,
    batcher: MicroBatcher,
    instruments: _Instruments,
) -> None:
    """GET /health, /metadata and /metrics."""

    @app.get("/health")
    async def health() -> dict[str, str]:
        """Liveness: the model is loaded and the batch worker runs."""
        alive = batcher.worker is not None and not batcher.worker.done()
        return {"status": "ok" if alive else "down"}

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
        }

    @app.get("/metrics", response_class=PlainTextResponse)
    async def metrics() -> PlainTextResponse:
        """Prometheus text format: requests by status, latency, batch sizes, texts."""
        return PlainTextResponse(
            generate_latest(instruments.registry).decode(), media_type=CONTENT_TYPE_LATEST
        )


def serve(
    run_path: str | Path,
    variant: str = "auto",
    host: str = "127.0.0.1",
    port: int = 8000,
    limits: ServeLimits | None = None,
    device: str = "auto",
    precision: str = "fp32",
) -> None:
    """Serve a run over HTTP until interrupted, its model on `device`."""
    variant = resolve_variant(Path(run_path), variant, precision)
    run = Run.load(run_path, variant, device, precision)
    predictor = run.predictor
    if isinstance(predictor, ModelPredictor) and isinstance(predictor.classifier, OnnxClassifier):
        predictor.classifier = OnnxClassifier(  # idle threads sleep: they share cores with the event loop
            predictor.classifier.path, spin=False, device=predictor.placement.device
        )
    app = create_app(run, variant, limits)
    # No access log: one line per request costs time under load, and request logs can leak data.
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
