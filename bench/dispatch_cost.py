"""Parts 2 and 5: what APF costs per request in-process, and how that scales.

Dispatch cost (part 2) goes through the real ``Controller.admit_request`` (the server's call)
and ``ticket.finish`` with a synthetic configuration of 10, 100 or 1,000 FlowSchemas over 8
or 64 priority levels. It times classification, width estimation, enqueueing, dispatch and
finishing:

- uncontended: the level has free seats, so ``admit_request`` returns the ticket at once;
- uncontended_cold: the same, with 4 MiB written between two samples so that every one
  starts with the engine's data out of the CPU caches, as in a loaded server;
- queued: every level is kept full; each timed step enqueues one request, finishes the
  oldest executing one, and resumes whichever waiting request that dispatched. The time the
  request spends waiting is not in the figure.

Scaling (part 5) drives the real ``QueueSet`` directly (flow hash, enqueue, fair dispatch,
finish) with a standing backlog of 256 waiting requests, against the number of queues
(8 to 512) and of distinct flows (10 to 100,000).

The garbage collector is paused while timing (as ``timeit`` does) so a collection does not
land on a random sample; the p99 therefore shows the engine's own tail, not the collector's.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import json
import os
import subprocess
import sys
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

import apf.flowcontrol
from apf.flowcontrol import native
from apf.flowcontrol.classifier import flow_hash
from apf.flowcontrol.clock import FakeClock
from apf.flowcontrol.metrics import LevelObserver, Metrics
from apf.flowcontrol.queueset import (
    QueuedRequest,
    QueueSet,
    QueuingConfig,
    RequestState,
    WorkEstimate,
)
from apf.flowcontrol.ticket import AdmissionTicket
from bench.engine import Engine, EngineShape, Step, cycle, drive, make_controller
from bench.stats import median_p99_us

FLOW_SCHEMA_COUNTS = (10, 100, 1_000)
PRIORITY_LEVEL_COUNTS = (8, 64)
QUEUE_COUNTS = (8, 32, 128, 512)
FLOW_COUNTS = (10, 100, 1_000, 10_000, 100_000)
SCALING_BACKLOG = 256
SCALING_FLOWS_FOR_QUEUES = 1_000
SCALING_QUEUES_FOR_FLOWS = 128
FAR_DEADLINE_SECONDS = 1e9
# Simulated time between two scaling steps (20,000 requests/s); the burst figures keep the
# clock still, so every step arrives in the same instant, as within one event-loop turn.
STEP_SECONDS = 0.00005
# The cold figure: bytes written between two samples (more than a core's L2 cache here),
# and it takes one sample for every COLD_SAMPLES_DIVISOR warm ones.
EVICT_BYTES = 4 * 1024 * 1024
CACHE_LINE_BYTES = 64
COLD_SAMPLES_DIVISOR = 10
BURST_QUEUE_COUNTS = (128, 512)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Collect now, then keep the collector off for the block."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _uncontended_samples(engine: Engine, count: int) -> list[int]:
    samples: list[int] = []
    clock = time.perf_counter_ns
    for digest in cycle(engine.requests, count):
        start = clock()
        step = drive(engine, digest)
        ticket = step.ticket
        if ticket is None:
            raise RuntimeError("an uncontended request was queued")
        ticket.finish()
        samples.append(clock() - start)
    return samples


def _cold_samples(engine: Engine, count: int) -> list[int]:
    """As ``_uncontended_samples``, with the CPU caches flushed of the engine's data first.

    Between two requests a live server touches more memory than a core's cache holds (the
    TLS buffers and sockets of many connections), so each admission starts cold: this is
    closer to what a request pays there than the figure with warm caches.
    """
    scratch = bytearray(EVICT_BYTES)
    zeros = bytes(EVICT_BYTES // CACHE_LINE_BYTES)
    samples: list[int] = []
    clock = time.perf_counter_ns
    admit, received_at = engine.controller.admit_request, engine.options.received_at
    for digest in cycle(engine.requests, count):
        info, user = digest.request_info, digest.user
        scratch[::CACHE_LINE_BYTES] = zeros  # one write per cache line
        start = clock()
        ticket = admit(info, user, received_at, None)
        if not isinstance(ticket, AdmissionTicket):
            raise RuntimeError("an uncontended request was queued")
        ticket.finish()
        samples.append(clock() - start)
    return samples


def _fill_level(engine: Engine, digest_index: int) -> tuple[deque[AdmissionTicket], Step]:
    """Admit requests for one level until one queues; return the holders and that one."""
    holders: deque[AdmissionTicket] = deque()
    digest = engine.requests[digest_index]
    while True:
        step = drive(engine, digest)
        if step.ticket is None:
            return holders, step
        holders.append(step.ticket)


async def _resume_dispatched(steps: list[Step]) -> Step:
    """Let the event loop run until one of ``steps`` may resume; return it (untimed)."""
    for _ in range(100):
        for step in steps:
            if step.is_ready:
                return step
        await asyncio.sleep(0)
    raise RuntimeError("finishing a request dispatched no waiting request")


async def _queued_samples(engine: Engine, shape: EngineShape, count: int) -> list[int]:
    used_levels = min(shape.flow_schemas, shape.priority_levels)
    holders: dict[int, deque[AdmissionTicket]] = {}
    pending: dict[int, Step] = {}
    for level in range(used_levels):
        holders[level], pending[level] = _fill_level(engine, level)
    samples: list[int] = []
    clock = time.perf_counter_ns
    for index in range(count):
        digest_index = index % len(engine.requests)
        level = digest_index % shape.priority_levels
        start = clock()
        step = drive(engine, engine.requests[digest_index])
        if step.ticket is not None:
            raise RuntimeError("a request meant to queue was dispatched at once")
        holders[level].popleft().finish()
        candidates = [pending[level], step]
        ready = next((s for s in candidates if s.is_ready), None)
        elapsed = clock() - start
        if ready is None:
            # Dispatch completed through a loop callback: wait for it outside the timing.
            ready = await _resume_dispatched(candidates)
        start = clock()
        ready.advance()
        elapsed += clock() - start
        if ready.ticket is None:
            raise RuntimeError("a dispatched request did not get its ticket")
        holders[level].append(ready.ticket)
        pending[level] = step if ready is pending[level] else pending[level]
        samples.append(elapsed)
    for step in pending.values():
        step.cancel()
    for tickets in holders.values():
        for ticket in tickets:
            ticket.finish()
    return samples


async def dispatch_cost(
    shape: EngineShape, *, samples: int = 20_000, warmup: int = 2_000
) -> dict[str, float]:
    """Median and p99 microseconds per request, uncontended and queued, for one shape."""
    engine = await make_controller(shape)
    try:
        _uncontended_samples(engine, warmup)
        with gc_paused():
            uncontended = _uncontended_samples(engine, samples)
            cold = _cold_samples(engine, max(1, samples // COLD_SAMPLES_DIVISOR))
        await _queued_samples(engine, shape, warmup)
        with gc_paused():
            queued = await _queued_samples(engine, shape, samples)
    finally:
        await engine.close()
    result = {f"uncontended_{k}": v for k, v in median_p99_us(uncontended).items()}
    result.update({f"uncontended_cold_{k}": v for k, v in median_p99_us(cold).items()})
    result.update({f"queued_{k}": v for k, v in median_p99_us(queued).items()})
    return result


async def dispatch_matrix(*, samples: int = 20_000) -> dict[str, dict[str, float]]:
    """``dispatch_cost`` for every FlowSchema count and priority-level count."""
    results: dict[str, dict[str, float]] = {}
    for levels in PRIORITY_LEVEL_COUNTS:
        for schemas in FLOW_SCHEMA_COUNTS:
            shape = EngineShape(flow_schemas=schemas, priority_levels=levels)
            results[f"fs{schemas}_pl{levels}"] = await dispatch_cost(shape, samples=samples)
    return results


# --- part 5: scaling on the queue set ----------------------------------------------------


def scaling_queue_set(
    clock: FakeClock, *, queues: int, queue_length: int = SCALING_BACKLOG
) -> QueueSet:
    """A queuing level with one seat, fed by the scaling and memory benchmarks."""
    observer = LevelObserver(Metrics(), "bench", call_later=clock.call_later)
    queuing = QueuingConfig(
        queues=queues, hand_size=min(6, queues), queue_length_limit=queue_length
    )
    return QueueSet("bench", clock, queuing=queuing, concurrency_limit=1, observer=observer)


def start_flow_request(qs: QueueSet, flow: str) -> QueuedRequest:
    """Hash ``flow`` and start a one-seat request for it in ``qs``."""
    return qs.start_request(
        hash_value=flow_hash("bench", flow),
        width=WorkEstimate(),
        deadline=FAR_DEADLINE_SECONDS,
        flow_schema="bench",
        distinguisher=flow,
    )


def _scaling_samples(*, queues: int, flows: int, count: int, step_seconds: float) -> list[int]:
    clock = FakeClock()
    qs = scaling_queue_set(clock, queues=queues)
    names = [f"flow-{index}" for index in range(flows)]
    executing = start_flow_request(qs, names[0])
    waiting = [start_flow_request(qs, names[(i + 1) % flows]) for i in range(SCALING_BACKLOG)]
    samples: list[int] = []
    timer = time.perf_counter_ns
    for index in range(count):
        flow = names[index % flows]
        start = timer()
        request = start_flow_request(qs, flow)
        qs.finish_request(executing)
        samples.append(timer() - start)
        clock.advance(step_seconds)
        waiting.append(request)
        found = next(i for i, r in enumerate(waiting) if r.state == RequestState.EXECUTING)
        executing = waiting.pop(found)
    return samples


async def scaling(*, samples: int = 5_000) -> dict[str, dict[str, float]]:
    """Per-request queue-set cost against queue count and distinct-flow count."""
    results: dict[str, dict[str, float]] = {}
    plan = [(q, SCALING_FLOWS_FOR_QUEUES, STEP_SECONDS, f"queues{q}") for q in QUEUE_COUNTS]
    plan += [(SCALING_QUEUES_FOR_FLOWS, f, STEP_SECONDS, f"flows{f}") for f in FLOW_COUNTS]
    plan += [(q, SCALING_FLOWS_FOR_QUEUES, 0.0, f"burst_queues{q}") for q in BURST_QUEUE_COUNTS]
    for queues, flows, step_seconds, key in plan:
        run = functools.partial(
            _scaling_samples, queues=queues, flows=flows, step_seconds=step_seconds
        )
        run(count=samples // 5)
        with gc_paused():
            measured = run(count=samples)
        results[key] = median_p99_us(measured)
    return results


# --- the same figures with the engine interpreted --------------------------------------

INTERPRETED_SHAPES = (
    EngineShape(flow_schemas=10, priority_levels=8),
    EngineShape(flow_schemas=1_000, priority_levels=8),
)


def interpreted_dispatch(*, samples: int) -> dict[str, dict[str, float]]:
    """``dispatch_cost`` of a few shapes with the mypyc build switched off, for comparison.

    Runs in a child process (``APF_PURE_PYTHON=1``), since the choice is made on import.
    """
    env = {**os.environ, native.PURE_PYTHON_ENV: "1"}
    command = [sys.executable, "-m", "bench.dispatch_cost", str(samples)]
    done = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    figures: dict[str, dict[str, float]] = json.loads(done.stdout)
    return figures


async def _shapes(shapes: tuple[EngineShape, ...], samples: int) -> dict[str, dict[str, float]]:
    results = {}
    for shape in shapes:
        key = f"fs{shape.flow_schemas}_pl{shape.priority_levels}"
        results[key] = await dispatch_cost(shape, samples=samples)
    return results


if __name__ == "__main__":
    if apf.flowcontrol.COMPILED:
        raise SystemExit("run with APF_PURE_PYTHON=1: this entry point measures the interpreter")
    print(json.dumps(asyncio.run(_shapes(INTERPRETED_SHAPES, int(sys.argv[1])))))
