"""Small statistics helpers shared by the benchmark parts (pure functions, no I/O)."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` in [0, 1]) of ``values``; 0.0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return float(ordered[rank - 1])


def median_p99_us(samples_ns: Sequence[int]) -> dict[str, float]:
    """Median and p99 of nanosecond samples, in microseconds."""
    return {
        "median_us": percentile(samples_ns, 0.50) / 1000,
        "p99_us": percentile(samples_ns, 0.99) / 1000,
    }


def jain_index(shares: Sequence[float]) -> float:
    """Jain's fairness index: 1.0 when all shares are equal, 1/n when one flow gets all."""
    total = sum(shares)
    squares = sum(share * share for share in shares)
    if not shares or squares == 0:
        return 0.0
    return total * total / (len(shares) * squares)
