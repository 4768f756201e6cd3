"""`headstart serve`: a run behind HTTP (FastAPI + uvicorn).

Concurrent requests are micro-batched: a single worker takes whatever requests are queued (up to
`max_batch` texts, waiting at most `max_wait_ms` for more), runs one forward pass for them all
(the Predictor sorts by length, so batches pad little), and answers each request its own rows.
User input never causes a 500: malformed bodies get 422, oversize bodies and texts 413, a full
queue past the timeout 503.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from pydantic import BaseModel, ConfigDict, Field

from headstart.errors import HeadstartError
from headstart.run import Run

Input = str | tuple[str, str]


@dataclass(frozen=True)
class ServeLimits:
    max_batch: int = 32  # texts per forward pass
    max_wait_ms: float = 2.0  # how long a forming batch waits for more requests
    max_texts: int = 64  # texts per request
    max_chars: int = 20_000  # characters per text
    max_body_bytes: int = 2_000_000
    timeout_s: float = 30.0  # a request still unanswered then gets 503


class PredictRequest(BaseModel):
    """One input (`text`) or several (`texts`); an input is a string, or [text, second text] for a
    run trained on sentence pairs."""

    model_config = ConfigDict(extra="forbid")
    text: str | tuple[str, str] | None = Field(None, examples=["Shares in the bank rose 5% after results."])
    texts: list[str | tuple[str, str]] | None = Field(None, examples=[["First text.", "Second text."]])


class MicroBatcher:
    """Requests queue here; one worker runs them through the model in shared batches."""

    def __init__(self, predict: Callable[[list[Input]], list[dict[str, Any]]], limits: ServeLimits, batch_sizes: Histogram) -> None:
        self.predict = predict
        self.limits = limits
        self.batch_sizes = batch_sizes
        self.queue: asyncio.Queue[tuple[list[Input], asyncio.Future]] = asyncio.Queue()
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="headstart-model")  # one forward pass at a time
        self.worker: asyncio.Task | None = None

    def start(self) -> None:
        self.worker = asyncio.get_running_loop().create_task(self._work())

    async def stop(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
        self.executor.shutdown(wait=False, cancel_futures=True)

    async def submit(self, inputs: list[Input]) -> list[dict[str, Any]]:
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
            batch = [(inputs, future) for inputs, future in await self._next_batch() if not future.cancelled()]
            rows = [row for inputs, _ in batch for row in inputs]
            if not rows:
                continue
            self.batch_sizes.observe(len(rows))
            try:
                results = await loop.run_in_executor(self.executor, self.predict, rows)
            except Exception as error:  # noqa: BLE001 - handed to the waiting requests, the worker lives on
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            start = 0
            for inputs, future in batch:
                if not future.done():
                    future.set_result(results[start : start + len(inputs)])
                start += len(inputs)


def answers(run: Run, inputs: list[Input]) -> list[dict[str, Any]]:
    """The JSON answer for each input: label and probabilities, labels (multi-label), a value
    (regression), or entities with character offsets (NER)."""
    task = run.task
    if task.name == "ner":
        return [{"entities": found} for found in run.predict(inputs, show_progress=False)]
    outputs = run.predictor.outputs(inputs, show_progress=False)
    decided = task.decide(outputs)
    if task.name == "regression":
        return [{"value": float(value)} for value in decided]
    key = "labels" if task.name == "multi-label" else "label"
    return [{key: list(choice) if key == "labels" else choice,
             "probabilities": {label: round(float(p), 6) for label, p in zip(task.classes, row)}}
            for choice, row in zip(decided, outputs)]


def create_app(run: Run, variant: str = "fp32", limits: ServeLimits | None = None) -> FastAPI:
    limits = limits or ServeLimits()
    registry = CollectorRegistry()
    requests = Counter("headstart_requests", "Requests by endpoint and status code.", ["endpoint", "status"], registry=registry)
    latency = Histogram("headstart_request_seconds", "Time to answer a /predict request.", registry=registry,
                        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
    batch_sizes = Histogram("headstart_batch_texts", "Texts per forward pass.", registry=registry,
                            buckets=(1, 2, 4, 8, 16, 32, 64, 128))
    texts_total = Counter("headstart_texts", "Texts predicted.", registry=registry)
    batcher = MicroBatcher(lambda rows: answers(run, rows), limits, batch_sizes)
    pairs = run.config.text_pair_col is not None

    async def lifespan(_: FastAPI):  # noqa: ANN202 - an async generator
        batcher.start()
        yield
        await batcher.stop()

    app = FastAPI(title="headstart", version="0.1.0", lifespan=lifespan,
                  description=f"{run.task.name} model from run '{run.path.name}' ({variant}).")

    def refuse(status: int, message: str) -> JSONResponse:
        return JSONResponse({"detail": message}, status_code=status)

    @app.middleware("http")
    async def limit_and_count(request: Request, call_next):  # noqa: ANN001, ANN202
        if request.method == "POST":
            length = request.headers.get("content-length")
            if length is None and request.headers.get("transfer-encoding"):
                response = refuse(411, "Send a Content-Length header (chunked bodies are not accepted).")
            elif length is not None and (not length.isdigit() or int(length) > limits.max_body_bytes):
                response = refuse(413, f"Request body over {limits.max_body_bytes} bytes; send fewer or shorter texts per request.")
            else:
                response = await call_next(request)
        else:
            response = await call_next(request)
        requests.labels(request.url.path, str(response.status_code)).inc()
        return response

    @app.post("/predict")
    async def predict(body: PredictRequest) -> JSONResponse:
        """Predict one text or a batch: labels and probabilities, a value, or NER entities."""
        started = time.perf_counter()
        if (body.text is None) == (body.texts is None):
            return refuse(422, 'Send exactly one of "text" (one input) or "texts" (a list of inputs).')
        inputs = [body.text] if body.text is not None else list(body.texts)
        if not inputs:
            return refuse(422, '"texts" is empty; send at least one text.')
        if len(inputs) > limits.max_texts:
            return refuse(413, f"{len(inputs)} texts in one request; send at most {limits.max_texts} per request.")
        if any(isinstance(item, tuple) != pairs for item in inputs):
            shape = "[text, second text] pairs" if pairs else "plain strings"
            return refuse(422, f"This model was trained on {'sentence pairs' if pairs else 'single texts'}; send {shape}.")
        longest = max(len(part) for item in inputs for part in ((item,) if isinstance(item, str) else item))
        if longest > limits.max_chars:
            return refuse(413, f"A text has {longest} characters; the limit is {limits.max_chars}. Split or shorten it.")
        try:
            results = await asyncio.wait_for(batcher.submit(inputs), limits.timeout_s)
        except TimeoutError:
            return refuse(503, f"No answer within {limits.timeout_s:.0f} s: the server is overloaded; retry later.")
        except HeadstartError as error:
            return refuse(422, str(error))
        texts_total.inc(len(inputs))
        latency.observe(time.perf_counter() - started)
        return JSONResponse({"predictions": results} if body.texts is not None else results[0])

    @app.get("/health")
    async def health() -> dict[str, str]:
        """Liveness: the model is loaded and the batch worker runs."""
        alive = batcher.worker is not None and not batcher.worker.done()
        return {"status": "ok" if alive else "down"}

    @app.get("/metadata")
    async def metadata() -> dict[str, Any]:
        """The model behind this server: encoder, strategy, task, labels, test metrics, limits."""
        test = {name: value for name, value in run.metrics.get("test", {}).items() if isinstance(value, float)}
        return {"run": run.path.name, "model": run.config.model, "strategy": run.config.strategy, "variant": variant,
                "task": run.task.name, "labels": run.task.classes, "max_length": run.config.max_length,
                "sentence_pairs": pairs, "test_metrics": test, "limits": asdict(limits)}

    @app.get("/metrics", response_class=PlainTextResponse)
    async def metrics() -> PlainTextResponse:
        """Prometheus text format: requests by status, latency, batch sizes, texts."""
        return PlainTextResponse(generate_latest(registry).decode(), media_type=CONTENT_TYPE_LATEST)

    return app


def serve(run_path: str, variant: str = "fp32", host: str = "127.0.0.1", port: int = 8000, limits: ServeLimits | None = None) -> None:
    import uvicorn

    from headstart.compression.variants import OnnxClassifier

    run = Run.load(run_path, variant)
    if isinstance(run.predictor.classifier, OnnxClassifier):  # share the cores with the event loop
        run.predictor.classifier = OnnxClassifier(run.predictor.classifier.path, spin=False)
    app = create_app(run, variant, limits)
    # No access log: one line per request costs time under load, and request logs can leak data.
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
