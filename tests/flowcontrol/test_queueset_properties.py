"""Queue-set invariants over random operation sequences (hypothesis, simulated time).

Checked: seats in use stay within the limit when a request starts (the one
exception being a request wider than the limit running alone); every request
ends exactly once (executed then finished, or rejected, cancellations being
time-outs); no request is dispatched after its deadline and none waits past it.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field

from hypothesis import given, settings, strategies as st

from apf.flowcontrol.clock import FakeClock
from apf.flowcontrol.queueset import (
    QueuedRequest,
    QueueSet,
    QueuingConfig,
    RequestState,
    WorkEstimate,
)

# Operations: tuples whose first item names them, then two or three arguments.
Op = tuple[str, int, int, int, float, float]


def flow_hash(distinguisher: str) -> int:
    data = b"fs\x00" + distinguisher.encode()
    return int.from_bytes(hashlib.sha256(data).digest()[:8], "little")


@dataclass
class Checker:
    """Observer that checks invariants at every event and keeps each request's history."""

    clock: FakeClock
    qs: QueueSet | None = None
    history: dict[int, list[str]] = field(default_factory=dict)
    cancelled: set[int] = field(default_factory=set)
    # Widths as asked for; dispatch may clamp final seats to the limit afterwards.
    asked: dict[int, WorkEstimate] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def _log(self, req: QueuedRequest, event: str) -> None:
        key = req.descr
        assert isinstance(key, int)
        self.history.setdefault(key, []).append(event)

    def on_enqueued(self, req: QueuedRequest, queue_length: int) -> None:
        return None

    def on_dispatched(self, req: QueuedRequest, wait_seconds: float) -> None:
        assert self.qs is not None
        self._log(req, "dispatched")
        if self.clock.now() >= req.deadline and wait_seconds > 0:
            self.problems.append(f"dispatched after its deadline: {req.descr}")
        within = self.qs.seats_in_use <= self.qs.limit
        assert isinstance(req.descr, int)
        asked = self.asked.get(req.descr, req.width)
        alone = asked.max_seats > self.qs.limit and self.qs.executing == 1
        if not (within or alone):
            self.problems.append(
                f"seats {self.qs.seats_in_use} over limit {self.qs.limit} for {req.descr}"
            )

    def on_rejected(self, req: QueuedRequest, reason: str, wait_seconds: float) -> None:
        self._log(req, "rejected")
        is_expiry = reason == "time-out" and req.descr not in self.cancelled
        # The fake clock fires timers exactly on time, so the granularity is 0.
        is_on_time = req.deadline <= self.clock.now() <= req.deadline + 1e-9
        if is_expiry and not is_on_time:
            self.problems.append(f"timed out at {self.clock.now()}, not its deadline")

    def on_finished(self, req: QueuedRequest, execution_seconds: float) -> None:
        self._log(req, "finished")

    def on_no_accommodation(self, req: QueuedRequest) -> None:
        return None


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


@dataclass
class Run:
    clock: FakeClock
    qs: QueueSet
    checker: Checker
    requests: list[QueuedRequest] = field(default_factory=list)
    waiters: list[asyncio.Task[bool]] = field(default_factory=list)

    def in_state(self, state: RequestState) -> list[QueuedRequest]:
        return [r for r in self.requests if r.state is state]

    async def apply(self, op: Op) -> None:
        name, a, b, c, x, y = op
        if name == "start":
            self.start(flow=a, initial=b, final=c, latency=x, wait=y)
        elif name == "finish":
            executing = self.in_state(RequestState.EXECUTING)
            if executing:
                self.qs.finish_request(executing[a % len(executing)])
        elif name == "advance":
            self.clock.advance(x)
        elif name == "limit":
            self.qs.set_concurrency_limit(a)
        elif name == "reconfigure":
            queuing = QueuingConfig(a, min(a, b), c) if a > 0 else None
            self.qs.reconfigure(queuing=queuing, concurrency_limit=int(x))
        elif name == "cancel":
            await self.cancel(a)
        await settle()

    def start(self, *, flow: int, initial: int, final: int, latency: float, wait: float) -> None:
        width = WorkEstimate(initial, final, latency if final else 0.0)
        self.checker.asked[len(self.requests)] = width
        req = self.qs.start_request(
            hash_value=flow_hash(f"flow-{flow}"),
            width=width,
            deadline=self.clock.now() + wait,
            flow_schema="fs",
            distinguisher=f"flow-{flow}",
            descr=len(self.requests),
        )
        self.requests.append(req)

    async def cancel(self, index: int) -> None:
        waiting = self.in_state(RequestState.WAITING)
        if not waiting:
            return
        req = waiting[index % len(waiting)]
        assert isinstance(req.descr, int)
        self.checker.cancelled.add(req.descr)
        task = asyncio.create_task(req.wait())
        await settle()
        task.cancel()
        self.waiters.append(task)

    def drain(self) -> None:
        self.qs.set_concurrency_limit(1000)
        for _ in range(len(self.requests) + 1):
            for req in self.in_state(RequestState.EXECUTING):
                self.qs.finish_request(req)
            self.clock.advance(10.0)


starts = st.tuples(
    st.just("start"),
    st.integers(0, 5),
    st.integers(1, 4),
    st.integers(0, 3),
    st.sampled_from([0.0, 0.5, 2.0]),
    st.floats(0.01, 5.0),
)
finishes = st.tuples(
    st.just("finish"), st.integers(0, 50), st.just(0), st.just(0), st.just(0.0), st.just(0.0)
)
advances = st.tuples(
    st.just("advance"),
    st.just(0),
    st.just(0),
    st.just(0),
    st.floats(0.0, 3.0),
    st.just(0.0),
)
limits = st.tuples(
    st.just("limit"), st.integers(0, 6), st.just(0), st.just(0), st.just(0.0), st.just(0.0)
)
reconfigures = st.tuples(
    st.just("reconfigure"),
    st.integers(0, 6),
    st.integers(1, 3),
    st.integers(1, 4),
    st.integers(0, 6).map(float),
    st.just(0.0),
)
cancels = st.tuples(
    st.just("cancel"), st.integers(0, 50), st.just(0), st.just(0), st.just(0.0), st.just(0.0)
)
operations = st.lists(
    st.one_of(starts, starts, finishes, advances, limits, reconfigures, cancels),
    max_size=60,
)


async def run_scenario(ops: list[Op], *, limit: int, is_exempt: bool) -> Run:
    clock = FakeClock()
    checker = Checker(clock)
    qs = QueueSet(
        "prop",
        clock,
        queuing=QueuingConfig(4, 2, 3),
        concurrency_limit=limit,
        is_exempt=is_exempt,
        observer=checker,
    )
    checker.qs = qs
    run = Run(clock, qs, checker)
    for op in ops:
        await run.apply(op)
        for req in run.in_state(RequestState.WAITING):
            assert req.deadline >= clock.now()
    run.drain()
    await settle()
    return run


def check_outcomes(run: Run) -> None:
    assert run.checker.problems == []
    for index, req in enumerate(run.requests):
        history = run.checker.history.get(index, [])
        assert history in (["dispatched", "finished"], ["rejected"]), (index, history)
        assert req.state in (RequestState.FINISHED, RequestState.REJECTED)
    assert run.qs.is_idle
    assert run.qs.seats_in_use == 0
    assert all(task.done() for task in run.waiters)


@settings(max_examples=150, deadline=None)
@given(ops=operations, limit=st.integers(0, 6))
def test_queueset_properties_hold_over_random_operations(ops: list[Op], limit: int) -> None:
    run = asyncio.run(run_scenario(ops, limit=limit, is_exempt=False))

    check_outcomes(run)


@settings(max_examples=40, deadline=None)
@given(ops=operations, limit=st.integers(0, 6))
def test_queueset_exempt_never_queues_or_rejects(ops: list[Op], limit: int) -> None:
    run = asyncio.run(run_scenario(ops, limit=limit, is_exempt=True))

    assert all(h == ["dispatched", "finished"] for h in run.checker.history.values())
    assert run.qs.is_idle
