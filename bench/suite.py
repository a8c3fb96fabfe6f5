"""Run the whole benchmark suite, print its figures and compare them with the baseline.

Usage: ``python -m bench.suite [--write-baseline] [--quick] [--parts http,dispatch,...]``

Each part runs on its own; one that fails is reported and the others still run. Results go
to ``bench/results/latest.json`` and ``bench/results/latest.png``; ``--write-baseline`` also
writes ``bench/baseline.json``. ``--quick`` shortens every part (a smoke run: its figures
are not comparable with a full run's).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import apf.flowcontrol
from bench import report

logger = logging.getLogger(__name__)

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
BASELINE = BENCH_DIR / "baseline.json"
PARTS = ("http", "dispatch", "queueset", "fairness", "e2e", "memory", "scaling")

Result = dict[str, object]


def _part_http(work_dir: Path, quick: bool) -> Result:
    from bench.http_load import measure_http

    return measure_http(work_dir / "http", rounds=1 if quick else 8)


def _part_dispatch(work_dir: Path, quick: bool) -> Result:
    from bench.dispatch_cost import dispatch_matrix, interpreted_dispatch

    samples = 2_000 if quick else 20_000
    results: Result = dict(asyncio.run(dispatch_matrix(samples=samples)))
    results["interpreted"] = interpreted_dispatch(samples=samples)
    return results


def _part_queueset(work_dir: Path, quick: bool) -> Result:
    # The queue set alone, timed by the engine team's own bench/bench_dispatch.py.
    from bench import bench_dispatch
    from bench.stats import percentile

    def summary(samples_us: list[float]) -> dict[str, float]:
        return {"median_us": percentile(samples_us, 0.5), "p99_us": percentile(samples_us, 0.99)}

    result: Result = {"uncontended": summary(bench_dispatch.uncontended())}
    for queues in (8, 64, 512):
        result[f"backlogged_q{queues}"] = summary(bench_dispatch.backlogged(queues))
    return result


def _part_fairness(work_dir: Path, quick: bool) -> Result:
    from bench.fairness_sim import simulated_fairness

    return dict(simulated_fairness())


def _part_e2e(work_dir: Path, quick: bool) -> Result:
    from bench.fairness_e2e import drowned_out_by_fairness, drowned_out_by_priority
    from bench.servers import running, start_apf

    def run(data_dir: Path) -> Result:
        with running(start_apf(data_dir, apf_enabled=True)) as server:
            by_priority = drowned_out_by_priority(server)
            by_fairness = drowned_out_by_fairness(server)
        return {"by_priority": by_priority, "by_fairness": by_fairness}

    try:
        return run(work_dir / "e2e")
    except RuntimeError:
        # A server stopped from outside (exit 0 on SIGTERM) voids the run: one more try.
        logger.warning("end-to-end run failed; retrying once with a fresh server")
        return run(work_dir / "e2e-retry")


def _part_memory(work_dir: Path, quick: bool) -> Result:
    from bench.memory import memory_per_waiting_request

    return dict(asyncio.run(memory_per_waiting_request()))


def _part_scaling(work_dir: Path, quick: bool) -> Result:
    from bench.dispatch_cost import scaling

    return dict(asyncio.run(scaling(samples=1_000 if quick else 5_000)))


RUNNERS: dict[str, Callable[[Path, bool], Result]] = {
    "http": _part_http,
    "dispatch": _part_dispatch,
    "queueset": _part_queueset,
    "fairness": _part_fairness,
    "e2e": _part_e2e,
    "memory": _part_memory,
    "scaling": _part_scaling,
}


def run_parts(parts: list[str], *, quick: bool) -> tuple[Result, dict[str, str], Result]:
    """Run the parts in order; return results, errors by part, and seconds per part."""
    results: Result = {}
    errors: dict[str, str] = {}
    seconds: Result = {}
    with tempfile.TemporaryDirectory(prefix="apf-bench-") as tmp:
        for part in parts:
            print(f"== {part} ...", file=sys.stderr, flush=True)
            started = time.monotonic()
            try:
                results[part] = RUNNERS[part](Path(tmp), quick)
            except Exception as exc:
                logger.exception("benchmark part failed", extra={"part": part})
                errors[part] = f"{type(exc).__name__}: {exc}"
            seconds[part] = round(time.monotonic() - started, 1)
            print(f"== {part} took {seconds[part]} s", file=sys.stderr, flush=True)
    return results, errors, seconds


def _load_baseline() -> dict[str, float] | None:
    if not BASELINE.exists():
        return None
    data = json.loads(BASELINE.read_text())
    return {str(k): float(v) for k, v in data["figures"].items()}


def _document(figures: dict[str, float], errors: dict[str, str], seconds: Result) -> Result:
    return {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "engine": "compiled" if apf.flowcontrol.COMPILED else "interpreted",
        },
        "seconds_per_part": seconds,
        "errors": errors,
        "figures": figures,
    }


def main(argv: list[str] | None = None) -> int:
    """Run, print, save, compare; exit 1 when a part failed."""
    parser = argparse.ArgumentParser(prog="bench", description=__doc__)
    parser.add_argument("--write-baseline", action="store_true", help="also write baseline.json")
    parser.add_argument("--quick", action="store_true", help="short smoke run")
    parser.add_argument("--parts", default=",".join(PARTS), help="comma-separated subset")
    args = parser.parse_args(argv)
    parts = [p for p in args.parts.split(",") if p]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        parser.error(f"unknown parts: {', '.join(unknown)}")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    results, errors, seconds = run_parts(parts, quick=args.quick)
    figures = report.flatten(results)
    baseline = _load_baseline()
    document = _document(figures, errors, seconds)
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "latest.json").write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    report.write_chart(figures, RESULTS_DIR / "latest.png")
    if args.write_baseline:
        BASELINE.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")

    print(report.format_table(figures, baseline))
    print("\nGoals:")
    print(report.format_goals(figures))
    print("\nAgainst bench/baseline.json:")
    if baseline is None:
        print("no baseline yet (write one with bench/run --write-baseline)")
    else:
        print(report.format_changes(report.compare(figures, baseline)))
    for part, error in errors.items():
        print(f"\npart {part} FAILED: {error}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
