"""Part 1: throughput and latency over HTTPS keep-alive with ``wrk``, APF on, APF off and hello.

The three servers run side by side as subprocesses on 127.0.0.1 (each apf server as two
processes, see PROCESSES_PER_APF_SERVER), but only one is loaded at a time:
``wrk -t2 -c50 -d2s --latency`` goes through the five targets (two endpoints on each apf
server, ``/version`` on hello) in rounds, eight in ``bench/run``. The speed of a
shared VM drifts from minute to minute; measured one after another for ten seconds each,
the servers' ratios swung from 0.6 to 1.0 between identical runs. Interleaved, both sides
of each ratio see the same spells. LIST carries the admin bearer token (group
``system:masters``, hence the exempt level when APF is on).

Besides what ``wrk`` prints, each run reports ``server_cpu_per_request_us``: the server
process's CPU time (user + system, from ``/proc``) over the requests served. Throughput on a
shared 2-core machine moves with whatever else runs; the server's CPU per request moves much
less, so it is the figure to compare when tuning the request path.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import statistics
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.servers import (
    ADMIN_TOKEN,
    Server,
    copy_flow_schema_statuses,
    running,
    start_apf,
    start_hello,
    wait_for_dangling_conditions,
)

logger = logging.getLogger(__name__)

VERSION_PATH = "/version"
LIST_PATH = "/apis/flowcontrol.apiserver.k8s.io/v1/flowschemas"
WRK_THREADS = 2
WRK_CONNECTIONS = 50
# Path and bearer token of each endpoint.
ENDPOINTS: dict[str, tuple[str, str | None]] = {
    "version": (VERSION_PATH, None),
    "list": (LIST_PATH, ADMIN_TOKEN),
}
# One round, in order: the two sides of each ratio run next to each other (apf_on.version
# sits between its two references). The hello app answers /version only.
TARGETS = ("apf_off.version", "apf_on.version", "hello.version", "apf_on.list", "apf_off.list")
# Processes per apf server (APF on, APF off). The same code can run a few percent faster
# in one process than in another (each draws its own memory layout and hash seed); the
# rounds take the processes in turn, so each figure pools them.
PROCESSES_PER_APF_SERVER = 2
RATIOS = {
    "apf_on_off_version": ("apf_on.version", "apf_off.version"),
    "apf_on_off_list": ("apf_on.list", "apf_off.list"),
    "full_hello_version": ("apf_on.version", "hello.version"),
}
# Figures that add up over rounds; the others are summarized by their median.
COUNTS = frozenset({"requests", "non_2xx", "socket_errors"})
# Each target's per-round figures.
Runs = dict[str, list[dict[str, float]]]

_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
_LATENCY_LINE = re.compile(r"^\s*(50|75|90|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$")
_RPS_LINE = re.compile(r"^Requests/sec:\s+([\d.]+)")
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_TOTAL = re.compile(r"^\s*(\d+) requests in ")
_SOCKET_ERRORS = re.compile(
    r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)"
)


@dataclass(frozen=True, slots=True)
class WrkResult:
    """What one ``wrk`` run measured; latencies in milliseconds."""

    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: int


def parse_wrk(output: str) -> WrkResult:
    """Read requests/s, the p50/p99 latencies and error counts from ``wrk --latency`` output.

    Raises ValueError when the output lacks the throughput or the latency distribution.
    """
    rps: float | None = None
    percentiles: dict[str, float] = {}
    total = non_2xx = socket_errors = 0
    for line in output.splitlines():
        if match := _LATENCY_LINE.match(line):
            percentiles[match[1]] = float(match[2]) * _UNIT_MS[match[3]]
        elif match := _RPS_LINE.match(line):
            rps = float(match[1])
        elif match := _TOTAL.match(line):
            total = int(match[1])
        elif match := _NON_2XX.search(line):
            non_2xx = int(match[1])
        elif match := _SOCKET_ERRORS.search(line):
            socket_errors = sum(int(group) for group in match.groups())
    if rps is None or "50" not in percentiles or "99" not in percentiles:
        raise ValueError("wrk output has no throughput or latency distribution")
    return WrkResult(rps, percentiles["50"], percentiles["99"], total, non_2xx, socket_errors)


def run_wrk(url: str, *, seconds: int, token: str | None = None) -> WrkResult:
    """Run ``wrk`` against ``url`` (127.0.0.1 only) and parse what it prints."""
    if not url.startswith("https://127.0.0.1:"):
        raise ValueError(f"refusing to load a non-local URL: {url}")
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed (bench/run installs it with apt-get)")
    args = [wrk, f"-t{WRK_THREADS}", f"-c{WRK_CONNECTIONS}", f"-d{seconds}s", "--latency"]
    if token is not None:
        args += ["-H", f"Authorization: Bearer {token}"]
    done = subprocess.run([*args, url], capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode != 0:
        raise RuntimeError(f"wrk exited {done.returncode}: {done.stderr.strip()[-500:]}")
    return parse_wrk(done.stdout)


class ServerGone(RuntimeError):
    """The server process ended while it was under load."""


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds the process has used so far; None where /proc is missing."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    # After the command name: state is field 3, utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _measure(server: Server, path: str, *, seconds: int, token: str | None) -> dict[str, float]:
    cpu_before = process_cpu_seconds(server.process.pid)
    result = run_wrk(server.url + path, seconds=seconds, token=token)
    cpu_after = process_cpu_seconds(server.process.pid)
    code = server.process.poll()
    if code is not None:
        # Exit 0 is a SIGTERM the server did not send itself; see server.log.
        raise ServerGone(f"server exited with {code} during the {path} run")
    logger.info("wrk run done", extra={"path": path, "rps": result.requests_per_second})
    figures = {key: float(value) for key, value in asdict(result).items()}
    if cpu_before is not None and cpu_after is not None and result.requests:
        figures["server_cpu_per_request_us"] = (cpu_after - cpu_before) * 1e6 / result.requests
    return figures


def _run_target(
    servers: Mapping[str, Sequence[Server]], target: str, seconds: int, round_index: int
) -> dict[str, float]:
    server_name, endpoint = target.split(".")
    path, token = ENDPOINTS[endpoint]
    processes = servers[server_name]
    return _measure(processes[round_index % len(processes)], path, seconds=seconds, token=token)


def _start_apf_processes(stack: contextlib.ExitStack, work_dir: Path) -> dict[str, list[Server]]:
    servers: dict[str, list[Server]] = {"apf_on": [], "apf_off": []}
    for index in range(PROCESSES_PER_APF_SERVER):
        for name, enabled in (("apf_on", True), ("apf_off", False)):
            server = start_apf(work_dir / name / str(index), apf_enabled=enabled)
            servers[name].append(stack.enter_context(running(server)))
    # Only the APF controller writes the FlowSchemas' Dangling conditions; apf_off gets
    # apf_on's, so that both LIST objects of the same size.
    source = servers["apf_on"][0]
    wait_for_dangling_conditions(source)
    for server in servers["apf_off"]:
        copy_flow_schema_statuses(source, server)
    return servers


def _measure_rounds(work_dir: Path, *, rounds: int, seconds: int) -> Runs:
    with contextlib.ExitStack() as stack:
        servers = _start_apf_processes(stack, work_dir)
        # hello serves with the certificate the first apf_on process generated.
        hello = start_hello(work_dir / "apf_on" / "0")
        servers["hello"] = [stack.enter_context(running(hello))]
        for index in range(PROCESSES_PER_APF_SERVER):
            for target in TARGETS:
                # A short warm-up fills caches and lets the server reach its connection count.
                _run_target(servers, target, 1, index)
        runs: Runs = {target: [] for target in TARGETS}
        for index in range(rounds):
            # Every other round runs backwards, so neither side of a pair always goes first,
            # and the rounds take the apf processes in turn.
            for target in TARGETS if index % 2 == 0 else TARGETS[::-1]:
                runs[target].append(_run_target(servers, target, seconds, index // 2))
        return runs


def measure_http(work_dir: Path, *, rounds: int = 8, seconds: int = 2) -> dict[str, object]:
    """Load the three servers in interleaved rounds; figures by ``<server>.<endpoint>``.

    Each target's figures are the medians over its rounds (counts are summed), and
    ``ratio`` holds the paired ratios (see :func:`paired_ratios`).
    """
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, not {rounds}")
    try:
        runs = _measure_rounds(work_dir, rounds=rounds, seconds=seconds)
    except RuntimeError as exc:
        # One bad run (a server died, wrk failed) should not void a whole suite.
        logger.warning("HTTP runs failed; retrying once", extra={"error": str(exc)})
        runs = _measure_rounds(work_dir, rounds=rounds, seconds=seconds)
    results: dict[str, object] = {target: summarize_runs(done) for target, done in runs.items()}
    results["ratio"] = paired_ratios(runs)
    return results


def summarize_runs(runs: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """One target's figures over its rounds: medians, except counts, which add up."""
    summary: dict[str, float] = {}
    for key in runs[0]:
        values = [run[key] for run in runs if key in run]
        summary[key] = sum(values) if key in COUNTS else statistics.median(values)
    summary["rounds"] = float(len(runs))
    return summary


def paired_ratios(runs: Runs) -> dict[str, float]:
    """Throughput ratios, APF-on/APF-off (both endpoints) and full/hello (``/version``).

    Each ratio is the median over the rounds of the two targets' throughputs in the
    same round, measured seconds apart, so a slow spell of the machine weighs on both
    sides of a pair instead of on one server's whole run. A round whose reference
    served nothing counts as 0.
    """
    ratios: dict[str, float] = {}
    for name, (top, bottom) in RATIOS.items():
        pairs = zip(runs[top], runs[bottom], strict=True)
        ratios[name] = statistics.median(
            a["requests_per_second"] / b["requests_per_second"]
            if b["requests_per_second"] > 0
            else 0.0
            for a, b in pairs
        )
    return ratios
