"""Adaptive micro-batching: concurrent requests share one model call, off the event loop.

A scikit-learn pipeline costs nearly the same for one record as for a hundred (the time
goes to per-call checks and pandas bookkeeping), and a synchronous call on the event
loop stalls every other request and the health probes. So requests queue here, one
consumer hands what has gathered to a single scoring thread, and the event loop keeps
accepting requests meanwhile.

How long to gather is decided per batch. The HTTP layer counts the inference requests it
has accepted that have not reached the queue yet (:class:`Arrivals`); while that count is
above zero, and for at most ``max_wait_s``, the consumer waits for them. A request that
arrives alone is therefore never held back, and under load every batch takes in all
requests that are already on their way. Requests queued while the scoring thread is busy
form the next batch.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Generic, TypeVar

from customer_classifier.serving.kserve_compat import InferenceError

log = logging.getLogger(__name__)
Item = TypeVar("Item")
Result = TypeVar("Result")


class Arrivals:
    """Inference requests accepted by the HTTP layer that have not reached the batcher."""

    __slots__ = ("pending",)

    def __init__(self) -> None:
        self.pending = 0


@dataclass
class _Entry(Generic[Item, Result]):
    item: Item
    rows: int
    future: asyncio.Future[Result]


class MicroBatcher(Generic[Item, Result]):
    """Queue of items; ``run(items) -> results`` is called in ``executor`` for each batch."""

    def __init__(
        self,
        run: Callable[[Sequence[Item]], Sequence[Result]],
        executor: Executor,
        *,
        max_rows: int,
        max_wait_s: float,
        arrivals: Arrivals | None = None,
    ) -> None:
        self._run = run
        self._executor = executor
        self.max_rows = max_rows
        self.max_wait_s = max_wait_s
        self.arrivals = arrivals or Arrivals()
        self._queue: deque[_Entry[Item, Result]] = deque()
        self._queued_rows = 0
        self._wakeup: asyncio.Event | None = None
        self._consumer: asyncio.Task[None] | None = None

    async def submit(self, item: Item, rows: int) -> Result:
        """Queue ``item`` (``rows`` records) and wait for its share of the batch's result."""
        loop = asyncio.get_running_loop()
        if self._consumer is None or self._consumer.done():
            self._wakeup = asyncio.Event()
            self._consumer = loop.create_task(self._consume(), name="micro-batcher")
        assert self._wakeup is not None
        future: asyncio.Future[Result] = loop.create_future()
        self._queue.append(_Entry(item, rows, future))
        self._queued_rows += rows
        self._wakeup.set()
        return await future

    def _take(self) -> list[_Entry[Item, Result]]:
        batch = [self._queue.popleft()]
        rows = batch[0].rows
        while self._queue and rows + self._queue[0].rows <= self.max_rows:
            entry = self._queue.popleft()
            rows += entry.rows
            batch.append(entry)
        self._queued_rows -= rows
        return batch

    async def _gather(self, wakeup: asyncio.Event) -> None:
        """Wait, at most ``max_wait_s``, for requests that are on their way."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait_s
        while self.arrivals.pending > 0 and self._queued_rows < self.max_rows:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            wakeup.clear()
            try:
                async with asyncio.timeout(remaining):
                    await wakeup.wait()
            except TimeoutError:
                return

    async def _consume(self) -> None:
        loop = asyncio.get_running_loop()
        wakeup = self._wakeup
        assert wakeup is not None
        while True:
            if not self._queue:
                wakeup.clear()
                await wakeup.wait()
                continue
            if self.max_wait_s > 0:
                await self._gather(wakeup)
            batch = self._take()
            try:
                results = await loop.run_in_executor(
                    self._executor, self._run, [e.item for e in batch]
                )
            except Exception as exc:  # a server fault: each waiting request answers 500
                log.exception("scoring a batch of %d requests failed", len(batch))
                for entry in batch:
                    if not entry.future.done():
                        entry.future.set_exception(
                            InferenceError(f"scoring failed: {type(exc).__name__}: {exc}")
                        )
                continue
            for entry, result in zip(batch, results, strict=True):
                if not entry.future.done():  # the client may have gone away meanwhile
                    entry.future.set_result(result)
