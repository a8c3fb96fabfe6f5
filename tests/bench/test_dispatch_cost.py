"""Part 2 of the bench on a small real engine: every figure is there and sane."""

from __future__ import annotations

from bench.dispatch_cost import dispatch_cost
from bench.engine import EngineShape


async def test_dispatch_cost_reports_warm_cold_and_queued_figures() -> None:
    figures = await dispatch_cost(
        EngineShape(flow_schemas=4, priority_levels=2), samples=200, warmup=20
    )

    kinds = ("uncontended", "uncontended_cold", "queued")
    assert set(figures) == {f"{kind}_{stat}" for kind in kinds for stat in ("median_us", "p99_us")}
    for kind in kinds:
        assert 0 < figures[f"{kind}_median_us"] <= figures[f"{kind}_p99_us"]
