"""Histogram buckets count each sample where Prometheus' ``le`` puts it."""

from __future__ import annotations

import bisect
import random

import pytest

from apf.flowcontrol.metricfamily import Buckets
from apf.flowcontrol.metrics import DURATION_BUCKETS, QUEUE_LENGTH_BUCKETS, WORK_SEATS_BUCKETS


@pytest.mark.parametrize("bounds", [DURATION_BUCKETS, QUEUE_LENGTH_BUCKETS, WORK_SEATS_BUCKETS])
def test_samples_land_in_the_first_bucket_whose_bound_they_do_not_exceed(
    bounds: tuple[float, ...],
) -> None:
    rng = random.Random(11)
    samples = [*bounds, *(b + 1e-9 for b in bounds), -1.0, 1e9]
    samples += [rng.uniform(-1, 2 * max(bounds)) for _ in range(500)]
    histogram = Buckets(bounds)
    expected = [0] * (len(bounds) + 1)

    for value in samples:
        histogram.observe(value)
        expected[bisect.bisect_left(bounds, value)] += 1

    assert histogram.counts == expected
    assert histogram.total == pytest.approx(sum(samples))


@pytest.mark.parametrize("bounds", [(), (5.0,)])
def test_histograms_with_fewer_than_two_bounds_still_count(bounds: tuple[float, ...]) -> None:
    histogram = Buckets(bounds)

    for value in (1.0, 5.0, 7.0):
        histogram.observe(value)

    assert sum(histogram.counts) == 3
    assert histogram.counts[-1] == (3 if not bounds else 1)


@pytest.mark.parametrize("bounds", [(), (5.0,), (1.0, 2.0, 4.0)])
def test_nan_is_counted_in_the_inf_bucket(bounds: tuple[float, ...]) -> None:
    histogram = Buckets(bounds)

    histogram.observe(float("nan"))

    assert histogram.counts == [0] * len(bounds) + [1]
