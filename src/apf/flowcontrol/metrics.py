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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, disable_created_metrics

from apf.flowcontrol.metricfamily import Family, FamilyCollector
from apf.flowcontrol.queueset import QueuedRequest

PREFIX = "apiserver_flowcontrol_"
PL = "priority_level"
FS = "flow_schema"

# Kubernetes' bucket boundaries.
DURATION_BUCKETS = (0, 0.005, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30)
QUEUE_LENGTH_BUCKETS = (0, 10, 25, 50, 100, 250, 500, 1000)
WATCH_COUNT_BUCKETS = (0, 1, 10, 100, 1000, 10000)
WORK_SEATS_BUCKETS = (1, 2, 4, 10)  # the 1.29 boundaries
DEMAND_RATIO_BUCKETS = (0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4, 1.7, 2.0, 2.8, 4.0, 6.0)

# NOTE: Kubernetes exports no ``*_created`` series; this switch is process-wide in
# prometheus_client, so every registry of this process loses them.
disable_created_metrics()  # type: ignore[no-untyped-call]

READ_ONLY_VERBS = frozenset({"get", "list", "watch"})


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
        self._work_seats: dict[tuple[str, str], Any] = {}
        self._requests: dict[tuple[object, ...], Any] = {}
        self._inflight: dict[object, Any] = {}
        self.registry = CollectorRegistry(auto_describe=True)
        self._families = FamilyCollector(self.registry)
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

    def record_estimate(
        self, priority_level: str, flow_schema: str, *, seats: int, watch_count: int | None
    ) -> None:
        """Observe a request's estimated width (and the watch count behind it)."""
        key = (priority_level, flow_schema)
        child = self._work_seats.get(key)
        if child is None:
            child = self._work_seats[key] = self.work_seats.labels(priority_level, flow_schema)
        child.observe(seats)
        if watch_count is not None:
            self.watch_count.labels(priority_level, flow_schema).observe(watch_count)

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
        child = self._inflight.get(kind)
        if child is None:
            child = self._inflight[kind] = self.inflight.labels(str(kind))
        child.set(count)


def sample_value(registry: CollectorRegistry, name: str, labels: dict[str, str]) -> float | None:
    """One sample's value (None when absent): for tests and the debug handlers."""
    value: float | None = registry.get_sample_value(name, labels)
    return value


class _FlowSeries:
    """The labelled children of one (level, flow schema): looked up once, then reused.

    ``labels()`` costs microseconds (validation, a lock, a dict); a request
    touches a dozen series, so the observer resolves each pair only once.
    """

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
    )

    def __init__(self, metrics: Metrics, level: str, fs: str) -> None:
        self.inqueue_requests = metrics.inqueue_requests.labels(level, fs)
        self.inqueue_seats = metrics.inqueue_seats.labels(level, fs)
        self.queue_length = metrics.queue_length.labels(level, fs)
        self.dispatched = metrics.dispatched.labels(level, fs)
        self.wait_dispatched = metrics.wait_duration.labels(level, fs, "true")
        # As Kubernetes does, a time-out is filed under execute="true".
        self.wait_rejected = {
            reason: metrics.wait_duration.labels(
                level, fs, "true" if reason == "time-out" else "false"
            )
            for reason in ("queue-full", "concurrency-limit", "time-out")
        }
        self.rejected = {
            reason: metrics.rejected.labels(level, fs, reason)
            for reason in ("queue-full", "concurrency-limit", "time-out")
        }
        self.executing_requests = metrics.executing_requests.labels(level, fs)
        self.execution_regular = metrics.execution_seconds.labels(level, fs, "regular")
        self.execution_watch = metrics.execution_seconds.labels(level, fs, "watch")
        self.no_accommodation = metrics.no_accommodation.labels(level, fs)
        self.executing_seats = metrics.executing_seats.labels(level, fs)
        self.concurrency_in_use = metrics.concurrency_in_use.labels(level, fs)


class LevelObserver:
    """Feeds the per-request series of one priority level from queue-set events.

    ``call_later`` lets seats that linger for a request's additional latency
    leave the executing-seats gauge when they are released.
    """

    def __init__(
        self,
        metrics: Metrics,
        priority_level: str,
        *,
        call_later: Callable[[float, Callable[[], None]], object],
        is_exempt: bool = False,
        is_watch: Callable[[object], bool] = lambda _descr: False,
    ) -> None:
        self._metrics = metrics
        self._level = priority_level
        self._call_later = call_later
        self._is_exempt = is_exempt
        self._is_watch = is_watch
        # id() of requests counted as waiting: a rejection at arrival never waited.
        self._waiting: set[int] = set()
        self._series: dict[str, _FlowSeries] = {}

    def _flow(self, flow_schema: str) -> _FlowSeries:
        series = self._series.get(flow_schema)
        if series is None:
            series = self._series[flow_schema] = _FlowSeries(
                self._metrics, self._level, flow_schema
            )
        return series

    def on_enqueued(self, req: QueuedRequest, queue_length: int) -> None:
        series = self._flow(req.flow_schema)
        self._waiting.add(id(req))
        series.inqueue_requests.inc()
        series.inqueue_seats.inc(req.width.max_seats)
        series.queue_length.observe(queue_length)

    def _leave_queue(self, req: QueuedRequest, series: _FlowSeries) -> bool:
        if id(req) not in self._waiting:
            return False
        self._waiting.discard(id(req))
        series.inqueue_requests.dec()
        series.inqueue_seats.dec(req.width.max_seats)
        return True

    def on_dispatched(self, req: QueuedRequest, wait_seconds: float) -> None:
        series = self._flow(req.flow_schema)
        self._leave_queue(req, series)
        series.dispatched.inc()
        if not self._is_exempt:
            series.wait_dispatched.observe(wait_seconds)
        series.executing_requests.inc()
        self._seats_changed(series, req.width.max_seats)

    def on_rejected(self, req: QueuedRequest, reason: str, wait_seconds: float) -> None:
        series = self._flow(req.flow_schema)
        self._leave_queue(req, series)
        series.rejected[reason].inc()
        series.wait_rejected[reason].observe(wait_seconds)

    def on_finished(self, req: QueuedRequest, execution_seconds: float) -> None:
        series = self._flow(req.flow_schema)
        series.executing_requests.dec()
        if self._is_watch(req.descr):
            series.execution_watch.observe(execution_seconds)
        else:
            series.execution_regular.observe(execution_seconds)
        seats = req.width.max_seats
        latency = req.width.additional_latency_seconds
        if latency > 0 and req.width.final_seats > 0:
            self._call_later(latency, lambda: self._seats_changed(series, -seats))
        else:
            self._seats_changed(series, -seats)

    def on_no_accommodation(self, req: QueuedRequest) -> None:
        self._flow(req.flow_schema).no_accommodation.inc()

    def _seats_changed(self, series: _FlowSeries, delta: int) -> None:
        series.executing_seats.inc(delta)
        series.concurrency_in_use.inc(delta)
