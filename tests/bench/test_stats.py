"""Statistics helpers of the benchmark suite."""

from __future__ import annotations

import pytest
from bench.stats import jain_index, median_p99_us, percentile


@pytest.mark.parametrize(
    ("fraction", "expected"),
    [
        pytest.param(0.5, 50.0, id="median"),
        pytest.param(0.99, 99.0, id="p99"),
        pytest.param(1.0, 100.0, id="max"),
        pytest.param(0.0, 1.0, id="min"),
    ],
)
def test_percentile_uses_nearest_rank(fraction: float, expected: float) -> None:
    values = [float(v) for v in range(100, 0, -1)]

    assert percentile(values, fraction) == expected


def test_percentile_is_zero_when_empty() -> None:
    assert percentile([], 0.5) == 0.0


def test_median_p99_us_converts_nanoseconds() -> None:
    samples = [1_000] * 98 + [5_000, 9_000]

    assert median_p99_us(samples) == {"median_us": 1.0, "p99_us": 5.0}


def test_jain_index_is_one_when_shares_are_equal() -> None:
    assert jain_index([3.0, 3.0, 3.0, 3.0]) == pytest.approx(1.0)


def test_jain_index_is_one_over_n_when_one_flow_gets_all() -> None:
    assert jain_index([10.0, 0.0, 0.0, 0.0, 0.0]) == pytest.approx(0.2)


def test_jain_index_is_zero_when_nothing_served() -> None:
    assert jain_index([0.0, 0.0]) == 0.0
