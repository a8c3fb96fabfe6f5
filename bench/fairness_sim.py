"""Part 3 (simulated): fairness of one priority level, in simulated time.

The real ``QueueSet`` runs on a ``FakeClock``; a small discrete-event loop plays the clients
and the handlers. Service times are exponential (mean 1 simulated second) from a seeded
generator, so a run is repeatable. Two figures:

- Jain's index of the seat-seconds each of N equal, always-backlogged flows received;
- the p99 queue wait of light flows (Poisson arrivals, 20 % of the level's capacity in
  total) while one heavy flow keeps 200 requests waiting, for APF and for a FIFO model
  of max-in-flight (one shared arrival-order queue in front of the same seats).
"""

from __future__ import annotations

import heapq
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

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
from bench.stats import jain_index, percentile

SEATS = 10
QUEUES = 128
HAND_SIZE = 6
QUEUE_LENGTH = 50
MEAN_SERVICE_SECONDS = 1.0
JAIN_FLOW_COUNTS = (4, 16, 64)
# Each flow keeps this many requests unfinished: with 4 flows and 10 seats, 10 wait.
JAIN_OUTSTANDING_PER_FLOW = 5
JAIN_COMPLETIONS = 10_000
LIGHT_FLOWS = 10
LIGHT_LOAD_FRACTION = 0.2
HEAVY_BACKLOG = 200
LIGHT_SIM_SECONDS = 2_000.0
FAR_DEADLINE_SECONDS = 1e12


@dataclass(eq=False)
class SimRequest:
    """One simulated request; times in simulated seconds."""

    flow: str
    arrived_at: float
    dispatched_at: float | None = None
    service_seconds: float = 0.0
    handle: QueuedRequest | None = None


class SimLevel(Protocol):
    """A level that admits simulated requests: APF's queue set or the FIFO model."""

    def now(self) -> float: ...

    def advance_to(self, when: float) -> None: ...

    def arrive(self, request: SimRequest) -> bool:
        """Enqueue or dispatch; False when rejected."""

    def finish(self, request: SimRequest) -> list[SimRequest]:
        """End an executing request; return the requests this dispatched."""


class ApfLevel:
    """The real queue set with one-seat requests and a fake clock."""

    def __init__(self) -> None:
        self._clock = FakeClock()
        observer = LevelObserver(Metrics(), "bench", call_later=self._clock.call_later)
        queuing = QueuingConfig(
            queues=QUEUES, hand_size=HAND_SIZE, queue_length_limit=QUEUE_LENGTH
        )
        self._qs = QueueSet(
            "bench", self._clock, queuing=queuing, concurrency_limit=SEATS, observer=observer
        )
        self._waiting: list[SimRequest] = []

    def now(self) -> float:
        return self._clock.now()

    def advance_to(self, when: float) -> None:
        self._clock.advance(max(0.0, when - self._clock.now()))

    def arrive(self, request: SimRequest) -> bool:
        handle = self._qs.start_request(
            hash_value=flow_hash("bench", request.flow),
            width=WorkEstimate(),
            deadline=FAR_DEADLINE_SECONDS,
            flow_schema="bench",
            distinguisher=request.flow,
        )
        request.handle = handle
        if handle.state == RequestState.EXECUTING:
            request.dispatched_at = self.now()
            return True
        if handle.state == RequestState.WAITING:
            self._waiting.append(request)
            return True
        return False

    def finish(self, request: SimRequest) -> list[SimRequest]:
        assert request.handle is not None
        self._qs.finish_request(request.handle)
        now = self.now()
        started: list[SimRequest] = []
        still: list[SimRequest] = []
        for waiting in self._waiting:
            assert waiting.handle is not None
            is_running = waiting.handle.state == RequestState.EXECUTING
            (started if is_running else still).append(waiting)
        self._waiting = still
        for dispatched in started:
            dispatched.dispatched_at = now
        return started


class FifoLevel:
    """Max-in-flight as a FIFO: the same seats, one shared queue served in arrival order."""

    def __init__(self) -> None:
        self._now = 0.0
        self._free_seats = SEATS
        self._queue: deque[SimRequest] = deque()

    def now(self) -> float:
        return self._now

    def advance_to(self, when: float) -> None:
        self._now = max(self._now, when)

    def arrive(self, request: SimRequest) -> bool:
        if self._free_seats > 0:
            self._free_seats -= 1
            request.dispatched_at = self._now
        else:
            self._queue.append(request)
        return True

    def finish(self, request: SimRequest) -> list[SimRequest]:
        self._free_seats += 1
        started = []
        while self._free_seats > 0 and self._queue:
            self._free_seats -= 1
            waiting = self._queue.popleft()
            waiting.dispatched_at = self._now
            started.append(waiting)
        return started


@dataclass
class EventLoop:
    """Completions ordered by time; each dispatched request gets a random service time."""

    level: SimLevel
    rng: random.Random
    completions: list[tuple[float, int, SimRequest]] = field(default_factory=list)
    served: dict[str, float] = field(default_factory=dict)
    _sequence: int = 0

    def started(self, requests: list[SimRequest]) -> None:
        for request in requests:
            request.service_seconds = self.rng.expovariate(1 / MEAN_SERVICE_SECONDS)
            end = self.level.now() + request.service_seconds
            self._sequence += 1
            heapq.heappush(self.completions, (end, self._sequence, request))

    def submit(self, request: SimRequest) -> bool:
        is_taken = self.level.arrive(request)
        if is_taken and request.dispatched_at is not None:
            self.started([request])
        return is_taken

    def complete_next(self) -> SimRequest:
        end, _, request = heapq.heappop(self.completions)
        self.level.advance_to(end)
        self.served[request.flow] = self.served.get(request.flow, 0.0) + request.service_seconds
        self.started(self.level.finish(request))
        return request


def _top_up(loop: EventLoop, flow: str, pending: dict[str, int], target: int) -> None:
    """Submit requests for ``flow`` until ``target`` of its requests are not finished."""
    while pending[flow] < target:
        request = SimRequest(flow, loop.level.now())
        if not loop.submit(request):
            return
        pending[flow] += 1


def jain_for_flows(flows: int, *, seed: int = 1) -> float:
    """Jain's index of seat-seconds served to ``flows`` equal backlogged flows."""
    loop = EventLoop(ApfLevel(), random.Random(seed))
    names = [f"flow-{index}" for index in range(flows)]
    pending = dict.fromkeys(names, 0)
    for name in names:
        _top_up(loop, name, pending, JAIN_OUTSTANDING_PER_FLOW)
    for _ in range(JAIN_COMPLETIONS):
        done = loop.complete_next()
        pending[done.flow] -= 1
        _top_up(loop, done.flow, pending, JAIN_OUTSTANDING_PER_FLOW)
    return jain_index([loop.served.get(name, 0.0) for name in names])


def light_flow_waits(make_level: Callable[[], SimLevel], *, seed: int = 2) -> list[float]:
    """Queue waits of the light flows' requests while the heavy flow saturates the level."""
    loop = EventLoop(make_level(), random.Random(seed))
    arrivals = random.Random(seed + 1)
    rate = LIGHT_LOAD_FRACTION * SEATS / MEAN_SERVICE_SECONDS
    light: list[SimRequest] = []
    pending = {"heavy": 0}
    next_arrival = arrivals.expovariate(rate)
    while next_arrival < LIGHT_SIM_SECONDS:
        _top_up(loop, "heavy", pending, HEAVY_BACKLOG + SEATS)
        if loop.completions and loop.completions[0][0] <= next_arrival:
            done = loop.complete_next()
            pending["heavy"] -= done.flow == "heavy"
            continue
        loop.level.advance_to(next_arrival)
        request = SimRequest(f"light-{arrivals.randrange(LIGHT_FLOWS)}", next_arrival)
        if loop.submit(request):
            light.append(request)
        next_arrival += arrivals.expovariate(rate)
    return [r.dispatched_at - r.arrived_at for r in light if r.dispatched_at is not None]


def simulated_fairness() -> dict[str, float]:
    """Jain's index per flow count, and light-flow p99 waits for APF and FIFO."""
    result = {f"jain_n{n}": jain_for_flows(n) for n in JAIN_FLOW_COUNTS}
    result["jain_min"] = min(result.values())
    for name, make_level in (("apf", ApfLevel), ("fifo", FifoLevel)):
        waits = light_flow_waits(make_level)
        result[f"light_p99_wait_s_{name}"] = percentile(waits, 0.99)
        result[f"light_p50_wait_s_{name}"] = percentile(waits, 0.50)
    return result
