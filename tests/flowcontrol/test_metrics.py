"""Metrics: names, labels, and the series a real queue set feeds through its observer."""

from __future__ import annotations

import pytest
from prometheus_client import generate_latest

from apf.flowcontrol.clock import FakeClock
from apf.flowcontrol.metrics import (
    LevelDemand,
    LevelLimitSeats,
    LevelObserver,
    Metrics,
    RequestKind,
    request_kind,
)
from apf.flowcontrol.queueset import QueueSet, QueuingConfig, RequestState, WorkEstimate

LEVEL = "workload-low"
SCHEMA = "service-accounts"
BOTH = {"priority_level": LEVEL, "flow_schema": SCHEMA}


def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    value: float | None = metrics.registry.get_sample_value(name, labels)
    return value


def queue_set(metrics: Metrics, clock: FakeClock, *, limit: int) -> QueueSet:
    observer = LevelObserver(metrics, LEVEL, call_later=clock.call_later)
    return QueueSet(
        LEVEL,
        clock,
        queuing=QueuingConfig(queues=1, hand_size=1, queue_length_limit=10),
        concurrency_limit=limit,
        observer=observer,
    )


def test_metrics_level_limits_are_published() -> None:
    metrics = Metrics()

    metrics.set_level_limits(
        "system", LevelLimitSeats(nominal=74, lower=50, upper=674, current=60)
    )

    assert (
        sample(metrics, "apiserver_flowcontrol_nominal_limit_seats", priority_level="system") == 74
    )
    assert (
        sample(metrics, "apiserver_flowcontrol_lower_limit_seats", priority_level="system") == 50
    )
    assert (
        sample(metrics, "apiserver_flowcontrol_upper_limit_seats", priority_level="system") == 674
    )
    assert (
        sample(metrics, "apiserver_flowcontrol_current_limit_seats", priority_level="system") == 60
    )
    assert (
        sample(metrics, "apiserver_flowcontrol_request_concurrency_limit", priority_level="system")
        == 60
    )


def test_metrics_demand_gauges_and_ratio_histogram() -> None:
    metrics = Metrics()
    demand = LevelDemand(
        high_watermark=12, average=5, stdev=1, smoothed=6, target=6, current=9, nominal=10
    )

    metrics.record_demand("system", demand)

    level = {"priority_level": "system"}
    assert sample(metrics, "apiserver_flowcontrol_demand_seats_average", **level) == 5
    assert sample(metrics, "apiserver_flowcontrol_target_seats", **level) == 6
    assert sample(metrics, "apiserver_flowcontrol_demand_seats_bucket", **level, le="0.6") == 1
    assert sample(metrics, "apiserver_flowcontrol_demand_seats_bucket", **level, le="0.4") == 0


def test_metrics_forget_level_removes_level_series() -> None:
    metrics = Metrics()
    metrics.set_level_limits("gone", LevelLimitSeats(nominal=1, lower=1, upper=2, current=1))

    metrics.forget_level("gone")

    assert (
        sample(metrics, "apiserver_flowcontrol_nominal_limit_seats", priority_level="gone") is None
    )


def test_metrics_generic_request_series() -> None:
    metrics = Metrics()

    metrics.record_request(
        verb="LIST",
        group="flowcontrol.apiserver.k8s.io",
        version="v1",
        resource="flowschemas",
        subresource="",
        scope="cluster",
        code=200,
    )
    metrics.inflight_changed(RequestKind.READ_ONLY, 3)

    assert (
        sample(
            metrics,
            "apiserver_request_total",
            verb="LIST",
            group="flowcontrol.apiserver.k8s.io",
            version="v1",
            resource="flowschemas",
            subresource="",
            scope="cluster",
            component="apiserver",
            code="200",
        )
        == 1
    )
    assert sample(metrics, "apiserver_current_inflight_requests", request_kind="readOnly") == 3


def test_metrics_request_kind_of_verbs() -> None:
    assert [request_kind(v) for v in ("get", "list", "watch", "create", "patch")] == [
        RequestKind.READ_ONLY,
        RequestKind.READ_ONLY,
        RequestKind.READ_ONLY,
        RequestKind.MUTATING,
        RequestKind.MUTATING,
    ]


def test_metrics_exposition_has_every_required_family() -> None:
    text = generate_latest(Metrics().registry).decode()

    for family in (
        "apiserver_flowcontrol_rejected_requests_total",
        "apiserver_flowcontrol_dispatched_requests_total",
        "apiserver_flowcontrol_current_inqueue_requests",
        "apiserver_flowcontrol_current_inqueue_seats",
        "apiserver_flowcontrol_current_executing_requests",
        "apiserver_flowcontrol_current_executing_seats",
        "apiserver_flowcontrol_request_queue_length_after_enqueue",
        "apiserver_flowcontrol_request_wait_duration_seconds",
        "apiserver_flowcontrol_request_execution_seconds",
        "apiserver_flowcontrol_watch_count_samples",
        "apiserver_flowcontrol_work_estimated_seats",
        "apiserver_flowcontrol_request_dispatch_no_accommodation_total",
        "apiserver_flowcontrol_nominal_limit_seats",
        "apiserver_flowcontrol_lower_limit_seats",
        "apiserver_flowcontrol_upper_limit_seats",
        "apiserver_flowcontrol_current_limit_seats",
        "apiserver_flowcontrol_demand_seats",
        "apiserver_flowcontrol_demand_seats_high_watermark",
        "apiserver_flowcontrol_demand_seats_average",
        "apiserver_flowcontrol_demand_seats_stdev",
        "apiserver_flowcontrol_demand_seats_smoothed",
        "apiserver_flowcontrol_target_seats",
        "apiserver_flowcontrol_current_r",
        "apiserver_flowcontrol_seat_fair_frac",
        "apiserver_flowcontrol_request_concurrency_limit",
        "apiserver_flowcontrol_request_concurrency_in_use",
        "apiserver_request_total",
        "apiserver_current_inflight_requests",
    ):
        assert f"# TYPE {family} " in text, family


async def test_level_observer_tracks_queue_and_execution() -> None:
    metrics, clock = Metrics(), FakeClock()
    qs = queue_set(metrics, clock, limit=1)
    deadline = clock.now() + 15
    first = qs.start_request(
        hash_value=0, width=WorkEstimate(), deadline=deadline, flow_schema=SCHEMA, distinguisher=""
    )
    second = qs.start_request(
        hash_value=0, width=WorkEstimate(), deadline=deadline, flow_schema=SCHEMA, distinguisher=""
    )
    assert (first.state, second.state) == (RequestState.EXECUTING, RequestState.WAITING)
    assert sample(metrics, "apiserver_flowcontrol_current_inqueue_requests", **BOTH) == 1
    # Every request of a queuing level passes through a queue, even one dispatched at once.
    assert (
        sample(metrics, "apiserver_flowcontrol_request_queue_length_after_enqueue_count", **BOTH)
        == 2
    )

    clock.advance(2.0)
    qs.finish_request(first)

    assert sample(metrics, "apiserver_flowcontrol_current_inqueue_requests", **BOTH) == 0
    assert sample(metrics, "apiserver_flowcontrol_dispatched_requests_total", **BOTH) == 2
    assert sample(metrics, "apiserver_flowcontrol_current_executing_requests", **BOTH) == 1
    assert sample(
        metrics, "apiserver_flowcontrol_request_wait_duration_seconds_sum", **BOTH, execute="true"
    ) == pytest.approx(2.0)
    assert sample(
        metrics, "apiserver_flowcontrol_request_execution_seconds_sum", **BOTH, type="regular"
    ) == pytest.approx(2.0)


async def test_level_observer_releases_seats_after_additional_latency() -> None:
    metrics, clock = Metrics(), FakeClock()
    qs = queue_set(metrics, clock, limit=10)
    width = WorkEstimate(initial_seats=1, final_seats=3, additional_latency_seconds=0.5)
    req = qs.start_request(
        hash_value=0, width=width, deadline=clock.now() + 15, flow_schema=SCHEMA, distinguisher=""
    )
    assert sample(metrics, "apiserver_flowcontrol_current_executing_seats", **BOTH) == 3

    qs.finish_request(req)
    assert sample(metrics, "apiserver_flowcontrol_current_executing_seats", **BOTH) == 3
    clock.advance(0.5)

    assert sample(metrics, "apiserver_flowcontrol_current_executing_seats", **BOTH) == 0


async def test_level_observer_in_queue_seats_survive_a_clamped_width() -> None:
    metrics, clock = Metrics(), FakeClock()
    qs = queue_set(metrics, clock, limit=1)
    deadline = clock.now() + 15
    wide = WorkEstimate(initial_seats=1, final_seats=10, additional_latency_seconds=0.01)
    first = qs.start_request(
        hash_value=0, width=WorkEstimate(), deadline=deadline, flow_schema=SCHEMA, distinguisher=""
    )
    qs.start_request(
        hash_value=0, width=wide, deadline=deadline, flow_schema=SCHEMA, distinguisher=""
    )
    assert sample(metrics, "apiserver_flowcontrol_current_inqueue_seats", **BOTH) == 10

    qs.finish_request(first)  # dispatches the wide one, its final seats capped at the limit

    assert sample(metrics, "apiserver_flowcontrol_current_inqueue_seats", **BOTH) == 0


async def test_level_observer_counts_rejections_by_reason() -> None:
    metrics, clock = Metrics(), FakeClock()
    qs = queue_set(metrics, clock, limit=1)
    deadline = clock.now() + 1
    qs.start_request(
        hash_value=0, width=WorkEstimate(), deadline=deadline, flow_schema=SCHEMA, distinguisher=""
    )
    waiting = qs.start_request(
        hash_value=0, width=WorkEstimate(), deadline=deadline, flow_schema=SCHEMA, distinguisher=""
    )

    clock.advance(1.5)

    assert waiting.state == RequestState.REJECTED
    assert (
        sample(metrics, "apiserver_flowcontrol_rejected_requests_total", **BOTH, reason="time-out")
        == 1
    )
    assert sample(metrics, "apiserver_flowcontrol_current_inqueue_requests", **BOTH) == 0
