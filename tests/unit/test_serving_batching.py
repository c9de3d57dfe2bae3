"""Adaptive micro-batching: gathering, limits, failures, and the event loop kept free."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest
from kserve.errors import InferenceError

from customer_classifier.serving.batching import Arrivals, MicroBatcher


class Recorder:
    """A scoring function that records its batches (and can block or fail)."""

    def __init__(self, release: threading.Event | None = None, fail: bool = False) -> None:
        self.batches: list[list[int]] = []
        self.release = release
        self.fail = fail
        self.threads: set[str] = set()
        self.entered = threading.Event()

    def __call__(self, items: Sequence[int]) -> list[int]:
        self.threads.add(threading.current_thread().name)
        self.entered.set()
        if self.release is not None:
            assert self.release.wait(10)
        if self.fail:
            raise RuntimeError("model exploded")
        self.batches.append(list(items))
        return [i * 10 for i in items]


def run(coroutine: object) -> object:
    return asyncio.run(coroutine)  # type: ignore[arg-type]


def test_a_lone_request_is_not_held_back() -> None:
    recorder = Recorder()

    async def scenario() -> float:
        with ThreadPoolExecutor(1, thread_name_prefix="scoring") as pool:
            batcher = MicroBatcher(recorder, pool, max_rows=100, max_wait_s=5.0)
            started = time.monotonic()
            assert await batcher.submit(4, rows=1) == 40
            return time.monotonic() - started

    elapsed = run(scenario())
    assert isinstance(elapsed, float)
    assert elapsed < 2.0  # the 5 s window applies only while other requests are arriving
    assert recorder.batches == [[4]]
    assert recorder.threads == {"scoring_0"}  # never on the event loop's thread


def test_requests_on_their_way_join_one_batch() -> None:
    recorder = Recorder()
    arrivals = Arrivals()

    async def scenario() -> list[int]:
        with ThreadPoolExecutor(1) as pool:
            batcher = MicroBatcher(recorder, pool, max_rows=100, max_wait_s=5.0, arrivals=arrivals)
            arrivals.pending = 3  # three requests accepted by the HTTP layer

            async def arrive(item: int) -> int:
                await asyncio.sleep(0)
                arrivals.pending -= 1
                return await batcher.submit(item, rows=1)

            return list(await asyncio.gather(*(arrive(i) for i in (1, 2, 3))))

    assert run(scenario()) == [10, 20, 30]
    assert recorder.batches == [[1, 2, 3]]


def test_requests_queued_while_the_model_is_busy_form_the_next_batch() -> None:
    release = threading.Event()
    recorder = Recorder(release)

    async def scenario() -> list[int]:
        with ThreadPoolExecutor(1) as pool:
            batcher = MicroBatcher(recorder, pool, max_rows=3, max_wait_s=0.0)
            first = asyncio.ensure_future(batcher.submit(0, rows=1))
            loop = asyncio.get_running_loop()
            assert await loop.run_in_executor(None, recorder.entered.wait, 10)  # model busy
            rest = [asyncio.ensure_future(batcher.submit(i, rows=1)) for i in range(1, 6)]
            await asyncio.sleep(0)  # one turn of the loop: the five are queued
            release.set()
            return list(await asyncio.gather(first, *rest))

    assert run(scenario()) == [0, 10, 20, 30, 40, 50]
    assert recorder.batches == [[0], [1, 2, 3], [4, 5]]  # max_rows=3 splits the backlog


def test_a_failing_batch_fails_its_requests_and_the_batcher_goes_on() -> None:
    recorder = Recorder(fail=True)

    async def scenario() -> int:
        with ThreadPoolExecutor(1) as pool:
            batcher = MicroBatcher(recorder, pool, max_rows=10, max_wait_s=0.0)
            with pytest.raises(InferenceError, match="model exploded"):
                await batcher.submit(1, rows=1)
            recorder.fail = False
            return await batcher.submit(2, rows=1)

    assert run(scenario()) == 20


def test_the_event_loop_answers_while_the_model_works() -> None:
    release = threading.Event()
    recorder = Recorder(release)

    async def scenario() -> int:
        with ThreadPoolExecutor(1) as pool:
            batcher = MicroBatcher(recorder, pool, max_rows=10, max_wait_s=0.0)
            pending = asyncio.ensure_future(batcher.submit(7, rows=1))
            ticks = 0
            for _ in range(20):  # a liveness probe would be served meanwhile
                await asyncio.sleep(0)
                ticks += 1
            assert not pending.done()
            release.set()
            return await pending + ticks

    assert run(scenario()) == 90
