"""Metric families cheap enough to update on every request.

``prometheus_client`` takes a lock and validates labels on every update,
which costs several microseconds per request across a dozen series. These
families keep plain numbers in dicts (the engine runs on one event loop
thread, so no lock is needed) and turn them into Prometheus families only
when ``/metrics`` is scraped, through one collector on the registry. They
offer the subset of the ``prometheus_client`` API the engine uses:
``labels(...)`` returning a child with ``inc``/``dec``/``set``/``observe``,
``remove(...)``, and ``set`` on a family without labels.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)


class Value:
    """One counter or gauge sample."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount

    def dec(self, amount: float = 1.0) -> None:
        self.value -= amount

    def set(self, value: float) -> None:
        self.value = float(value)


class Buckets:
    """One histogram: per-bucket counts (not cumulative), sum and count.

    Most samples land in the first two buckets (no wait, a short queue, one
    seat, a quick handler): their bounds and counts are kept apart, as plain
    numbers, so observing one costs neither the binary search nor a new int
    object for the list. A missing bound is +Inf, which sends the sample to the
    +Inf bucket all the same.
    """

    __slots__ = ("bounds", "first", "first_count", "rest", "second", "second_count", "total")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self.first = self.bounds[0] if self.bounds else math.inf
        self.second = self.bounds[1] if len(self.bounds) > 1 else math.inf
        self.first_count = 0
        self.second_count = 0
        # The buckets after the second one, the last being +Inf.
        self.rest = [0] * max(0, len(self.bounds) - 1)
        self.total = 0.0

    @property
    def counts(self) -> list[int]:
        """Every bucket's count, +Inf last."""
        return [self.first_count, self.second_count, *self.rest][: len(self.bounds) + 1]

    def observe(self, value: float) -> None:
        if value <= self.first:
            self.first_count += 1
        elif value <= self.second:
            self.second_count += 1
        elif value > self.second:
            self.rest[bisect.bisect_left(self.bounds, value) - 2] += 1
        else:
            self._observe_nan()
        self.total += value

    def _observe_nan(self) -> None:
        # No bound holds NaN: it goes to +Inf, as Prometheus' own clients file it.
        if len(self.bounds) > 1:
            self.rest[-1] += 1
        elif self.bounds:
            self.second_count += 1
        else:
            self.first_count += 1


class Family:
    """A named family of labelled children of one kind: counter, gauge or histogram."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str] = (),
        *,
        kind: str,
        buckets: Sequence[float] = (),
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self.kind = kind
        self.bounds = tuple(float(b) for b in buckets)
        self.children: dict[tuple[str, ...], Any] = {}

    def labels(self, *values: object) -> Any:
        key = tuple(str(v) for v in values)
        child = self.children.get(key)
        if child is None:
            if len(key) != len(self.labelnames):
                raise ValueError(f"{self.name} takes labels {self.labelnames}, got {key}")
            child = Buckets(self.bounds) if self.kind == "histogram" else Value()
            self.children[key] = child
        return child

    def remove(self, *values: object) -> None:
        del self.children[tuple(str(v) for v in values)]

    def set(self, value: float) -> None:
        """Set the sample of a family without labels."""
        self.labels().set(value)

    def inc(self, amount: float = 1.0) -> None:
        self.labels().inc(amount)

    def collect(self) -> Any:
        if self.kind == "counter":
            family: Any = CounterMetricFamily(
                self.name, self.documentation, labels=self.labelnames
            )
        elif self.kind == "gauge":
            family = GaugeMetricFamily(self.name, self.documentation, labels=self.labelnames)
        else:
            family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for key, child in list(self.children.items()):
            if self.kind == "histogram":
                family.add_metric(list(key), _cumulative(child), child.total)
            else:
                family.add_metric(list(key), child.value)
        return family


def _cumulative(child: Buckets) -> list[tuple[str, float]]:
    running = 0
    rows = []
    for bound, count in zip([*child.bounds, math.inf], child.counts, strict=True):
        running += count
        rows.append(("+Inf" if bound == math.inf else _bound(bound), float(running)))
    return rows


def _bound(bound: float) -> str:
    return repr(float(bound))


class FamilyCollector:
    """Registers a set of families on a registry; they render at scrape time.

    ``refresh`` runs first on every scrape, for values kept elsewhere.
    """

    def __init__(
        self, registry: CollectorRegistry, *, refresh: Callable[[], None] | None = None
    ) -> None:
        self.families: list[Family] = []
        self._refresh = refresh
        registry.register(self)

    def add(self, family: Family) -> Family:
        self.families.append(family)
        return family

    def collect(self) -> Iterator[Any]:
        if self._refresh is not None:
            self._refresh()
        for family in self.families:
            yield family.collect()

    def describe(self) -> list[Any]:
        return []
