"""The suite's report: flattening, goals, baseline comparison, table and chart."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import report


def test_flatten_joins_names_and_drops_non_numbers() -> None:
    tree: dict[str, object] = {
        "http": {"apf_on.version": {"requests_per_second": 10, "note": "x"}},
        "memory": {"admit_path_bytes": 2048.5, "ok": True},
    }

    flat = report.flatten(tree)

    assert flat == {
        "http.apf_on.version.requests_per_second": 10.0,
        "memory.admit_path_bytes": 2048.5,
    }


@pytest.mark.parametrize(
    ("name", "unit"),
    [
        pytest.param("http.hello.version.requests_per_second", "req/s", id="rps"),
        pytest.param("http.hello.version.p99_ms", "ms", id="ms"),
        pytest.param("dispatch.fs10_pl8.queued_p99_us", "µs", id="us"),
        pytest.param("memory.queue_set_bytes", "B", id="bytes"),
        pytest.param("fairness.jain_min", "", id="index"),
    ],
)
def test_unit_of_reads_the_name_suffix(name: str, unit: str) -> None:
    assert report.unit_of(name) == unit


def test_compare_reports_only_moves_beyond_ten_percent() -> None:
    baseline = {"a_us": 10.0, "b_us": 10.0, "c.requests_per_second": 100.0, "gone_us": 1.0}
    current = {"a_us": 10.9, "b_us": 12.0, "c.requests_per_second": 80.0, "new_us": 1.0}

    changes = report.compare(current, baseline)

    assert [(c.figure, c.is_better) for c in changes] == [
        ("b_us", False),
        ("c.requests_per_second", False),
    ]
    assert changes[0].fraction == pytest.approx(0.2)


def test_compare_calls_a_faster_dispatch_better() -> None:
    changes = report.compare({"x_median_us": 5.0}, {"x_median_us": 10.0})

    assert [(c.figure, c.is_better) for c in changes] == [("x_median_us", True)]


def test_check_goals_marks_missing_figures_unmet() -> None:
    figures = {"fairness.jain_min": 0.99, "memory.admit_path_bytes": 5000.0}

    rows = {goal.figure: (value, met) for goal, value, met in report.check_goals(figures)}

    assert rows["fairness.jain_min"] == (0.99, True)
    assert rows["memory.admit_path_bytes"] == (5000.0, False)
    assert rows["http.ratio.full_hello_version"] == (None, False)


def test_format_table_shows_baseline_and_change() -> None:
    table = report.format_table({"d_us": 12.0}, {"d_us": 10.0})

    assert table.splitlines()[1].split() == ["d_us", "12.00", "µs", "10.00", "+20.0%"]


def test_format_changes_says_when_nothing_moved() -> None:
    assert report.format_changes([]) == ("no figure moved by more than 10% against the baseline")


def test_write_chart_writes_a_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="matplotlib comes with the bench extra")
    figures = {
        "http.apf_on.version.requests_per_second": 1000.0,
        "dispatch.fs10_pl8.uncontended_median_us": 8.0,
        "scaling.queues8.median_us": 5.0,
        "fairness.jain_min": 0.99,
    }
    path = tmp_path / "chart.png"

    report.write_chart(figures, path)

    assert path.read_bytes().startswith(b"\x89PNG")


def test_natural_key_orders_numbers_by_value() -> None:
    names = ["queues512", "queues8", "flows100", "queues32"]

    assert sorted(names, key=report.natural_key) == [
        "flows100",
        "queues8",
        "queues32",
        "queues512",
    ]
