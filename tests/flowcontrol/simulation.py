"""Simulated-time drivers for the queue set: flows of requests on a FakeClock, no event loop."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from apf.flowcontrol.clock import FakeClock
from apf.flowcontrol.queueset import QueuedRequest, QueueSet, QueuingConfig, WorkEstimate


@dataclass
class Flow:
    """A client keeping ``outstanding`` requests in the system, each served ``service`` s."""

    name: str
    hash_value: int
    outstanding: int
    service_seconds: float
    width: WorkEstimate = field(default_factory=WorkEstimate)


@dataclass
class Recorder:
    """Queue-set observer that records what happened, in order, with simulated times."""

    clock: FakeClock
    on_dispatch: list[object] = field(default_factory=list)
    dispatched: list[tuple[float, QueuedRequest]] = field(default_factory=list)
    rejected: list[tuple[float, QueuedRequest, str]] = field(default_factory=list)
    finished: list[tuple[float, QueuedRequest]] = field(default_factory=list)
    waits: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    def on_enqueued(self, req: QueuedRequest, queue_length: int) -> None:
        return None

    def on_dispatched(self, req: QueuedRequest, wait_seconds: float) -> None:
        self.dispatched.append((self.clock.now(), req))
        self.waits[req.flow_schema].append(wait_seconds)
        for callback in self.on_dispatch:
            callback(req)  # type: ignore[operator]

    def on_rejected(self, req: QueuedRequest, reason: str, wait_seconds: float) -> None:
        self.rejected.append((self.clock.now(), req, reason))

    def on_finished(self, req: QueuedRequest, execution_seconds: float) -> None:
        self.finished.append((self.clock.now(), req))

    def on_no_accommodation(self, req: QueuedRequest) -> None:
        return None

    def served_by_flow(self, since: float = 0.0) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for when, req in self.finished:
            if when >= since:
                counts[req.flow_schema] += 1
        return counts


class Simulation:
    """One queue set and its closed-loop flows on a fake clock."""

    def __init__(
        self,
        *,
        limit: int,
        queuing: QueuingConfig | None,
        deadline_seconds: float = 1e9,
    ) -> None:
        self.clock = FakeClock()
        self.recorder = Recorder(self.clock)
        self.qs = QueueSet(
            "sim", self.clock, queuing=queuing, concurrency_limit=limit, observer=self.recorder
        )
        self.deadline_seconds = deadline_seconds
        self.flows: dict[str, Flow] = {}
        self.recorder.on_dispatch.append(self._schedule_finish)

    def add(self, flow: Flow) -> None:
        self.flows[flow.name] = flow
        for _ in range(flow.outstanding):
            self.submit(flow)

    def submit(self, flow: Flow) -> QueuedRequest:
        return self.qs.start_request(
            hash_value=flow.hash_value,
            width=flow.width,
            deadline=self.clock.now() + self.deadline_seconds,
            flow_schema=flow.name,
            distinguisher="",
            descr=flow,
        )

    def _schedule_finish(self, req: QueuedRequest) -> None:
        flow = req.descr
        assert isinstance(flow, Flow)

        def done() -> None:
            self.qs.finish_request(req)
            self.submit(flow)

        self.clock.call_later(flow.service_seconds, done)

    def run(self, seconds: float, step: float = 0.01) -> None:
        for _ in range(round(seconds / step)):
            self.clock.advance(step)


def jain_index(values: list[float]) -> float:
    """Jain's fairness index: 1.0 when all values are equal, 1/n at worst."""
    total = sum(values)
    squares = sum(v * v for v in values)
    return total * total / (len(values) * squares) if squares else 1.0
