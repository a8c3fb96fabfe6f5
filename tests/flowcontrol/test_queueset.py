"""The fair queue set in simulated time: fairness, widths, rejections, reconfiguration."""

from __future__ import annotations

import asyncio
import statistics

import pytest

from apf.flowcontrol.clock import FakeClock
from apf.flowcontrol.queueset import (
    QueuedRequest,
    QueueSet,
    QueuingConfig,
    RequestState,
    WorkEstimate,
)
from tests.flowcontrol.simulation import Flow, Recorder, Simulation, jain_index

SERVICE = 0.1


def _one_queue(limit: int, *, length: int = 50) -> tuple[FakeClock, Recorder, QueueSet]:
    clock = FakeClock()
    recorder = Recorder(clock)
    qs = QueueSet(
        "test",
        clock,
        queuing=QueuingConfig(queues=1, hand_size=1, queue_length_limit=length),
        concurrency_limit=limit,
        observer=recorder,
    )
    return clock, recorder, qs


def _start(
    qs: QueueSet,
    clock: FakeClock,
    *,
    flow: str = "f",
    deadline: float = 60.0,
    width: WorkEstimate | None = None,
    hash_value: int = 0,
) -> QueuedRequest:
    return qs.start_request(
        hash_value=hash_value,
        width=width or WorkEstimate(),
        deadline=clock.now() + deadline,
        flow_schema=flow,
        distinguisher="",
    )


def _state(request: QueuedRequest) -> RequestState:
    """The state now (a call, so the type checker does not carry an earlier narrowing)."""
    return request.state


def test_queueset_gives_equal_backlogged_flows_equal_throughput() -> None:
    sim = Simulation(limit=8, queuing=QueuingConfig(queues=64, hand_size=6, queue_length_limit=50))
    for i in range(4):
        sim.add(
            Flow(
                f"flow-{i}",
                hash_value=1_000_003 * (i + 1),
                outstanding=20,
                service_seconds=SERVICE,
            )
        )

    sim.run(30.0)

    served = sim.recorder.served_by_flow(since=5.0)
    assert len(served) == 4
    assert jain_index([float(v) for v in served.values()]) >= 0.98


def test_queueset_is_max_min_fair_under_uneven_demand() -> None:
    sim = Simulation(
        limit=10, queuing=QueuingConfig(queues=64, hand_size=6, queue_length_limit=50)
    )
    sim.add(Flow("small", hash_value=11, outstanding=1, service_seconds=SERVICE))
    sim.add(Flow("medium", hash_value=2_222_222, outstanding=3, service_seconds=SERVICE))
    sim.add(Flow("greedy", hash_value=987_654_321, outstanding=40, service_seconds=SERVICE))

    sim.run(30.0)

    # Average concurrency each flow got: served requests x service time / elapsed time.
    served = sim.recorder.served_by_flow(since=5.0)
    concurrency = {name: n * SERVICE / 25.0 for name, n in served.items()}
    assert concurrency["small"] == pytest.approx(1.0, rel=0.1)
    assert concurrency["medium"] == pytest.approx(3.0, rel=0.1)
    assert concurrency["greedy"] == pytest.approx(6.0, rel=0.1)


def test_queueset_never_exceeds_seats_with_wide_requests() -> None:
    sim = Simulation(limit=4, queuing=QueuingConfig(queues=8, hand_size=2, queue_length_limit=50))
    peak = 0

    def observe(_req: object) -> None:
        nonlocal peak
        peak = max(peak, sim.qs.seats_in_use)

    sim.recorder.on_dispatch.append(observe)
    sim.add(
        Flow("wide", hash_value=5, outstanding=5, service_seconds=SERVICE, width=WorkEstimate(3))
    )
    sim.add(Flow("narrow", hash_value=77_777, outstanding=5, service_seconds=SERVICE))

    sim.run(10.0)

    served = sim.recorder.served_by_flow()
    assert peak <= 4
    assert served["wide"] > 0
    assert served["narrow"] > 0


def test_queueset_runs_a_request_wider_than_the_limit_alone() -> None:
    clock, _, qs = _one_queue(limit=2)
    first = _start(qs, clock)
    wide = _start(qs, clock, width=WorkEstimate(5))
    assert wide.state is RequestState.WAITING

    qs.finish_request(first)

    assert _state(wide) is RequestState.EXECUTING
    assert qs.seats_in_use == 5


def test_queueset_rejects_when_queue_full_and_level_busy() -> None:
    clock, recorder, qs = _one_queue(limit=1, length=2)
    states = [_start(qs, clock).state for _ in range(4)]

    assert states == [
        RequestState.EXECUTING,
        RequestState.WAITING,
        RequestState.WAITING,
        RequestState.REJECTED,
    ]
    assert [reason for _, _, reason in recorder.rejected] == ["queue-full"]


def test_queueset_rejects_at_once_in_reject_mode() -> None:
    clock = FakeClock()
    qs = QueueSet("reject", clock, queuing=None, concurrency_limit=1)
    first, second = _start(qs, clock), _start(qs, clock)

    assert first.state is RequestState.EXECUTING
    assert (second.state, second.reject_reason) == (RequestState.REJECTED, "concurrency-limit")


def test_queueset_times_out_a_request_at_its_deadline() -> None:
    clock, recorder, qs = _one_queue(limit=1)
    _start(qs, clock)
    waiting = _start(qs, clock, deadline=15.0)

    clock.advance(14.999)
    assert waiting.state is RequestState.WAITING
    clock.advance(0.002)

    assert (waiting.state, waiting.reject_reason) == (RequestState.REJECTED, "time-out")
    assert recorder.rejected[0][0] == pytest.approx(15.0)
    assert qs.waiting == 0


async def test_queueset_cancellation_removes_a_waiting_request() -> None:
    clock, _, qs = _one_queue(limit=1)
    running = _start(qs, clock)
    waiting = _start(qs, clock)
    task = asyncio.ensure_future(waiting.wait())
    await asyncio.sleep(0)

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert (waiting.state, waiting.reject_reason) == (RequestState.REJECTED, "time-out")
    assert qs.waiting == 0
    qs.finish_request(running)
    assert qs.is_idle


async def test_queueset_wait_returns_once_dispatched() -> None:
    clock, _, qs = _one_queue(limit=1)
    running = _start(qs, clock)
    waiting = _start(qs, clock)
    task = asyncio.ensure_future(waiting.wait())
    await asyncio.sleep(0)

    qs.finish_request(running)

    assert await task is True
    assert waiting.state is RequestState.EXECUTING


def test_shuffle_sharding_isolates_light_flows_from_a_heavy_one() -> None:
    sim = Simulation(
        limit=10, queuing=QueuingConfig(queues=64, hand_size=6, queue_length_limit=500)
    )
    sim.add(Flow("heavy", hash_value=123_456_789, outstanding=300, service_seconds=SERVICE))
    for i in range(10):
        sim.add(
            Flow(
                f"light-{i}",
                hash_value=(i + 1) * 7_919_000_111,
                outstanding=1,
                service_seconds=SERVICE,
            )
        )

    sim.run(20.0)

    light_waits = [w for name, ws in sim.recorder.waits.items() if name != "heavy" for w in ws]
    heavy_waits = sim.recorder.waits["heavy"][300:]
    # Service times are equal, so waits come in whole services: a light request waits
    # about one, the heavy flow's backlog waits dozens.
    assert statistics.quantiles(light_waits, n=100)[98] <= 4 * SERVICE + 1e-9
    assert statistics.median(heavy_waits) > 20 * statistics.median(light_waits)


def test_queueset_keeps_queued_requests_when_queues_shrink() -> None:
    clock = FakeClock()
    qs = QueueSet("shrink", clock, queuing=QueuingConfig(8, 2, 50), concurrency_limit=1)
    running = _start(qs, clock)
    waiting = [_start(qs, clock, hash_value=h * 99_991) for h in range(1, 9)]

    qs.reconfigure(queuing=QueuingConfig(2, 1, 50), concurrency_limit=1)
    current = running
    for _ in range(len(waiting)):
        qs.finish_request(current)
        executing = [r for r in waiting if r.state is RequestState.EXECUTING]
        assert len(executing) == 1
        current = executing[0]
        waiting.remove(current)
    qs.finish_request(current)

    assert qs.is_idle
    assert len(qs.queues) == 2


def test_queueset_switched_to_reject_still_drains_its_queues() -> None:
    clock, _, qs = _one_queue(limit=1)
    running = _start(qs, clock)
    queued = _start(qs, clock)

    qs.reconfigure(queuing=None, concurrency_limit=1)
    refused = _start(qs, clock)
    qs.finish_request(running)

    assert refused.reject_reason == "concurrency-limit"
    assert queued.state is RequestState.EXECUTING


def test_queueset_lower_limit_never_interrupts_running_requests() -> None:
    clock, _, qs = _one_queue(limit=4)
    running = [_start(qs, clock) for _ in range(4)]
    queued = _start(qs, clock)

    qs.set_concurrency_limit(1)
    assert all(r.state is RequestState.EXECUTING for r in running)
    for request in running[:3]:
        qs.finish_request(request)
    assert queued.state is RequestState.WAITING

    qs.finish_request(running[3])
    assert _state(queued) is RequestState.EXECUTING


def test_queueset_raising_the_limit_dispatches_waiters() -> None:
    clock, _, qs = _one_queue(limit=1)
    _start(qs, clock)
    queued = _start(qs, clock)

    qs.set_concurrency_limit(2)

    assert queued.state is RequestState.EXECUTING


def test_queueset_final_seats_linger_for_the_additional_latency() -> None:
    clock, _, qs = _one_queue(limit=4)
    width = WorkEstimate(initial_seats=1, final_seats=3, additional_latency_seconds=0.5)
    request = _start(qs, clock, width=width)
    qs.finish_request(request)

    assert qs.seats_in_use == 3
    assert qs.executing == 0
    clock.advance(0.5)
    assert qs.seats_in_use == 0
    assert qs.is_idle


def test_queueset_exempt_level_never_queues() -> None:
    clock = FakeClock()
    qs = QueueSet("exempt", clock, queuing=None, concurrency_limit=0, is_exempt=True)
    states = {_start(qs, clock).state for _ in range(100)}

    assert states == {RequestState.EXECUTING}
    assert qs.seats_in_use == 100


def test_queueset_seat_demand_is_time_weighted() -> None:
    clock, _, qs = _one_queue(limit=10)
    requests = [_start(qs, clock) for _ in range(4)]
    clock.advance(5.0)
    for request in requests[:2]:
        qs.finish_request(request)
    clock.advance(5.0)

    demand = qs.take_seat_demand()

    assert demand.average == pytest.approx(3.0)
    assert demand.stdev == pytest.approx(1.0)
    assert demand.high_watermark == 4
