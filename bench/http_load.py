"""Part 1: throughput and latency over HTTPS keep-alive with ``wrk``, APF on, APF off and hello.

Each server runs as a subprocess on 127.0.0.1 and is stopped before the next one starts, so
the three never compete for the two cores. ``wrk`` runs ``-t2 -c50 -d10s --latency``; LIST
carries the admin bearer token (group ``system:masters``, hence the exempt level when APF is
on). The hello app answers any path the same way, so only ``/version`` is measured there.

Besides what ``wrk`` prints, each run reports ``server_cpu_per_request_us``: the server
process's CPU time (user + system, from ``/proc``) over the requests served. Throughput on a
shared 2-core machine moves with whatever else runs; the server's CPU per request moves much
less, so it is the figure to compare when tuning the request path.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.servers import ADMIN_TOKEN, Server, running, start_apf, start_hello

logger = logging.getLogger(__name__)

VERSION_PATH = "/version"
LIST_PATH = "/apis/flowcontrol.apiserver.k8s.io/v1/flowschemas"
WRK_THREADS = 2
WRK_CONNECTIONS = 50

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
    # A short warm-up fills caches and lets the server reach its steady connection count.
    run_wrk(server.url + path, seconds=1, token=token)
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


def _measure_apf(work_dir: Path, *, enabled: bool, seconds: int) -> dict[str, dict[str, float]]:
    with running(start_apf(work_dir, apf_enabled=enabled)) as server:
        version = _measure(server, VERSION_PATH, seconds=seconds, token=None)
        listing = _measure(server, LIST_PATH, seconds=seconds, token=ADMIN_TOKEN)
    return {"version": version, "list": listing}


def _with_retry(run: Callable[[], dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Run once more when the server died or wrk failed: one bad run should not void a suite."""
    try:
        return run()
    except RuntimeError as exc:
        logger.warning("HTTP run failed; retrying once", extra={"error": str(exc)})
        return run()


def measure_http(work_dir: Path, *, seconds: int = 10) -> dict[str, dict[str, float]]:
    """Load each server in turn; keys are ``<server>.<endpoint>`` (apf_on.version, ...)."""
    results: dict[str, dict[str, float]] = {}
    for name, enabled in (("apf_on", True), ("apf_off", False)):
        measured = _with_retry(
            functools.partial(_measure_apf, work_dir / name, enabled=enabled, seconds=seconds)
        )
        results.update({f"{name}.{endpoint}": value for endpoint, value in measured.items()})

    def hello() -> dict[str, dict[str, float]]:
        with running(start_hello(work_dir / "apf_on")) as server:
            return {"version": _measure(server, VERSION_PATH, seconds=seconds, token=None)}

    results["hello.version"] = _with_retry(hello)["version"]
    return results


def http_ratios(results: dict[str, dict[str, float]]) -> dict[str, float]:
    """Throughput ratios APF-on/APF-off (both endpoints) and full/hello (``/version``)."""

    def rps(key: str) -> float:
        return results[key]["requests_per_second"]

    def ratio(top: str, bottom: str) -> float:
        return rps(top) / rps(bottom) if rps(bottom) > 0 else 0.0

    return {
        "apf_on_off_version": ratio("apf_on.version", "apf_off.version"),
        "apf_on_off_list": ratio("apf_on.list", "apf_off.list"),
        "full_hello_version": ratio("apf_on.version", "hello.version"),
    }
