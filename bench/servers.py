"""Server subprocesses for the benchmarks: ``apf serve`` (APF on or off) and the bare hello app.

Every server listens on 127.0.0.1 with a port the kernel picks; the callers learn it from the
kubeconfig (apf) or a port file (hello). Start-up waits for ``/readyz`` (apf) or a first answer
(hello); stopping sends SIGTERM, then SIGKILL after a grace period.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

STARTUP_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 20.0
POLL_SECONDS = 0.1

# Identities in the static token file: the admin may do everything; the two load users are
# ordinary authenticated users for the "drowned out" scenarios.
ADMIN_TOKEN = "bench-admin-token"
HIGH_QPS_USER = "bench-highqps"
LOW_QPS_USER = "bench-lowqps"
USER_TOKENS = {HIGH_QPS_USER: "bench-highqps-token", LOW_QPS_USER: "bench-lowqps-token"}


def write_token_file(path: Path) -> Path:
    """Write the static token file (CSV ``token,user,uid,"groups"``) and return its path."""
    lines = [f'{ADMIN_TOKEN},bench-admin,uid-admin,"system:masters"']
    lines += [f"{token},{user},uid-{user}," for user, token in USER_TOKENS.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass
class Server:
    """One running server: its base URL, the CA to trust, and the process to stop."""

    url: str
    ca_file: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    def ssl_context(self) -> ssl.SSLContext:
        """A client TLS context that trusts this server's CA."""
        return ssl.create_default_context(cafile=str(self.ca_file))

    def get(self, path: str, *, token: str | None = ADMIN_TOKEN) -> tuple[int, bytes]:
        """One blocking GET; returns status and body, also for error statuses."""
        return self.request("GET", path, token=token)

    def request(
        self, method: str, path: str, *, token: str | None = ADMIN_TOKEN, body: object = None
    ) -> tuple[int, bytes]:
        """One blocking request with an optional JSON body."""
        headers = {"Accept": "application/json"}
        data = None
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, context=self.ssl_context(), timeout=30) as response:
                return int(response.status), bytes(response.read())
        except urllib.error.HTTPError as exc:
            return int(exc.code), bytes(exc.read())

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if the process outlives the grace period."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT_SECONDS)


def _spawn(args: Sequence[str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )


def _kubeconfig_url(kubeconfig: Path) -> str | None:
    if not kubeconfig.exists():
        return None
    config = yaml.safe_load(kubeconfig.read_text())
    with contextlib.suppress(KeyError, IndexError, TypeError):
        return str(config["clusters"][0]["cluster"]["server"])
    return None


def _is_ready(server: Server, path: str) -> bool:
    try:
        status, _ = server.get(path)
    except OSError:
        return False
    return status == 200


def _wait_ready(server: Server, path: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited early; see {server.log_path}")
        if _is_ready(server, path):
            return
        time.sleep(POLL_SECONDS)
    server.stop()
    raise RuntimeError(
        f"server not ready in {STARTUP_TIMEOUT_SECONDS:.0f} s; see {server.log_path}"
    )


def _wait_for(read: Callable[[], str | None], process: subprocess.Popen[bytes], log: Path) -> str:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        value = read()
        if value is not None:
            return value
        if process.poll() is not None:
            raise RuntimeError(f"server exited early; see {log}")
        time.sleep(POLL_SECONDS)
    process.kill()
    raise RuntimeError(f"server wrote no address in time; see {log}")


def start_apf(data_dir: Path, *, apf_enabled: bool, extra_args: Sequence[str] = ()) -> Server:
    """Start ``apf serve`` on a free port of 127.0.0.1 and wait until ``/readyz`` says ok."""
    data_dir.mkdir(parents=True, exist_ok=True)
    kubeconfig = data_dir / "admin.kubeconfig"
    kubeconfig.unlink(missing_ok=True)
    token_file = write_token_file(data_dir / "tokens.csv")
    log_path = data_dir / "server.log"
    args = [
        "-m",
        "apf.cli",
        "serve",
        "--data-dir",
        str(data_dir),
        "--bind-address",
        "127.0.0.1",
        "--secure-port",
        "0",
        "--token-auth-file",
        str(token_file),
        f"--enable-priority-and-fairness={str(apf_enabled).lower()}",
        *extra_args,
    ]
    process = _spawn(args, log_path)
    url = _wait_for(lambda: _kubeconfig_url(kubeconfig), process, log_path)
    server = Server(
        url=url, ca_file=data_dir / "pki" / "ca.crt", process=process, log_path=log_path
    )
    _wait_ready(server, "/readyz")
    return server


def start_hello(data_dir: Path) -> Server:
    """Start the bare hello app with the serving certificate of an earlier apf run in data_dir."""
    pki = data_dir / "pki"
    port_file = data_dir / "hello.port"
    port_file.unlink(missing_ok=True)
    log_path = data_dir / "hello.log"
    args = [
        "-m",
        "bench.hello",
        str(pki / "serving.crt"),
        str(pki / "serving.key"),
        str(port_file),
    ]
    process = _spawn(args, log_path)

    def read_port() -> str | None:
        text = port_file.read_text().strip() if port_file.exists() else ""
        return text or None

    port = _wait_for(read_port, process, log_path)
    server = Server(
        url=f"https://127.0.0.1:{port}", ca_file=pki / "ca.crt", process=process, log_path=log_path
    )
    _wait_ready(server, "/version")
    return server


@contextlib.contextmanager
def running(server: Server) -> Iterator[Server]:
    """Stop the server when the block ends, whatever happens inside."""
    try:
        yield server
    finally:
        server.stop()


FLOW_SCHEMAS_PATH = "/apis/flowcontrol.apiserver.k8s.io/v1/flowschemas"


def wait_for_dangling_conditions(server: Server) -> None:
    """Wait until the APF controller has written every FlowSchema's ``Dangling`` condition."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        status, body = server.get(FLOW_SCHEMAS_PATH)
        items = json.loads(body).get("items", []) if status == 200 else []
        if items and all(_has_dangling(item) for item in items):
            return
        time.sleep(POLL_SECONDS)
    raise RuntimeError(f"FlowSchemas got no Dangling condition in time; see {server.log_path}")


def _has_dangling(flow_schema: dict[str, Any]) -> bool:
    status = flow_schema.get("status")
    conditions = status.get("conditions", []) if isinstance(status, dict) else []
    return any(c.get("type") == "Dangling" for c in conditions)


def copy_flow_schema_statuses(source: Server, target: Server) -> None:
    """Give the target's FlowSchemas the statuses the source's have, by name (PUT /status)."""
    statuses = {fs["metadata"]["name"]: fs.get("status", {}) for fs in _flow_schemas(source)}
    for fs in _flow_schemas(target):
        name = fs["metadata"]["name"]
        if name not in statuses:
            continue
        fs["status"] = statuses[name]
        status, body = target.request("PUT", f"{FLOW_SCHEMAS_PATH}/{name}/status", body=fs)
        if status != 200:
            raise RuntimeError(f"PUT {name}/status answered {status}: {body[:300]!r}")


def _flow_schemas(server: Server) -> list[dict[str, Any]]:
    status, body = server.get(FLOW_SCHEMAS_PATH)
    if status != 200:
        raise RuntimeError(f"LIST flowschemas answered {status}: {body[:300]!r}")
    items: list[dict[str, Any]] = json.loads(body)["items"]
    return items
