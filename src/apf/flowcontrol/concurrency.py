"""How many seats each priority level gets: pure arithmetic, no clock and no I/O.

Two steps, as in kube-apiserver. ``static_limits`` turns shares into the
nominal, lendable and borrowing limits of every level whenever the
configuration changes. ``readjust`` runs every 10 s: each level's recent seat
demand sets a target, and ``allocate`` finds the one fair proportion that
hands the seats out between each level's lower and upper bound (max-min fair
in proportion to the targets).

We take the 1.31 fix for exempt levels (kubernetes issue 124125): an exempt
level's current limit is its demand, and the others share what remains.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

# Smoothing of seat demand between readjustments (half-life about 5 minutes).
SMOOTHING_KEEP: Final = 0.977
MIN_TARGET: Final = 0.001
EPSILON: Final = 1e-7
MAX_SEATS_FRACTION: Final = 0.15


def go_round(x: float) -> int:
    """Round half away from zero, as Go's math.Round does for the values used here."""
    return math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5)


@dataclass(frozen=True, slots=True)
class LevelConfig:
    name: str
    is_exempt: bool
    nominal_shares: int
    lendable_percent: int
    borrowing_limit_percent: int | None  # None: may borrow up to the server limit
    hand_size: int | None  # None: not a Queue-type level


@dataclass(frozen=True, slots=True)
class LevelLimits:
    """Static limits of one level, all in seats."""

    nominal: int
    lendable: int
    borrowing: int
    minimum: int  # nominal - lendable
    maximum: int  # nominal + borrowing
    max_seats: int  # widest request the level admits; 0 = the global cap


def static_limits(server_limit: int, levels: Sequence[LevelConfig]) -> dict[str, LevelLimits]:
    """Nominal, lendable and borrowing seats of every level (spec §6)."""
    total_shares = sum(level.nominal_shares for level in levels)
    limits = {}
    for level in levels:
        nominal = 0
        if total_shares > 0:
            nominal = math.ceil(server_limit * level.nominal_shares / total_shares)
        lendable = go_round(nominal * level.lendable_percent / 100)
        if level.is_exempt or level.borrowing_limit_percent is None:
            borrowing = server_limit
        else:
            borrowing = go_round(nominal * level.borrowing_limit_percent / 100)
        limits[level.name] = LevelLimits(
            nominal=nominal,
            lendable=lendable,
            borrowing=borrowing,
            minimum=nominal - lendable,
            maximum=nominal + borrowing,
            max_seats=_max_seats(nominal, level.hand_size),
        )
    return limits


def _max_seats(nominal: int, hand_size: int | None) -> int:
    if hand_size is None:
        return 0
    return max(1, min(math.ceil(MAX_SEATS_FRACTION * nominal), nominal // hand_size))


@dataclass(frozen=True, slots=True)
class AllocationItem:
    lower: float
    upper: float
    target: float


class AllocationError(ValueError):
    """The allocation problem has no solution (bounds inconsistent with the total)."""


def allocate(items: Sequence[AllocationItem], total: float) -> tuple[list[float], float]:
    """Shares clamp(p * target, lower, upper) summing to ``total``, and the proportion p.

    Raises AllocationError when the bounds make that impossible.
    """
    _check(items, total)
    lower_sum = sum(i.lower for i in items)
    upper_sum = sum(i.upper for i in items)
    if total == 0:
        return [0.0] * len(items), 0.0
    if lower_sum >= total * (1 - EPSILON):
        return [i.lower for i in items], 0.0
    targets = [max(i.target, MIN_TARGET) for i in items]
    if upper_sum <= total * (1 + EPSILON):
        return [i.upper for i in items], max(
            i.upper / t for i, t in zip(items, targets, strict=True)
        )
    proportion = _solve(items, targets, total)
    shares = [_clamp(proportion * t, i) for i, t in zip(items, targets, strict=True)]
    return shares, proportion


def _check(items: Sequence[AllocationItem], total: float) -> None:
    for index, item in enumerate(items):
        if item.lower < 0:
            raise AllocationError(f"item {index} has negative lower bound {item.lower}")
        if item.target < item.lower:
            raise AllocationError(f"item {index} has target {item.target} below its lower bound")
        if item.upper < item.lower:
            raise AllocationError(f"item {index} has upper bound below its lower bound")
    lower_sum = sum(i.lower for i in items)
    upper_sum = sum(i.upper for i in items)
    if lower_sum > total * (1 + EPSILON):
        raise AllocationError(f"lower bounds sum to {lower_sum}, more than {total}")
    if upper_sum < total * (1 - EPSILON):
        raise AllocationError(f"upper bounds sum to {upper_sum}, less than {total}")


def _clamp(value: float, item: AllocationItem) -> float:
    return min(max(value, item.lower), item.upper)


def _solve(items: Sequence[AllocationItem], targets: Sequence[float], total: float) -> float:
    """The proportion p where the clamped sum reaches ``total``: a piecewise-linear sweep.

    The clamped sum is piecewise linear and non-decreasing in p, with breakpoints at
    lower/target and upper/target; find the segment holding ``total`` and solve it.
    """
    breakpoints = sorted(
        {i.lower / t for i, t in zip(items, targets, strict=True)}
        | {i.upper / t for i, t in zip(items, targets, strict=True)}
    )

    def clamped_sum(p: float) -> float:
        return sum(_clamp(p * t, i) for i, t in zip(items, targets, strict=True))

    previous_p, previous_sum = 0.0, clamped_sum(0.0)
    for p in breakpoints:
        current = clamped_sum(p)
        if current >= total:
            if current == previous_sum:
                return p
            return previous_p + (total - previous_sum) * (p - previous_p) / (
                current - previous_sum
            )
        previous_p, previous_sum = p, current
    return breakpoints[-1] if breakpoints else 0.0


class DemandSmoother:
    """Seat demand smoothed across readjustments: fast up, slow (about 5 min) down."""

    def __init__(self) -> None:
        self.smoothed = 0.0

    def update(self, average: float, stdev: float) -> float:
        envelope = average + stdev
        self.smoothed = max(
            envelope, SMOOTHING_KEEP * self.smoothed + (1 - SMOOTHING_KEEP) * envelope
        )
        return self.smoothed


@dataclass(frozen=True, slots=True)
class LevelReadjustInput:
    is_exempt: bool
    limits: LevelLimits
    high_watermark: int  # most seats in use + waiting during the period
    smoothed: float  # smoothed demand, seats


def readjust(
    levels: Mapping[str, LevelReadjustInput], nominal_sum: int
) -> tuple[dict[str, int], float]:
    """New current limits from demand, and the fair proportion (seat_fair_frac).

    Returns an empty mapping when the allocation cannot be solved, so the
    caller keeps the previous limits.
    """
    current: dict[str, int] = {}
    remaining = nominal_sum
    for name, level in levels.items():
        if level.is_exempt:
            current[name] = max(level.limits.minimum, level.high_watermark)
            remaining -= current[name]
    others = {name: level for name, level in levels.items() if not level.is_exempt}
    floors = {
        name: max(lv.limits.minimum, min(lv.limits.nominal, lv.high_watermark))
        for name, lv in others.items()
    }
    minimum_sum = sum(lv.limits.minimum for lv in others.values())
    floor_sum = sum(floors.values())
    if remaining <= minimum_sum:
        current.update({name: lv.limits.minimum for name, lv in others.items()})
        return current, 0.0
    if remaining <= floor_sum:
        fraction = (remaining - minimum_sum) / (floor_sum - minimum_sum)
        for name, lv in others.items():
            spare = floors[name] - lv.limits.minimum
            current[name] = lv.limits.minimum + go_round(spare * fraction)
        return current, 0.0
    names = list(others)
    items = [
        AllocationItem(
            lower=floors[n],
            upper=others[n].limits.maximum,
            target=max(floors[n], others[n].smoothed),
        )
        for n in names
    ]
    try:
        shares, proportion = allocate(items, nominal_sum)
    except AllocationError:
        return {}, 0.0
    current.update({n: go_round(s) for n, s in zip(names, shares, strict=True)})
    return current, proportion
