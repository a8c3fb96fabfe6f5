"""Reading wrk's output and computing the HTTP ratios."""

from __future__ import annotations

import os
import time

import pytest
from bench.http_load import (
    WrkResult,
    paired_ratios,
    parse_wrk,
    process_cpu_seconds,
    run_wrk,
    summarize_runs,
)

WRK_OUTPUT = """\
Running 10s test @ https://127.0.0.1:40123/version
  2 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    12.31ms    3.02ms  80.10ms   90.00%
    Req/Sec     2.03k   150.00     2.40k    70.00%
  Latency Distribution
     50%   11.80ms
     75%   13.00ms
     90%   15.20ms
     99%    1.02s
  40512 requests in 10.01s, 7.30MB read
  Socket errors: connect 0, read 2, write 1, timeout 3
  Non-2xx or 3xx responses: 17
Requests/sec:   4047.20
Transfer/sec:    746.60KB
"""


def test_parse_wrk_reads_throughput_latency_and_errors() -> None:
    result = parse_wrk(WRK_OUTPUT)

    assert result == WrkResult(
        requests_per_second=4047.20,
        p50_ms=11.80,
        p99_ms=pytest.approx(1020.0),  # type: ignore[arg-type]
        requests=40512,
        non_2xx=17,
        socket_errors=6,
    )


def test_parse_wrk_converts_microseconds() -> None:
    output = WRK_OUTPUT.replace("11.80ms", "950.00us")

    assert parse_wrk(output).p50_ms == pytest.approx(0.95)


def test_parse_wrk_rejects_output_without_distribution() -> None:
    with pytest.raises(ValueError, match="no throughput or latency distribution"):
        parse_wrk("Requests/sec:   10.0\n")


def test_run_wrk_refuses_non_local_urls() -> None:
    with pytest.raises(ValueError, match="non-local URL"):
        run_wrk("https://example.com/version", seconds=1)


def _rounds(rps: dict[str, list[float]]) -> dict[str, list[dict[str, float]]]:
    return {key: [{"requests_per_second": v} for v in values] for key, values in rps.items()}


def test_paired_ratios_take_the_median_of_each_rounds_ratio() -> None:
    # Round two ran in a slow spell: every server served half as much.
    runs = _rounds(
        {
            "apf_on.version": [900, 450, 950],
            "apf_off.version": [1000, 500, 1000],
            "apf_on.list": [300, 150, 330],
            "apf_off.list": [400, 200, 400],
            "hello.version": [3000, 1500, 3000],
        }
    )

    ratios = paired_ratios(runs)

    assert ratios == pytest.approx(
        {"apf_on_off_version": 0.9, "apf_on_off_list": 0.75, "full_hello_version": 0.3}
    )


def test_paired_ratios_count_a_round_whose_reference_served_nothing_as_zero() -> None:
    runs = _rounds(
        {
            "apf_on.version": [900],
            "apf_off.version": [0],
            "apf_on.list": [300],
            "apf_off.list": [400],
            "hello.version": [0],
        }
    )

    ratios = paired_ratios(runs)

    assert ratios["apf_on_off_version"] == 0.0
    assert ratios["full_hello_version"] == 0.0


def test_summarized_rounds_add_counts_and_take_medians_of_the_rest() -> None:
    runs = [
        {"requests_per_second": 100.0, "p99_ms": 9.0, "requests": 200.0, "non_2xx": 1.0},
        {"requests_per_second": 300.0, "p99_ms": 1.0, "requests": 600.0, "non_2xx": 0.0},
        {"requests_per_second": 200.0, "p99_ms": 5.0, "requests": 400.0, "non_2xx": 2.0},
    ]

    summary = summarize_runs(runs)

    assert summary == {
        "requests_per_second": 200.0,
        "p99_ms": 5.0,
        "requests": 1200.0,
        "non_2xx": 3.0,
        "rounds": 3.0,
    }


def test_process_cpu_seconds_grows_with_work_done() -> None:
    before = process_cpu_seconds(os.getpid())
    deadline = time.process_time() + 0.05
    while time.process_time() < deadline:
        pass
    after = process_cpu_seconds(os.getpid())

    assert before is not None
    assert after is not None
    assert after > before


def test_process_cpu_seconds_of_a_missing_process_is_none() -> None:
    assert process_cpu_seconds(2**22 + 1) is None
