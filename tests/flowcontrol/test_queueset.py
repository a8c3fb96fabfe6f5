"""Queue set: fairness, seats, rejections, config changes; all in simulated time."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import statistics
from collections import defaultdict
from dataclasses import dataclass, field

import pytest

from apf.flowcontrol.clock import FakeClock
from apf.flowcontrol.metrics import LevelObserver, Metrics
from apf.flowcontrol.queueset import (
    FlowHand,
    NativeObserver,
    QueuedRequest,
    QueueSet,
    QueuingConfig,
    RequestState,
    WorkEstimate,
    as_native_observer,
)


def flow_hash(flow_schema: str, distinguisher: str) -> int:
    data = flow_schema.encode() + b"\x00" + distinguisher.encode()
    return int.from_bytes(hashlib.sha256(data).digest()[:8], "little")


@dataclass(frozen=True, slots=True)
class Job:
    """What a simulated client asked for: its flow and how long the work takes."""

    flow: str
    hash_value: int
    service_seconds: float | None  # None: the test finishes the request itself
    resubmit: bool = False


@dataclass
class Recorder:
    """Observer that records every event and runs dispatched jobs for their service time."""

    clock: FakeClock
    events: list[tuple[str, str, float]] = field(default_factory=list)
    dispatched: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    waits: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    rejected: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    no_accommodation: int = 0
    sim: Simulation | None = None

    def on_enqueued(self, req: QueuedRequest, queue_length: int) -> None:
        self.events.append(("enqueued", req.distinguisher, self.clock.now()))

    def on_dispatched(self, req: QueuedRequest, wait_seconds: float) -> None:
        self.events.append(("dispatched", req.distinguisher, self.clock.now()))
        self.dispatched[req.distinguisher] += 1
        self.waits[req.distinguisher].append(wait_seconds)
        if self.sim is not None:
            self.sim.schedule_finish(req)

    def on_rejected(self, req: QueuedRequest, reason: str, wait_seconds: float) -> None:
        self.events.append((f"rejected:{reason}", req.distinguisher, self.clock.now()))
        self.rejected[req.distinguisher].append(reason)

    def on_finished(self, req: QueuedRequest, execution_seconds: float) -> None:
        self.events.append(("finished", req.distinguisher, self.clock.now()))

    def on_no_accommodation(self, req: QueuedRequest) -> None:
        self.no_accommodation += 1


class Simulation:
    """A queue set on a fake clock whose dispatched requests finish after their service time."""

    def __init__(
        self,
        *,
        queuing: QueuingConfig | None,
        limit: int,
        is_exempt: bool = False,
        wait_limit_seconds: float = 1000.0,
    ) -> None:
        self.clock = FakeClock()
        self.recorder = Recorder(self.clock)
        self.recorder.sim = self
        self.wait_limit_seconds = wait_limit_seconds
        self.qs = QueueSet(
            "test",
            self.clock,
            queuing=queuing,
            concurrency_limit=limit,
            is_exempt=is_exempt,
            observer=self.recorder,
        )

    def submit(
        self,
        flow: str,
        *,
        service_seconds: float | None = None,
        width: WorkEstimate | None = None,
        hash_value: int | None = None,
        resubmit: bool = False,
    ) -> QueuedRequest:
        """Start one request of ``flow``; a resubmitting client sends another when it ends."""
        if hash_value is None:
            hash_value = flow_hash("fs", flow)
        return self.qs.start_request(
            hash_value=hash_value,
            width=width or WorkEstimate(),
            deadline=self.clock.now() + self.wait_limit_seconds,
            flow_schema="fs",
            distinguisher=flow,
            descr=Job(flow, hash_value, service_seconds, resubmit),
        )

    def schedule_finish(self, req: QueuedRequest) -> None:
        job = req.descr
        assert isinstance(job, Job)
        if job.service_seconds is not None:
            self.clock.call_later(job.service_seconds, lambda: self._finish(req, job))

    def _finish(self, req: QueuedRequest, job: Job) -> None:
        self.qs.finish_request(req)
        if job.resubmit:
            self.submit(
                job.flow,
                service_seconds=job.service_seconds,
                width=req.width,
                hash_value=job.hash_value,
                resubmit=True,
            )

    def arrive_every(
        self, flow: str, *, period_seconds: float, until: float, hash_value: int | None = None
    ) -> None:
        """An open-loop client: one request every ``period_seconds`` until ``until``."""

        def arrive() -> None:
            self.submit(flow, service_seconds=1.0, hash_value=hash_value)
            if self.clock.now() + period_seconds < until:
                self.clock.call_later(period_seconds, arrive)

        self.clock.call_later(0.0, arrive)


def jain_index(values: list[float]) -> float:
    """Jain's fairness index: 1 when all equal, 1/n when one takes everything."""
    return sum(values) ** 2 / (len(values) * sum(v * v for v in values))


async def settle() -> None:
    """Let every ready task run until all of them block again."""
    for _ in range(20):
        await asyncio.sleep(0)


def state(req: QueuedRequest) -> RequestState:
    """Read the state through a call, so the type checker does not pin it across calls."""
    return req.state


def one_queue_per_flow(queues: int, queue_length_limit: int = 1000) -> QueuingConfig:
    """Hand size 1: hash ``i`` lands in queue ``i``, so flows never share a queue."""
    return QueuingConfig(queues=queues, hand_size=1, queue_length_limit=queue_length_limit)


# --- fairness ---


def test_queueset_gives_equal_throughput_to_equal_backlogged_flows() -> None:
    sim = Simulation(queuing=QueuingConfig(64, 8, 1000), limit=10)
    flows = [f"flow-{i}" for i in range(8)]
    for flow in flows:
        for _ in range(20):
            sim.submit(flow, service_seconds=0.5, resubmit=True)

    sim.clock.advance(200.0)

    served = [float(sim.recorder.dispatched[flow]) for flow in flows]
    assert jain_index(served) >= 0.98
    assert sum(served) == pytest.approx(10 * 200 / 0.5, rel=0.02)


def test_queueset_gives_max_min_fair_shares_to_uneven_demand() -> None:
    sim = Simulation(queuing=one_queue_per_flow(3), limit=10, wait_limit_seconds=15.0)
    for i, (flow, rate) in enumerate([("small", 1.0), ("medium", 3.0), ("large", 10.0)]):
        sim.arrive_every(flow, period_seconds=1 / rate, until=300.0, hash_value=i)

    sim.clock.advance(300.0)

    served = {flow: sim.recorder.dispatched[flow] / 300.0 for flow in sim.recorder.dispatched}
    assert served["small"] == pytest.approx(1.0, rel=0.05)
    assert served["medium"] == pytest.approx(3.0, rel=0.05)
    assert served["large"] == pytest.approx(6.0, rel=0.05)


def test_queueset_isolates_light_flows_from_a_heavy_flow_by_shuffle_sharding() -> None:
    sim = Simulation(queuing=QueuingConfig(64, 8, 1000), limit=10)
    for _ in range(300):
        sim.submit("heavy", service_seconds=1.0, resubmit=True)
    light = [f"light-{i}" for i in range(20)]
    for i, flow in enumerate(light):
        start = functools.partial(sim.arrive_every, flow, period_seconds=4.0, until=100.0)
        sim.clock.call_later(i * 0.1, start)

    sim.clock.advance(100.0)

    # Heavy requests all end on whole seconds, so a light one may wait for the
    # next few bursts of freed seats, but never behind the heavy backlog.
    light_waits = [w for flow in light for w in sim.recorder.waits[flow]]
    heavy_waits = sim.recorder.waits["heavy"]
    assert len(light_waits) == 20 * 25
    assert max(light_waits) <= 4.0
    assert statistics.mean(light_waits) <= 1.5
    assert statistics.mean(heavy_waits) >= 20 * statistics.mean(light_waits)
    assert sim.recorder.dispatched["heavy"] >= 0.4 * 10 * 100


# --- seats and width ---


def test_queueset_blocks_whole_level_when_head_does_not_fit() -> None:
    sim = Simulation(queuing=one_queue_per_flow(3), limit=10)
    running = sim.submit("a", width=WorkEstimate(initial_seats=5), hash_value=2)
    wide = sim.submit("a", width=WorkEstimate(initial_seats=8), hash_value=0)
    # One seat but far more work, so the fair order serves the wide head first.
    slow = WorkEstimate(initial_seats=1, final_seats=1, additional_latency_seconds=1.0)
    narrow = sim.submit("b", width=slow, hash_value=1)

    assert state(running) is RequestState.EXECUTING
    assert state(wide) is RequestState.WAITING
    assert state(narrow) is RequestState.WAITING
    assert sim.recorder.no_accommodation >= 1
    assert sim.qs.seats_in_use == 5

    sim.qs.finish_request(running)

    assert state(wide) is RequestState.EXECUTING
    assert state(narrow) is RequestState.EXECUTING
    assert sim.qs.seats_in_use == 9


def test_queueset_runs_request_wider_than_limit_only_alone() -> None:
    sim = Simulation(queuing=one_queue_per_flow(2), limit=4)
    first = sim.submit("a", hash_value=0)
    wide = sim.submit("b", width=WorkEstimate(initial_seats=6), hash_value=1)

    assert state(wide) is RequestState.WAITING

    sim.qs.finish_request(first)

    assert state(wide) is RequestState.EXECUTING
    assert sim.qs.seats_in_use == 6


def test_queueset_admits_one_at_a_time_when_limit_is_zero() -> None:
    sim = Simulation(queuing=one_queue_per_flow(1), limit=0)
    first = sim.submit("a", hash_value=0)
    second = sim.submit("a", hash_value=0)

    assert state(first) is RequestState.EXECUTING
    assert state(second) is RequestState.WAITING

    sim.qs.finish_request(first)

    assert state(second) is RequestState.EXECUTING


def test_queueset_keeps_final_seats_for_the_additional_latency() -> None:
    sim = Simulation(queuing=one_queue_per_flow(1), limit=3)
    width = WorkEstimate(initial_seats=1, final_seats=3, additional_latency_seconds=2.0)
    mutating = sim.submit("a", width=width, hash_value=0)
    follower = sim.submit("a", hash_value=0)
    sim.clock.advance(0.5)

    sim.qs.finish_request(mutating)
    sim.clock.advance(1.9)

    assert state(mutating) is RequestState.FINISHED
    assert sim.qs.seats_in_use == 3
    assert state(follower) is RequestState.WAITING

    sim.clock.advance(0.1)

    assert state(follower) is RequestState.EXECUTING
    assert sim.qs.seats_in_use == 1


def test_queueset_clamps_final_seats_to_the_limit() -> None:
    sim = Simulation(queuing=one_queue_per_flow(1), limit=2)
    blocker = sim.submit("a", hash_value=0)
    width = WorkEstimate(initial_seats=1, final_seats=4, additional_latency_seconds=1.0)
    wide = sim.submit("a", width=width, hash_value=0)

    sim.qs.finish_request(blocker)

    assert state(wide) is RequestState.EXECUTING
    assert wide.width.final_seats == 2
    assert wide.width.additional_latency_seconds == pytest.approx(2.0)


# --- rejections ---


def test_queueset_rejects_when_queue_full_at_capacity() -> None:
    sim = Simulation(queuing=one_queue_per_flow(1, queue_length_limit=2), limit=1)
    requests = [sim.submit("a", hash_value=0) for _ in range(4)]

    states = [r.state for r in requests]

    assert states == [
        RequestState.EXECUTING,
        RequestState.WAITING,
        RequestState.WAITING,
        RequestState.REJECTED,
    ]
    assert requests[3].reject_reason == "queue-full"
    assert requests[3].queue_index == -1


def test_queueset_queues_past_length_limit_when_below_capacity() -> None:
    sim = Simulation(queuing=one_queue_per_flow(1, queue_length_limit=1), limit=10)
    running = sim.submit("a", width=WorkEstimate(initial_seats=5), hash_value=0)
    waiting = [
        sim.submit("a", width=WorkEstimate(initial_seats=8), hash_value=0) for _ in range(3)
    ]

    assert state(running) is RequestState.EXECUTING
    assert [r.state for r in waiting] == [RequestState.WAITING] * 3


def test_queueset_rejects_with_time_out_at_the_deadline() -> None:
    sim = Simulation(queuing=one_queue_per_flow(1), limit=1, wait_limit_seconds=15.0)
    sim.submit("a", hash_value=0)
    late = sim.submit("a", hash_value=0)

    sim.clock.advance(14.999)
    assert state(late) is RequestState.WAITING
    sim.clock.advance(0.001)

    assert state(late) is RequestState.REJECTED
    assert late.reject_reason == "time-out"
    assert sim.recorder.events[-1] == ("rejected:time-out", "a", 15.0)
    assert sim.qs.statistics().waiting == 0


async def test_queueset_wait_returns_false_when_timed_out() -> None:
    sim = Simulation(queuing=one_queue_per_flow(1), limit=1, wait_limit_seconds=5.0)
    sim.submit("a", hash_value=0)
    late = sim.submit("a", hash_value=0)
    waiter = asyncio.create_task(late.wait())
    await settle()

    sim.clock.advance(5.0)
    await settle()

    assert waiter.done()
    assert waiter.result() is False


async def test_queueset_wait_returns_true_once_dispatched() -> None:
    sim = Simulation(queuing=one_queue_per_flow(1), limit=1)
    first = sim.submit("a", hash_value=0)
    second = sim.submit("a", hash_value=0)
    waiter = asyncio.create_task(second.wait())
    await settle()
    assert not waiter.done()

    sim.qs.finish_request(first)
    await settle()

    assert waiter.result() is True
    assert await first.wait() is True


async def test_queueset_cancellation_removes_the_waiting_request() -> None:
    sim = Simulation(queuing=one_queue_per_flow(1), limit=1)
    first = sim.submit("a", hash_value=0)
    cancelled = sim.submit("b", hash_value=0)
    after = sim.submit("c", hash_value=0)
    waiter = asyncio.create_task(cancelled.wait())
    await settle()

    waiter.cancel()
    await settle()

    assert waiter.cancelled()
    assert state(cancelled) is RequestState.REJECTED
    assert cancelled.reject_reason == "time-out"
    assert sim.qs.statistics().waiting == 1
    assert sim.qs.statistics().cancelled == 1
    sim.qs.finish_request(first)
    assert state(after) is RequestState.EXECUTING


def test_queueset_rejects_in_reject_mode_when_seats_are_short() -> None:
    sim = Simulation(queuing=None, limit=2)
    admitted = [sim.submit("a") for _ in range(2)]
    refused = sim.submit("a")

    assert [r.state for r in admitted] == [RequestState.EXECUTING] * 2
    assert state(refused) is RequestState.REJECTED
    assert refused.reject_reason == "concurrency-limit"


def test_queueset_exempt_dispatches_everything_and_counts_seats() -> None:
    sim = Simulation(queuing=QueuingConfig(8, 2, 1), limit=1, is_exempt=True)
    requests = [sim.submit("a", width=WorkEstimate(initial_seats=3)) for _ in range(5)]

    assert all(r.state is RequestState.EXECUTING for r in requests)
    assert sim.qs.seats_in_use == 15
    assert sim.qs.take_seat_demand().high_watermark == 15


# --- configuration changes ---


def test_queueset_keeps_queued_requests_when_queues_grow() -> None:
    sim = Simulation(queuing=one_queue_per_flow(2), limit=1)
    running = sim.submit("a", hash_value=0)
    queued = sim.submit("b", hash_value=1)

    sim.qs.reconfigure(queuing=one_queue_per_flow(6), concurrency_limit=1)

    assert len(sim.qs.statistics().queues) == 6
    assert queued.queue_index == 1
    sim.qs.finish_request(running)
    assert state(queued) is RequestState.EXECUTING


def test_queueset_removes_surplus_queues_once_empty_after_shrink() -> None:
    sim = Simulation(queuing=one_queue_per_flow(4), limit=1)
    running = sim.submit("a", hash_value=3)
    queued = sim.submit("b", hash_value=3)

    sim.qs.reconfigure(queuing=one_queue_per_flow(2), concurrency_limit=1)

    assert len(sim.qs.statistics().queues) == 3
    assert queued.queue_index == 2
    newcomer = sim.submit("c", hash_value=3)
    assert newcomer.queue_index == 1
    sim.qs.finish_request(running)
    # The old queue already paid for ``running``, so the newcomer goes first.
    assert state(newcomer) is RequestState.EXECUTING
    sim.qs.finish_request(newcomer)
    assert state(queued) is RequestState.EXECUTING
    assert len(sim.qs.statistics().queues) == 3
    sim.qs.finish_request(queued)
    assert len(sim.qs.statistics().queues) == 2


def test_queueset_drains_old_queues_after_switch_to_reject() -> None:
    sim = Simulation(queuing=one_queue_per_flow(1), limit=1)
    running = sim.submit("a", hash_value=0)
    queued = sim.submit("a", hash_value=0)

    sim.qs.reconfigure(queuing=None, concurrency_limit=1)
    refused = sim.submit("a")
    sim.qs.finish_request(running)

    assert refused.reject_reason == "concurrency-limit"
    assert state(queued) is RequestState.EXECUTING
    sim.qs.finish_request(queued)
    assert sim.qs.is_idle
    assert sim.qs.statistics().queues == ()


def test_queueset_lower_limit_never_interrupts_running_requests() -> None:
    sim = Simulation(queuing=one_queue_per_flow(1), limit=4)
    running = [sim.submit("a", hash_value=0) for _ in range(4)]
    queued = sim.submit("a", hash_value=0)

    sim.qs.set_concurrency_limit(2)
    for req in running[:2]:
        sim.qs.finish_request(req)

    assert all(r.state is RequestState.EXECUTING for r in running[2:])
    assert state(queued) is RequestState.WAITING
    sim.qs.finish_request(running[2])
    assert state(queued) is RequestState.EXECUTING


def test_queueset_raising_limit_dispatches_waiters() -> None:
    sim = Simulation(queuing=one_queue_per_flow(1), limit=1)
    sim.submit("a", hash_value=0)
    queued = [sim.submit("a", hash_value=0) for _ in range(2)]

    sim.qs.set_concurrency_limit(3)

    assert [r.state for r in queued] == [RequestState.EXECUTING] * 2


# --- observation ---


def test_queueset_reports_seat_demand_over_the_period() -> None:
    sim = Simulation(queuing=one_queue_per_flow(1), limit=2)
    sim.submit("a", hash_value=0)
    sim.clock.advance(1.0)
    sim.submit("a", hash_value=0)
    sim.submit("a", hash_value=0)
    sim.clock.advance(1.0)

    demand = sim.qs.take_seat_demand()
    after = sim.qs.take_seat_demand()

    assert demand.average == pytest.approx(2.0)
    assert demand.stdev == pytest.approx(1.0)
    assert demand.high_watermark == 3
    assert after.high_watermark == 3


def test_queueset_statistics_lists_waiting_then_executing_requests() -> None:
    sim = Simulation(queuing=one_queue_per_flow(2), limit=1)
    sim.submit("a", hash_value=0)
    sim.submit("b", hash_value=1)

    stats = sim.qs.statistics()

    rows = [(r.distinguisher, r.queue_index, r.index_in_queue) for r in stats.requests]
    assert rows == [("b", 1, 0), ("a", 0, -1)]
    assert (stats.waiting, stats.executing, stats.seats_in_use) == (1, 1, 1)


def test_queueset_is_idle_only_after_lingering_seats_are_released() -> None:
    sim = Simulation(queuing=one_queue_per_flow(1), limit=2)
    width = WorkEstimate(initial_seats=1, final_seats=1, additional_latency_seconds=1.0)
    req = sim.submit("a", width=width, hash_value=0)

    sim.qs.finish_request(req)
    idle_before = sim.qs.is_idle
    sim.clock.advance(1.0)

    assert not idle_before
    assert sim.qs.is_idle


def test_queueset_runs_wide_request_beside_lingering_seats() -> None:
    sim = Simulation(queuing=one_queue_per_flow(2), limit=2)
    width = WorkEstimate(initial_seats=1, final_seats=1, additional_latency_seconds=5.0)
    lingering = sim.submit("a", width=width, hash_value=0)
    wide = sim.submit("b", width=WorkEstimate(initial_seats=3), hash_value=1)

    sim.qs.finish_request(lingering)

    assert state(wide) is RequestState.EXECUTING
    assert sim.qs.seats_in_use == 4


def test_queueset_charges_queue_for_actual_service_time() -> None:
    sim = Simulation(queuing=one_queue_per_flow(1), limit=1)
    req = sim.submit("a", hash_value=0)
    dispatched_r = sim.qs.statistics().queues[0].next_dispatch_r
    sim.clock.advance(2.0)

    sim.qs.finish_request(req)

    # R starts at 0; dispatch charges G = 3 ms, completion corrects to the 2 s taken.
    assert dispatched_r == 300_000
    assert sim.qs.statistics().queues[0].next_dispatch_r == 200_000_000


def test_queueset_advances_virtual_time_by_seats_per_active_queue() -> None:
    sim = Simulation(queuing=one_queue_per_flow(2), limit=4)
    sim.submit("a", width=WorkEstimate(initial_seats=3), hash_value=0)
    sim.submit("b", width=WorkEstimate(initial_seats=2), hash_value=1)

    sim.clock.advance(3.0)

    # min(3 + 2 seats requested, limit 4) / 2 active queues = 2 seat-seconds per second.
    assert sim.qs.statistics().current_r == pytest.approx(6.0)


def test_queueset_admits_wide_request_in_reject_mode_when_idle() -> None:
    sim = Simulation(queuing=None, limit=2)

    wide = sim.submit("a", width=WorkEstimate(initial_seats=5))
    refused = sim.submit("a")

    assert state(wide) is RequestState.EXECUTING
    assert refused.reject_reason == "concurrency-limit"


def test_queueset_removes_surplus_queue_when_its_last_waiter_times_out() -> None:
    sim = Simulation(queuing=one_queue_per_flow(3), limit=1, wait_limit_seconds=2.0)
    sim.submit("a", hash_value=0)
    late = sim.submit("b", hash_value=2)
    sim.qs.reconfigure(queuing=one_queue_per_flow(2), concurrency_limit=1)
    assert len(sim.qs.statistics().queues) == 3

    sim.clock.advance(2.0)

    assert late.reject_reason == "time-out"
    assert len(sim.qs.statistics().queues) == 2


def start_one_seat(qs: QueueSet, flow: str, hand: FlowHand | None = None) -> QueuedRequest:
    """Start a one-seat request of ``flow`` (schema "fs") with a distant deadline."""
    return qs.start_request(
        hash_value=flow_hash("fs", flow),
        width=WorkEstimate(initial_seats=1),
        deadline=60.0,
        flow_schema="fs",
        distinguisher=flow,
        hand=hand,
    )


def test_observers_compiled_with_the_engine_are_used_as_they_are_and_others_forwarded() -> None:
    clock = FakeClock()
    level = LevelObserver(Metrics(), "pl", call_later=clock.call_later)
    assert as_native_observer(level) is level
    assert type(as_native_observer(None)) is NativeObserver
    recorder = Recorder(clock)
    qs = QueueSet(
        "pl",
        clock,
        queuing=QueuingConfig(queues=1, hand_size=1, queue_length_limit=1),
        concurrency_limit=1,
        observer=recorder,
    )

    first, waiting, refused = (start_one_seat(qs, flow) for flow in ("a", "b", "c"))

    qs.finish_request(first)

    kinds = [kind for kind, _, _ in recorder.events]
    assert kinds == [
        "enqueued",
        "dispatched",
        "enqueued",
        "rejected:queue-full",
        "finished",
        "dispatched",
    ]
    assert waiting.state is RequestState.EXECUTING
    assert refused.state is RequestState.REJECTED


def test_a_kept_flow_hand_picks_the_queues_a_fresh_deal_picks_until_the_deal_changes() -> None:
    def queue_set() -> QueueSet:
        return QueueSet(
            "pl",
            FakeClock(),
            queuing=QueuingConfig(queues=8, hand_size=3, queue_length_limit=10),
            concurrency_limit=2,
        )

    kept, fresh = queue_set(), queue_set()
    hands = {flow: FlowHand() for flow in ("a", "b", "c")}

    # Some start at once, later ones wait: both ways of picking a queue are exercised.
    flows = ["a", "b", "c", "a", "a", "b", "c", "c", "a", "b"]
    with_hand = [start_one_seat(kept, flow, hands[flow]).queue_index for flow in flows]
    without = [start_one_seat(fresh, flow).queue_index for flow in flows]

    assert with_hand == without
    assert all(hand.dealer is kept.dealer for hand in hands.values())
    assert {len(hand.queues) for hand in hands.values()} == {6}  # three queues, twice over

    kept.reconfigure(
        queuing=QueuingConfig(queues=16, hand_size=4, queue_length_limit=10), concurrency_limit=2
    )
    start_one_seat(kept, "a", hands["a"])
    assert hands["a"].dealer is kept.dealer
    assert len(hands["a"].queues) == 8
