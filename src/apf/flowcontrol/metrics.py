"""Prometheus metrics of the APF engine and the generic request metrics (spec §10).

Design: every metric lives on a private ``CollectorRegistry`` owned by one
:class:`Metrics` object, so several engines (tests, replicas in one process)
never share series. Per-request series are fed by one
:class:`LevelObserver` per queue set (the queue set's observer hooks); level
series (limits, demand, targets) are set by the controller after each config
digestion and each readjustment, so a new level's ``nominal_limit_seats``
appears as soon as it is digested.

Timing-ratio histograms are approximated: ``demand_seats`` gets one
observation per readjustment period (10 s) of the period's average seat
demand divided by the level's nominal limit, so each observation stands for
the same length of time. The other timing-ratio histograms (seat and request
utilization, read-vs-write) are not exported.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from prometheus_client import CollectorRegistry, disable_created_metrics

from apf.flowcontrol.digest import is_watch_descr
from apf.flowcontrol.metricfamily import Buckets, Family, FamilyCollector, Value
from apf.flowcontrol.queueset import NativeObserver, QueuedRequest

PREFIX: Final = "apiserver_flowcontrol_"
PL: Final = "priority_level"
FS: Final = "flow_schema"

# Kubernetes' bucket boundaries.
DURATION_BUCKETS: Final = (0, 0.005, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30)
QUEUE_LENGTH_BUCKETS: Final = (0, 10, 25, 50, 100, 250, 500, 1000)
WATCH_COUNT_BUCKETS: Final = (0, 1, 10, 100, 1000, 10000)
WORK_SEATS_BUCKETS: Final = (1, 2, 4, 10)  # the 1.29 boundaries
DEMAND_RATIO_BUCKETS: Final = (0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4, 1.7, 2.0, 2.8, 4.0, 6.0)

# NOTE: Kubernetes exports no ``*_created`` series; this switch is process-wide in
# prometheus_client, so every registry of this process loses them.
disable_created_metrics()  # type: ignore[no-untyped-call]

READ_ONLY_VERBS: Final = frozenset({"get", "list", "watch"})


class RequestKind(enum.StrEnum):
    READ_ONLY = "readOnly"
    MUTATING = "mutating"


def request_kind(verb: str) -> RequestKind:
    """readOnly for get, list and watch; mutating otherwise."""
    return RequestKind.READ_ONLY if verb in READ_ONLY_VERBS else RequestKind.MUTATING


@dataclass(frozen=True, slots=True)
class LevelLimitSeats:
    """The limits of one level, in seats, as the gauges show them."""

    nominal: int
    lower: int
    upper: int
    current: int


@dataclass(frozen=True, slots=True)
class LevelDemand:
    """One readjustment period's seat demand and outcome for one level."""

    high_watermark: float
    average: float
    stdev: float
    smoothed: float
    target: float
    current: int
    nominal: int


class Metrics:
    """All APF and generic request series on one private registry."""

    def __init__(self) -> None:
        # Labelled children resolved once (labels() is the costly part of an update).
        self._requests: dict[tuple[object, ...], Any] = {}
        # Requests being served by kind; the server counts here, scrapes read it.
        self.in_flight: dict[str, int] = {str(kind): 0 for kind in RequestKind}
        self.registry = CollectorRegistry(auto_describe=True)
        self._families = FamilyCollector(self.registry, refresh=self._refresh)
        self._define_request_series()
        self._define_level_series()
        self._define_generic_series()

    def _family(self, name: str, doc: str, labels: tuple[str, ...], **kind: Any) -> Family:
        return self._families.add(Family(name, doc, labels, **kind))

    def _counter(self, name: str, doc: str, labels: tuple[str, ...]) -> Family:
        return self._family(PREFIX + name, doc, labels, kind="counter")

    def _gauge(self, name: str, doc: str, labels: tuple[str, ...] = ()) -> Family:
        return self._family(PREFIX + name, doc, labels, kind="gauge")

    def _histogram(
        self, name: str, doc: str, labels: tuple[str, ...], buckets: tuple[float, ...]
    ) -> Family:
        return self._family(PREFIX + name, doc, labels, kind="histogram", buckets=buckets)

    def _define_request_series(self) -> None:
        both = (PL, FS)
        self.rejected = self._counter(
            "rejected_requests_total", "Number of requests rejected", (*both, "reason")
        )
        self.dispatched = self._counter(
            "dispatched_requests_total", "Number of requests executed", both
        )
        self.inqueue_requests = self._gauge(
            "current_inqueue_requests", "Requests waiting in queues", both
        )
        self.inqueue_seats = self._gauge("current_inqueue_seats", "Seats waiting in queues", both)
        self.executing_requests = self._gauge(
            "current_executing_requests", "Requests in their main execution phase", both
        )
        self.executing_seats = self._gauge(
            "current_executing_seats", "Seats held by executing requests", both
        )
        self.concurrency_in_use = self._gauge(
            "request_concurrency_in_use", "Seats held (deprecated 1.29 name)", both
        )
        self.queue_length = self._histogram(
            "request_queue_length_after_enqueue",
            "Queue length seen by each enqueued request",
            both,
            QUEUE_LENGTH_BUCKETS,
        )
        self.wait_duration = self._histogram(
            "request_wait_duration_seconds",
            "Time requests spent waiting in a queue",
            (*both, "execute"),
            DURATION_BUCKETS,
        )
        self.execution_seconds = self._histogram(
            "request_execution_seconds",
            "Main execution phase duration",
            (*both, "type"),
            DURATION_BUCKETS,
        )
        self.watch_count = self._histogram(
            "watch_count_samples", "Watches interested in a mutation", both, WATCH_COUNT_BUCKETS
        )
        self.work_seats = self._histogram(
            "work_estimated_seats", "Estimated seats of requests", both, WORK_SEATS_BUCKETS
        )
        self.no_accommodation = self._counter(
            "request_dispatch_no_accommodation_total",
            "Dispatch attempts stopped by a head request that did not fit",
            both,
        )
        self.epoch_advance = self._counter(
            "epoch_advance_total", "Virtual time epoch advances", (PL, "success")
        )

    def _define_level_series(self) -> None:
        level = (PL,)
        self.nominal_limit = self._gauge("nominal_limit_seats", "Nominal concurrency limit", level)
        self.lower_limit = self._gauge("lower_limit_seats", "Lowest current limit", level)
        self.upper_limit = self._gauge("upper_limit_seats", "Highest current limit", level)
        self.current_limit = self._gauge("current_limit_seats", "Current concurrency limit", level)
        self.concurrency_limit = self._gauge(
            "request_concurrency_limit", "Current limit (deprecated 1.29 name)", level
        )
        self.demand_high_watermark = self._gauge(
            "demand_seats_high_watermark", "Highest seat demand in the last period", level
        )
        self.demand_average = self._gauge(
            "demand_seats_average", "Time-averaged seat demand in the last period", level
        )
        self.demand_stdev = self._gauge(
            "demand_seats_stdev", "Standard deviation of seat demand in the last period", level
        )
        self.demand_smoothed = self._gauge("demand_seats_smoothed", "Smoothed seat demand", level)
        self.target = self._gauge("target_seats", "Seat allocation target", level)
        self.current_r = self._gauge(
            "current_r", "Virtual time of the level's queue set, seat-seconds", level
        )
        self.fair_frac = self._gauge("seat_fair_frac", "Fair fraction of seats in the allocation")
        self.demand_ratio = self._histogram(
            "demand_seats",
            "Seat demand relative to the nominal limit, one sample per period",
            level,
            DEMAND_RATIO_BUCKETS,
        )

    def _define_generic_series(self) -> None:
        self.requests_total = self._family(
            "apiserver_request_total",
            "Requests by verb, resource and response code",
            ("verb", "group", "version", "resource", "subresource", "scope", "component", "code"),
            kind="counter",
        )
        self.inflight = self._family(
            "apiserver_current_inflight_requests",
            "Requests currently being served",
            ("request_kind",),
            kind="gauge",
        )

    # --- level series ---

    def set_level_limits(self, priority_level: str, limits: LevelLimitSeats) -> None:
        """Publish a level's limits (after digestion or readjustment)."""
        self.nominal_limit.labels(priority_level).set(limits.nominal)
        self.lower_limit.labels(priority_level).set(limits.lower)
        self.upper_limit.labels(priority_level).set(limits.upper)
        self.set_current_limit(priority_level, limits.current)

    def set_current_limit(self, priority_level: str, current: int) -> None:
        """Publish a level's current limit."""
        self.current_limit.labels(priority_level).set(current)
        self.concurrency_limit.labels(priority_level).set(current)

    def record_demand(self, priority_level: str, demand: LevelDemand) -> None:
        """Publish one readjustment period of a level."""
        self.demand_high_watermark.labels(priority_level).set(demand.high_watermark)
        self.demand_average.labels(priority_level).set(demand.average)
        self.demand_stdev.labels(priority_level).set(demand.stdev)
        self.demand_smoothed.labels(priority_level).set(demand.smoothed)
        self.target.labels(priority_level).set(demand.target)
        self.set_current_limit(priority_level, demand.current)
        if demand.nominal > 0:
            self.demand_ratio.labels(priority_level).observe(demand.average / demand.nominal)

    def forget_level(self, priority_level: str) -> None:
        """Drop the level series of a level that no longer exists."""
        for gauge in (
            self.nominal_limit,
            self.lower_limit,
            self.upper_limit,
            self.current_limit,
            self.concurrency_limit,
            self.demand_high_watermark,
            self.demand_average,
            self.demand_stdev,
            self.demand_smoothed,
            self.target,
            self.current_r,
        ):
            try:
                gauge.remove(priority_level)
            except KeyError:
                continue

    # --- request series fed by the controller ---

    def record_request(
        self,
        *,
        verb: str,
        group: str,
        version: str,
        resource: str,
        subresource: str,
        scope: str,
        code: int,
        component: str = "apiserver",
    ) -> None:
        """Count one answered request in ``apiserver_request_total``."""
        key = (verb, group, version, resource, subresource, scope, component, code)
        child = self._requests.get(key)
        if child is None:
            labels = (verb, group, version, resource, subresource, scope, component, str(code))
            child = self._requests[key] = self.requests_total.labels(*labels)
        child.inc()

    def inflight_changed(self, kind: RequestKind | str, count: int) -> None:
        """Set the number of requests of ``kind`` being served."""
        self.in_flight[str(kind)] = count

    def _refresh(self) -> None:
        """Copy the numbers kept outside the families into them, before a scrape."""
        for kind, count in self.in_flight.items():
            self.inflight.labels(kind).set(count)


def sample_value(registry: CollectorRegistry, name: str, labels: dict[str, str]) -> float | None:
    """One sample's value (None when absent): for tests and the debug handlers."""
    value: float | None = registry.get_sample_value(name, labels)
    return value


class _FlowSeries:
    """The samples of one (level, flow schema), resolved once and then updated in place."""

    __slots__ = (
        "concurrency_in_use",
        "dispatched",
        "executing_requests",
        "executing_seats",
        "execution_regular",
        "execution_watch",
        "inqueue_requests",
        "inqueue_seats",
        "no_accommodation",
        "queue_length",
        "rejected",
        "wait_dispatched",
        "wait_rejected",
        "watch_count",
        "work_seats",
    )

    def __init__(self, metrics: Metrics, level: str, fs: str) -> None:
        self.inqueue_requests: Value = metrics.inqueue_requests.labels(level, fs)
        self.inqueue_seats: Value = metrics.inqueue_seats.labels(level, fs)
        self.queue_length: Buckets = metrics.queue_length.labels(level, fs)
        self.dispatched: Value = metrics.dispatched.labels(level, fs)
        self.wait_dispatched: Buckets = metrics.wait_duration.labels(level, fs, "true")
        # As Kubernetes does, a time-out is filed under execute="true".
        self.wait_rejected: dict[str, Buckets] = {
            reason: metrics.wait_duration.labels(
                level, fs, "true" if reason == "time-out" else "false"
            )
            for reason in ("queue-full", "concurrency-limit", "time-out")
        }
        self.rejected: dict[str, Value] = {
            reason: metrics.rejected.labels(level, fs, reason)
            for reason in ("queue-full", "concurrency-limit", "time-out")
        }
        self.executing_requests: Value = metrics.executing_requests.labels(level, fs)
        self.execution_regular: Buckets = metrics.execution_seconds.labels(level, fs, "regular")
        self.execution_watch: Buckets = metrics.execution_seconds.labels(level, fs, "watch")
        self.no_accommodation: Value = metrics.no_accommodation.labels(level, fs)
        self.executing_seats: Value = metrics.executing_seats.labels(level, fs)
        self.concurrency_in_use: Value = metrics.concurrency_in_use.labels(level, fs)
        self.work_seats: Buckets = metrics.work_seats.labels(level, fs)
        # Created on the first mutation: only mutations report their watch count.
        self.watch_count: Buckets | None = None


class LevelObserver(NativeObserver):
    """Feeds the per-request series of one priority level from queue-set events.

    ``call_later`` lets seats that linger for a request's additional latency
    leave the executing-seats gauge when they are released. The hooks run on
    every request, so they update the plain numbers of the families directly,
    and the series of the flow schema seen last is kept at hand: a level mostly
    serves one or two schemas, and the engine passes the same name object each
    time, so an identity check finds it.
    """

    def __init__(
        self,
        metrics: Metrics,
        priority_level: str,
        *,
        call_later: Callable[[float, Callable[[], None]], object],
        is_exempt: bool = False,
    ) -> None:
        self._metrics = metrics
        self._level = priority_level
        self._call_later = call_later
        self._is_exempt = is_exempt
        self._series: dict[str, _FlowSeries] = {}
        self._last: _FlowSeries | None = None
        self._last_name = ""  # the very name object the last series was asked for by

    def flow(self, flow_schema: str) -> _FlowSeries:
        """The series of one flow schema at this level, created on first use."""
        last = self._last
        if last is not None and flow_schema is self._last_name:
            return last
        series = self._series.get(flow_schema)
        if series is None:
            series = self._series[flow_schema] = _FlowSeries(
                self._metrics, self._level, flow_schema
            )
        self._last, self._last_name = series, flow_schema
        return series

    def on_estimated(self, flow_schema: str, seats: int, watch_count: int | None) -> None:
        """A classified request's width (and the watch count behind it)."""
        series = self.flow(flow_schema)
        series.work_seats.observe(seats)
        if watch_count is not None:
            if series.watch_count is None:
                series.watch_count = self._metrics.watch_count.labels(self._level, flow_schema)
            series.watch_count.observe(watch_count)

    def on_enqueued(self, req: QueuedRequest, queue_length: int) -> None:
        series = self.flow(req.flow_schema)
        if req.queued:
            series.inqueue_requests.value += 1
            series.inqueue_seats.value += req.queued_seats
        series.queue_length.observe(queue_length)

    def on_dispatched(self, req: QueuedRequest, wait_seconds: float) -> None:
        series = self.flow(req.flow_schema)
        seats = req.width.max_seats
        if req.queued:
            series.inqueue_requests.value -= 1
            series.inqueue_seats.value -= req.queued_seats
        series.dispatched.value += 1
        if not self._is_exempt:
            series.wait_dispatched.observe(wait_seconds)
        series.executing_requests.value += 1
        series.executing_seats.value += seats
        series.concurrency_in_use.value += seats

    def on_rejected(self, req: QueuedRequest, reason: str, wait_seconds: float) -> None:
        series = self.flow(req.flow_schema)
        if req.queued:
            series.inqueue_requests.value -= 1
            series.inqueue_seats.value -= req.queued_seats
        series.rejected[reason].value += 1
        series.wait_rejected[reason].observe(wait_seconds)

    def on_finished(self, req: QueuedRequest, execution_seconds: float) -> None:
        series = self.flow(req.flow_schema)
        series.executing_requests.value -= 1
        watch = is_watch_descr(req.descr)
        histogram = series.execution_watch if watch else series.execution_regular
        histogram.observe(execution_seconds)
        width = req.width
        if width.additional_latency_seconds > 0 and width.final_seats > 0:
            seats = width.max_seats
            self._call_later(
                width.additional_latency_seconds, functools.partial(_seats_released, series, seats)
            )
        else:
            _seats_released(series, width.max_seats)

    def on_no_accommodation(self, req: QueuedRequest) -> None:
        self.flow(req.flow_schema).no_accommodation.value += 1


def _seats_released(series: _FlowSeries, seats: int) -> None:
    series.executing_seats.value -= seats
    series.concurrency_in_use.value -= seats
