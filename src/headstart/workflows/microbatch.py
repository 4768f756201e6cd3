"""Micro-batching for `headstart serve`: concurrent requests share forward passes.

Requests queue here; one worker takes whatever is queued (up to `max_batch` texts, waiting at
most `max_wait_ms` for more), runs one forward pass for them all in a thread (the Predictor sorts
by length, so batches pad little), and answers each request its own rows. The queue is bounded in
texts: a request that would overfill it is refused at once (`QueueFullError`, a 503), so a burst
never grows the server's memory without bound.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

Input = str | tuple[str, str]
Pending = tuple[list[Input], asyncio.Future]


class QueueFullError(Exception):
    """The queue holds as many texts as it may: the request is refused, not queued."""


class MicroBatcher:
    """Requests queue here; one worker runs them through the model in shared batches."""

    def __init__(
        self,
        predict: Callable[[list[Input]], list[dict[str, Any]]],
        max_batch: int,
        max_wait_ms: float,
        max_queue: int,
        observe_batch: Callable[[int], None],
    ) -> None:
        self.predict = predict
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000
        self.max_queue = max_queue
        self.observe_batch = observe_batch
        self.queue: asyncio.Queue[Pending] = asyncio.Queue()
        self.queued_texts = 0  # texts waiting, plus those in the forward pass running now
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="headstart-model")
        self.worker: asyncio.Task | None = None

    @property
    def running(self) -> bool:
        """Whether the worker is taking requests."""
        return self.worker is not None and not self.worker.done()

    @property
    def saturated(self) -> bool:
        """Whether the queue is full: new requests would be refused."""
        return self.queued_texts >= self.max_queue

    def start(self) -> None:
        """Start the worker on the running event loop."""
        self.worker = asyncio.get_running_loop().create_task(self._work())

    async def stop(self) -> None:
        """Answer what is still queued, then stop the worker (graceful shutdown)."""
        while self.queued_texts and self.running:
            await asyncio.sleep(0.01)
        if self.worker is not None:
            self.worker.cancel()
        self.executor.shutdown(wait=False, cancel_futures=True)

    async def submit(self, inputs: list[Input]) -> list[dict[str, Any]]:
        """Queue the inputs and wait for their answers; QueueFullError when there is no room."""
        if self.queued_texts + len(inputs) > self.max_queue:
            raise QueueFullError
        future = asyncio.get_running_loop().create_future()
        self.queued_texts += len(inputs)
        self.queue.put_nowait((inputs, future))
        return await future

    async def _next_batch(self) -> list[Pending]:
        batch = [await self.queue.get()]
        size = len(batch[0][0])
        deadline = time.perf_counter() + self.max_wait
        while size < self.max_batch:
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
            taken = await self._next_batch()
            batch = [(inputs, future) for inputs, future in taken if not future.cancelled()]
            rows = [row for inputs, _ in batch for row in inputs]
            try:
                if not rows:
                    continue
                self.observe_batch(len(rows))
                results = await loop.run_in_executor(self.executor, self.predict, rows)
            except Exception as error:  # the requests get it; the worker goes on
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            finally:
                self.queued_texts -= sum(len(inputs) for inputs, _ in taken)
            start = 0
            for inputs, future in batch:
                if not future.done():
                    future.set_result(results[start : start + len(inputs)])
                start += len(inputs)
