"""A real ``apf serve`` process on 127.0.0.1 for tests, and clients bound to it."""

from __future__ import annotations

import contextlib
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client as k8s_client, config as k8s_config

STARTUP_TIMEOUT_SECONDS = 60.0


@dataclass
class ServerProcess:
    """One running server; ``restart`` keeps the data directory."""

    data_dir: Path
    extra_args: Sequence[str] = ()
    process: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.data_dir / "server.log"

    @property
    def kubeconfig(self) -> Path:
        return self.data_dir / "admin.kubeconfig"

    def start(self) -> None:
        self.kubeconfig.unlink(missing_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = self._spawn(log)
        self._wait_ready()

    def _spawn(self, log: Any) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "apf.cli",
                "serve",
                "--data-dir",
                str(self.data_dir),
                "--secure-port",
                "0",
                *self.extra_args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"apf serve exited early:\n{self.log_path.read_text()}")
            if self.kubeconfig.exists() and self._ready():
                return
            time.sleep(0.1)
        raise RuntimeError(f"apf serve not ready in time:\n{self.log_path.read_text()}")

    def _ready(self) -> bool:
        try:
            with self.urlopen("/readyz") as response:
                return bool(response.status == 200)
        except OSError:
            return False

    @property
    def url(self) -> str:
        config = yaml.safe_load(self.kubeconfig.read_text())
        url: str = config["clusters"][0]["cluster"]["server"]
        return url

    def ssl_context(self) -> ssl.SSLContext:
        """A client context trusting the server's CA and presenting the admin certificate."""
        ctx = ssl.create_default_context(cafile=str(self.data_dir / "pki" / "ca.crt"))
        ctx.load_cert_chain(
            str(self.data_dir / "pki" / "admin.crt"), str(self.data_dir / "pki" / "admin.key")
        )
        return ctx

    def urlopen(
        self, path: str, *, method: str = "GET", headers: dict[str, str] | None = None
    ) -> Any:
        request = urllib.request.Request(self.url + path, method=method, headers=headers or {})
        return urllib.request.urlopen(request, context=self.ssl_context(), timeout=30)

    def api_client(self, *, impersonate: str | None = None, groups: Sequence[str] = ()) -> Any:
        """An official ``kubernetes`` ApiClient as admin, optionally impersonating a user."""
        configuration = k8s_client.Configuration()
        k8s_config.load_kube_config(
            config_file=str(self.kubeconfig), client_configuration=configuration
        )
        api = k8s_client.ApiClient(configuration)
        if impersonate is not None:
            api.set_default_header("Impersonate-User", impersonate)
            for group in groups:
                # The client joins repeated defaults; one group is all the tests need.
                api.set_default_header("Impersonate-Group", group)
        return api

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> str:
        result = subprocess.run(
            ["kubectl", "--kubeconfig", str(self.kubeconfig), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}"
            )
        return result.stdout + result.stderr if not check else result.stdout

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks run."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


@contextlib.contextmanager
def running_server(data_dir: Path, *extra_args: str) -> Iterator[ServerProcess]:
    server = ServerProcess(data_dir=data_dir, extra_args=extra_args)
    server.start()
    try:
        yield server
    finally:
        server.stop()
