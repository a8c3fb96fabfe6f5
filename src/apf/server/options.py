"""Everything ``apf serve`` can be told, with kube-apiserver's defaults."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from apf.api.kinds import DEFAULT_VERSIONS, GROUP, OPTIONAL_VERSIONS


@dataclass(frozen=True, slots=True)
class ServerOptions:
    data_dir: Path = Path(".apf")
    bind_address: str = "127.0.0.1"
    secure_port: int = 6443
    max_requests_inflight: int = 400
    max_mutating_requests_inflight: int = 200
    request_timeout_seconds: float = 60.0
    enable_priority_and_fairness: bool = True
    token_auth_file: Path | None = None
    client_ca_file: Path | None = None
    tls_cert_file: Path | None = None
    tls_private_key_file: Path | None = None
    anonymous_auth: bool = True
    storage_backend: str = "sqlite"
    # group/version -> enabled, from --runtime-config.
    runtime_config: dict[str, bool] = field(default_factory=dict)

    @property
    def server_concurrency_limit(self) -> int:
        return self.max_requests_inflight + self.max_mutating_requests_inflight

    @property
    def served_versions(self) -> list[str]:
        """The flowcontrol versions to serve: the defaults, plus optional ones switched on."""
        served = []
        for version in (*DEFAULT_VERSIONS, *OPTIONAL_VERSIONS):
            default = version in DEFAULT_VERSIONS
            if self.runtime_config.get(f"{GROUP}/{version}", default):
                served.append(version)
        return served


def parse_runtime_config(raw: str) -> dict[str, bool]:
    """``group/version=true,group/version2=false`` → mapping; ValueError on bad syntax."""
    result: dict[str, bool] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        key, _, value = item.partition("=")
        if "/" not in key:
            raise ValueError(
                f"--runtime-config entry {item!r} must be <group>/<version>[=true|false]"
            )
        result[key] = parse_bool(value or "true")
    return result


def parse_bool(raw: str) -> bool:
    """Go's strconv.ParseBool: 1 t T TRUE true True / 0 f F FALSE false False."""
    if raw in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if raw in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise ValueError(f"invalid boolean {raw!r}: use true or false")


def parse_duration(raw: str) -> float:
    """Seconds in a Go duration (``60s``, ``1m``, ``1m30s``, ``500ms``); ValueError if bad."""
    units = (("ms", 0.001), ("h", 3600.0), ("m", 60.0), ("s", 1.0))
    total, rest = 0.0, raw.strip()
    if not rest:
        raise ValueError("empty duration")
    while rest:
        number = ""
        while rest and (rest[0].isdigit() or rest[0] == "."):
            number, rest = number + rest[0], rest[1:]
        unit = next((u for u in units if rest.startswith(u[0])), None)
        if not number or unit is None:
            raise ValueError(f"invalid duration {raw!r}: use e.g. 60s, 1m30s or 500ms")
        total += float(number) * unit[1]
        rest = rest[len(unit[0]) :]
    return total
