"""Seat allocation: static limits, the fair-proportion solver, readjustment."""

import math
import random

import pytest

from apf.flowcontrol.concurrency import (
    AllocationError,
    AllocationItem,
    DemandSmoother,
    LevelConfig,
    LevelLimits,
    LevelReadjustInput,
    allocate,
    go_round,
    readjust,
    static_limits,
)

# The 1.29 bootstrap levels: (name, exempt, shares, lendable %, hand size).
BOOTSTRAP = [
    LevelConfig("exempt", True, 0, 0, None, None),
    LevelConfig("catch-all", False, 5, 0, None, 6),
    LevelConfig("system", False, 30, 33, None, 6),
    LevelConfig("node-high", False, 40, 25, None, 6),
    LevelConfig("leader-election", False, 10, 0, None, 4),
    LevelConfig("workload-high", False, 40, 50, None, 6),
    LevelConfig("workload-low", False, 100, 90, None, 6),
    LevelConfig("global-default", False, 20, 50, None, 6),
]


def test_static_limits_match_spec_defaults_for_server_limit_600() -> None:
    limits = static_limits(600, BOOTSTRAP)

    table = {
        name: (lim.nominal, lim.lendable, lim.minimum, lim.maximum, lim.max_seats)
        for name, lim in limits.items()
    }
    assert table == {
        "exempt": (0, 0, 0, 600, 0),
        "catch-all": (13, 0, 13, 613, 2),
        "system": (74, 24, 50, 674, 12),
        "node-high": (98, 25, 73, 698, 15),
        "leader-election": (25, 0, 25, 625, 4),
        "workload-high": (98, 49, 49, 698, 15),
        "workload-low": (245, 221, 24, 845, 37),
        "global-default": (49, 25, 24, 649, 8),
    }
    assert sum(lim.nominal for lim in limits.values()) == 602


def test_static_limits_cap_borrowing_when_percent_given() -> None:
    levels = [LevelConfig("a", False, 1, 0, 50, 1), LevelConfig("b", False, 1, 0, None, 1)]

    limits = static_limits(100, levels)

    assert limits["a"].borrowing == 25
    assert limits["a"].maximum == 75
    assert limits["b"].borrowing == 100


@pytest.mark.parametrize(
    ("value", "expected"),
    [(24.5, 25), (220.5, 221), (0.4, 0), (-1.5, -2), (2.0, 2)],
)
def test_go_round_rounds_half_away_from_zero(value: float, expected: int) -> None:
    assert go_round(value) == expected


def random_problem(rng: random.Random) -> tuple[list[AllocationItem], float]:
    items = []
    for _ in range(rng.randint(1, 10)):
        lower = rng.choice([0.0, rng.uniform(0, 50)])
        target = lower + rng.choice([0.0, rng.uniform(0, 100)])
        upper = lower + rng.choice([0.0, rng.uniform(0, 200)])
        items.append(AllocationItem(lower=lower, upper=upper, target=target))
    lower_sum = sum(i.lower for i in items)
    upper_sum = sum(i.upper for i in items)
    return items, rng.uniform(lower_sum, upper_sum)


def test_allocate_solves_10000_seeded_random_problems() -> None:
    rng = random.Random(95979)
    for _ in range(10_000):
        items, total = random_problem(rng)

        shares, proportion = allocate(items, total)

        assert math.isclose(sum(shares), total, rel_tol=1e-6, abs_tol=1e-6)
        for item, share in zip(items, shares, strict=True):
            assert item.lower - 1e-6 <= share <= item.upper + 1e-6
            target = max(item.target, 0.001)
            if item.lower + 1e-6 < share < item.upper - 1e-6:
                assert math.isclose(share, proportion * target, rel_tol=1e-6, abs_tol=1e-6)


def test_allocate_gives_max_min_fair_shares_to_uneven_targets() -> None:
    items = [AllocationItem(0, 100, 10), AllocationItem(0, 100, 30), AllocationItem(0, 100, 100)]

    shares, proportion = allocate(items, 70)

    assert shares == pytest.approx([5.0, 15.0, 50.0])
    assert proportion == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("items", "total", "fragment"),
    [
        pytest.param([AllocationItem(-1, 5, 1)], 1, "negative lower", id="negative-lower"),
        pytest.param([AllocationItem(2, 5, 1)], 3, "below its lower", id="target-below-lower"),
        pytest.param([AllocationItem(2, 1, 3)], 2, "upper bound below", id="upper-below-lower"),
        pytest.param([AllocationItem(5, 9, 5)], 4, "lower bounds sum", id="lower-sum-too-big"),
        pytest.param([AllocationItem(0, 3, 1)], 4, "upper bounds sum", id="upper-sum-too-small"),
    ],
)
def test_allocate_raises_when_problem_is_impossible(
    items: list[AllocationItem], total: float, fragment: str
) -> None:
    with pytest.raises(AllocationError, match=fragment):
        allocate(items, total)


def test_allocate_returns_bounds_when_total_equals_a_bound_sum() -> None:
    items = [AllocationItem(1, 4, 2), AllocationItem(2, 6, 3)]

    at_lower, _ = allocate(items, 3)
    at_upper, _ = allocate(items, 10)
    at_zero, proportion = allocate([AllocationItem(0, 4, 2)], 0)

    assert at_lower == [1, 2]
    assert at_upper == [4, 6]
    assert at_zero == [0.0]
    assert proportion == 0.0


def test_demand_smoother_rises_at_once_and_decays_slowly() -> None:
    smoother = DemandSmoother()

    risen = smoother.update(10.0, 2.0)
    decayed = smoother.update(0.0, 0.0)

    assert risen == 12.0
    assert decayed == pytest.approx(0.977 * 12.0)


def level(
    nominal: int,
    lendable: int,
    *,
    high_watermark: int,
    smoothed: float,
    is_exempt: bool = False,
    borrowing: int = 600,
) -> LevelReadjustInput:
    limits = LevelLimits(
        nominal=nominal,
        lendable=lendable,
        borrowing=borrowing,
        minimum=nominal - lendable,
        maximum=nominal + borrowing,
        max_seats=1,
    )
    return LevelReadjustInput(is_exempt, limits, high_watermark, smoothed)


def test_readjust_lends_idle_seats_to_the_busy_level() -> None:
    levels = {
        "busy": level(50, 25, high_watermark=100, smoothed=100.0),
        "idle": level(50, 25, high_watermark=0, smoothed=0.0),
    }

    current, proportion = readjust(levels, 100)

    assert current == {"busy": 75, "idle": 25}
    assert proportion > 0


def test_readjust_gives_exempt_its_demand_and_others_the_rest() -> None:
    levels = {
        "exempt": level(0, 0, high_watermark=20, smoothed=20.0, is_exempt=True),
        "a": level(50, 40, high_watermark=30, smoothed=50.0),
        "b": level(50, 40, high_watermark=30, smoothed=50.0),
    }

    current, _ = readjust(levels, 100)

    # The solver's total is the nominal sum, not what exempt left (as implemented).
    assert current["exempt"] == 20
    assert current["a"] + current["b"] == 100
    assert current["a"] == current["b"]


def test_readjust_falls_back_to_minimum_when_exempt_takes_everything() -> None:
    levels = {
        "exempt": level(0, 0, high_watermark=95, smoothed=95.0, is_exempt=True),
        "a": level(50, 40, high_watermark=50, smoothed=50.0),
        "b": level(50, 30, high_watermark=50, smoothed=50.0),
    }

    current, proportion = readjust(levels, 100)

    assert current == {"exempt": 95, "a": 10, "b": 20}
    assert proportion == 0.0


def test_readjust_shares_spare_seats_by_fraction_when_between_floors() -> None:
    levels = {
        "exempt": level(0, 0, high_watermark=50, smoothed=50.0, is_exempt=True),
        "a": level(50, 40, high_watermark=50, smoothed=50.0),
        "b": level(50, 40, high_watermark=50, smoothed=50.0),
    }

    current, proportion = readjust(levels, 100)

    # remaining 50, minimum sum 20, floor sum 100: f = 30/80 of each 40 spare seats.
    assert current == {"exempt": 50, "a": 10 + go_round(40 * 30 / 80), "b": 25}
    assert proportion == 0.0


def test_readjust_returns_nothing_when_allocation_is_impossible() -> None:
    levels = {
        "a": level(50, 0, high_watermark=50, smoothed=50.0, borrowing=0),
        "b": level(50, 0, high_watermark=50, smoothed=50.0, borrowing=0),
    }

    current, proportion = readjust(levels, 120)

    assert current == {}
    assert proportion == 0.0
