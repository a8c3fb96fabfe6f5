"""Part 4: memory per waiting request, with 10,000 requests queued in simulated time.

Two figures, both from ``tracemalloc`` (bytes still allocated while the requests wait,
divided by their number):

- admit path: 10,000 ``Controller.admit`` calls, each in its own asyncio task as in the
  server, queued in one full level (the task, its coroutine frames and the engine's state);
- queue set: 10,000 ``QueueSet.start_request`` calls on a full level (the engine's state
  alone).

The request digests exist before the first snapshot: the HTTP layer builds them anyway.
"""

from __future__ import annotations

import asyncio
import gc
import tracemalloc

from apf.flowcontrol.clock import FakeClock
from apf.flowcontrol.ticket import AdmissionTicket
from bench.dispatch_cost import scaling_queue_set, start_flow_request
from bench.engine import EngineShape, drive, make_controller

WAITING_REQUESTS = 10_000
FLOWS = 1_000
MEMORY_QUEUES = 128
QUEUE_LENGTH = 1_000
SETTLE_ROUNDS = 50


def _measured_bytes(before: tracemalloc.Snapshot) -> int:
    after = tracemalloc.take_snapshot()
    return sum(stat.size_diff for stat in after.compare_to(before, "filename"))


async def _admit_path_bytes() -> float:
    shape = EngineShape(
        flow_schemas=FLOWS,
        priority_levels=1,
        queues=MEMORY_QUEUES,
        queue_length=QUEUE_LENGTH,
    )
    engine = await make_controller(shape, server_seats=20)
    holders: list[AdmissionTicket] = []
    while (step := drive(engine, engine.requests[0])).ticket is not None:
        holders.append(step.ticket)
    step.cancel()
    digests = [engine.requests[i % FLOWS] for i in range(WAITING_REQUESTS)]
    controller, options = engine.controller, engine.options
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    tasks = [asyncio.ensure_future(controller.admit(d, options)) for d in digests]
    for _ in range(SETTLE_ROUNDS):
        await asyncio.sleep(0)
    gc.collect()
    used = _measured_bytes(before) - tasks.__sizeof__()
    tracemalloc.stop()
    queued = sum(not task.done() for task in tasks)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await engine.close()
    return used / max(queued, 1)


def _queue_set_bytes() -> float:
    clock = FakeClock()
    qs = scaling_queue_set(clock, queues=MEMORY_QUEUES, queue_length=QUEUE_LENGTH)
    names = [f"flow-{i}" for i in range(FLOWS)]
    start_flow_request(qs, names[0])
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    requests = [start_flow_request(qs, names[i % FLOWS]) for i in range(WAITING_REQUESTS)]
    gc.collect()
    used = _measured_bytes(before)
    tracemalloc.stop()
    # The list holding the requests belongs to the benchmark, not to the engine.
    return (used - requests.__sizeof__()) / len(requests)


async def memory_per_waiting_request() -> dict[str, float]:
    """Bytes per waiting request on the admit path and in the queue set alone."""
    admit_bytes = await _admit_path_bytes()
    return {
        "admit_path_bytes": admit_bytes,
        "queue_set_bytes": _queue_set_bytes(),
    }
