"""In-process cost of the queue set alone: one request's start, dispatch and finish.

Three shapes, each timed per operation with the garbage collector paused:

- uncontended: seats are free, so ``start_request`` dispatches at once; one
  sample is a start plus a finish;
- backlogged: the level is full and a standing backlog waits spread over the
  queues; one sample enqueues a request and finishes the oldest executing one,
  which dispatches the fairest waiting head;
- the backlogged shape again with 8, 64 and 512 queues, to show how the
  per-dispatch scan over queues grows.

Run: ``.venv/bin/python -m bench.bench_dispatch``. Prints median and p99 in µs.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections import deque
from collections.abc import Callable

from apf.flowcontrol.clock import FakeClock
from apf.flowcontrol.queueset import QueuedRequest, QueueSet, QueuingConfig, WorkEstimate

SAMPLES = 20_000
WIDTH = WorkEstimate()


def _start(qs: QueueSet, clock: FakeClock, flow: int) -> QueuedRequest:
    return qs.start_request(
        hash_value=(flow * 0x9E3779B97F4A7C15) & 0xFFFF_FFFF_FFFF_FFFF,
        width=WIDTH,
        deadline=clock.now() + 1e9,
        flow_schema="bench",
        distinguisher="",
    )


def _time(step: Callable[[int], None]) -> list[float]:
    samples = []
    gc.disable()
    try:
        for i in range(SAMPLES):
            begin = time.perf_counter_ns()
            step(i)
            samples.append((time.perf_counter_ns() - begin) / 1000)
    finally:
        gc.enable()
    return samples


def uncontended() -> list[float]:
    clock = FakeClock()
    qs = QueueSet("bench", clock, queuing=QueuingConfig(64, 8, 50), concurrency_limit=100)

    def step(i: int) -> None:
        qs.finish_request(_start(qs, clock, i % 1000))

    return _time(step)


class _Executing:
    """Observer that keeps the dispatched requests in dispatch order."""

    def __init__(self) -> None:
        self.requests: deque[QueuedRequest] = deque()

    def on_enqueued(self, req: QueuedRequest, queue_length: int) -> None:
        return None

    def on_dispatched(self, req: QueuedRequest, wait_seconds: float) -> None:
        self.requests.append(req)

    def on_rejected(self, req: QueuedRequest, reason: str, wait_seconds: float) -> None:
        return None

    def on_finished(self, req: QueuedRequest, execution_seconds: float) -> None:
        return None

    def on_no_accommodation(self, req: QueuedRequest) -> None:
        return None


def backlogged(queues: int, *, backlog: int = 256, limit: int = 10) -> list[float]:
    clock = FakeClock()
    executing = _Executing()
    queuing = QueuingConfig(queues, min(6, queues), backlog)
    qs = QueueSet("bench", clock, queuing=queuing, concurrency_limit=limit, observer=executing)
    for flow in range(limit + backlog):
        _start(qs, clock, flow % 1000)

    def step(i: int) -> None:
        _start(qs, clock, i % 1000)
        qs.finish_request(executing.requests.popleft())
        clock.advance(0.001)

    return _time(step)


def _report(name: str, samples: list[float]) -> None:
    ordered = sorted(samples)
    p99 = ordered[int(0.99 * (len(ordered) - 1))]
    print(f"{name:<28} median {statistics.median(ordered):7.2f} µs   p99 {p99:7.2f} µs")


def main() -> None:
    _report("uncontended start+finish", uncontended())
    for queues in (8, 64, 512):
        _report(f"backlogged, {queues} queues", backlogged(queues))


if __name__ == "__main__":
    main()
