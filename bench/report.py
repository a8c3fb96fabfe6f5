"""Turn the suite's figures into a table, a goal check, a baseline comparison and a chart.

Figures are one flat mapping from a dotted name (``dispatch.fs10_pl8.uncontended_median_us``)
to a number; the name's last part carries the unit. Everything here is pure except
``write_chart``, which draws with matplotlib's Agg backend.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.axes import Axes

Figures = Mapping[str, float]

# Moves beyond this fraction against the baseline are reported.
CHANGE_THRESHOLD = 0.10

_UNITS = (
    ("requests_per_second", "req/s"),
    ("_ms", "ms"),
    ("_us", "µs"),
    ("_bytes", "B"),
    ("_percent", "%"),
    ("_s_apf", "s"),
    ("_s_fifo", "s"),
)
# Figures where a smaller value is better; anything else counts as better when larger.
_LOWER_IS_BETTER = ("_ms", "_us", "_bytes", "_s_apf", "_s_fifo", "non_2xx", "socket_errors")


@dataclass(frozen=True, slots=True)
class Goal:
    """A performance goal on one figure: ``value <op> limit``."""

    figure: str
    op: str
    limit: float

    def is_met(self, value: float) -> bool:
        """Whether ``value`` satisfies the goal."""
        compare: Callable[[float, float], bool] = operator.ge if self.op == ">=" else operator.le
        return compare(value, self.limit)


GOALS = (
    Goal("http.ratio.apf_on_off_version", ">=", 0.90),
    Goal("http.ratio.apf_on_off_list", ">=", 0.90),
    Goal("http.ratio.full_hello_version", ">=", 0.40),
    Goal("dispatch.fs10_pl8.uncontended_median_us", "<=", 10.0),
    Goal("dispatch.fs10_pl64.uncontended_median_us", "<=", 10.0),
    Goal("dispatch.fs1000_pl8.uncontended_median_us", "<=", 12.0),
    Goal("dispatch.fs1000_pl64.uncontended_median_us", "<=", 12.0),
    Goal("dispatch.fs10_pl8.queued_median_us", "<=", 23.0),
    Goal("dispatch.fs10_pl64.queued_median_us", "<=", 23.0),
    Goal("dispatch.fs1000_pl8.queued_median_us", "<=", 23.0),
    Goal("dispatch.fs1000_pl64.queued_median_us", "<=", 23.0),
    Goal("e2e.by_priority.low_ok_percent", ">=", 99.0),
    Goal("e2e.by_fairness.low_ok_percent", ">=", 99.0),
    Goal("fairness.jain_min", ">=", 0.98),
    Goal("memory.admit_path_bytes", "<=", 4096.0),
    Goal("memory.queue_set_bytes", "<=", 4096.0),
)


def unit_of(name: str) -> str:
    """The unit a figure's name announces ("" for ratios, counts and indices)."""
    return next((unit for suffix, unit in _UNITS if name.endswith(suffix)), "")


def is_lower_better(name: str) -> bool:
    """Whether a decrease of this figure is an improvement."""
    return name.endswith(_LOWER_IS_BETTER)


def flatten(tree: Mapping[str, object], prefix: str = "") -> dict[str, float]:
    """Flatten nested result dicts into dotted names; non-numbers are dropped."""
    flat: dict[str, float] = {}
    for key, value in tree.items():
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, Mapping):
            flat.update(flatten(value, name))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            flat[name] = float(value)
    return flat


@dataclass(frozen=True, slots=True)
class Change:
    """A figure that moved past the threshold against the baseline."""

    figure: str
    baseline: float
    current: float

    @property
    def fraction(self) -> float:
        """Relative change, e.g. 0.25 for +25 %."""
        return (self.current - self.baseline) / abs(self.baseline)

    @property
    def is_better(self) -> bool:
        """Whether the move is an improvement."""
        return (self.fraction < 0) == is_lower_better(self.figure)


def compare(current: Figures, baseline: Figures) -> list[Change]:
    """Figures present in both that moved by more than ``CHANGE_THRESHOLD``."""
    changes = []
    for name in sorted(current.keys() & baseline.keys()):
        before, now = baseline[name], current[name]
        if before == 0:
            continue
        change = Change(name, before, now)
        if abs(change.fraction) > CHANGE_THRESHOLD:
            changes.append(change)
    return changes


def check_goals(figures: Figures) -> list[tuple[Goal, float | None, bool]]:
    """Each goal with the measured value (None when not measured) and whether it is met."""
    rows = []
    for goal in GOALS:
        value = figures.get(goal.figure)
        rows.append((goal, value, value is not None and goal.is_met(value)))
    return rows


def _number(value: float) -> str:
    if value == 0 or abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.4f}"


def format_table(figures: Figures, baseline: Figures | None) -> str:
    """A fixed-width table of every figure, with the baseline and the change when known."""
    width = max((len(name) for name in figures), default=10)
    lines = [f"{'figure':<{width}}  {'value':>12}  {'unit':<5}  {'baseline':>12}  change"]
    for name in sorted(figures):
        value = figures[name]
        line = f"{name:<{width}}  {_number(value):>12}  {unit_of(name):<5}"
        if baseline is not None and name in baseline:
            before = baseline[name]
            change = f"{(value - before) / abs(before):+.1%}" if before else ""
            line += f"  {_number(before):>12}  {change}"
        lines.append(line.rstrip())
    return "\n".join(lines)


def format_goals(figures: Figures) -> str:
    """One line per goal: met, missed or not measured."""
    lines = []
    for goal, value, is_met in check_goals(figures):
        state = "not measured" if value is None else ("met" if is_met else "MISSED")
        shown = "-" if value is None else _number(value)
        lines.append(f"{state:>12}  {goal.figure} = {shown} (goal {goal.op} {goal.limit:g})")
    return "\n".join(lines)


def format_changes(changes: list[Change]) -> str:
    """One line per figure that moved by more than the threshold."""
    if not changes:
        return f"no figure moved by more than {CHANGE_THRESHOLD:.0%} against the baseline"
    lines = []
    for change in changes:
        verdict = "better" if change.is_better else "worse"
        lines.append(
            f"{change.fraction:+8.1%} {verdict:<6}  {change.figure}: "
            f"{_number(change.baseline)} -> {_number(change.current)}"
        )
    return "\n".join(lines)


def natural_key(name: str) -> list[tuple[int, int | str]]:
    """Sort key ordering embedded numbers by value ("queues8" before "queues32")."""
    parts = re.split(r"(\d+)", name)
    return [(1, int(p)) if p.isdigit() else (0, p) for p in parts]


def write_chart(figures: Figures, path: Path) -> None:
    """Draw the main figures into a PNG (four panels) with matplotlib's Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    _bars(axes[0][0], figures, "http.", ".requests_per_second", "HTTP throughput (req/s)")
    _bars(axes[0][1], figures, "dispatch.", "_median_us", "APF dispatch median (µs)")
    _bars(axes[1][0], figures, "scaling.", ".median_us", "Queue-set cost (µs) vs queues/flows")
    _bars(axes[1][1], figures, "fairness.", "", "Fairness (Jain; light-flow waits in s), log")
    axes[1][1].set_xscale("log")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _bars(axis: Axes, figures: Figures, prefix: str, suffix: str, title: str) -> None:
    chosen = [n for n in figures if n.startswith(prefix) and n.endswith(suffix)]
    names = sorted(chosen, key=natural_key)
    labels = [n.removeprefix(prefix).removesuffix(suffix) for n in names]
    values = [figures[n] for n in names]
    axis.barh(labels, values)
    axis.set_title(title)
    axis.tick_params(axis="y", labelsize=7)
