"""``apf`` command line: help text, flag parsing, and ``apf convert``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from apf.cli import build_parser
from apf.server.options import parse_duration, parse_runtime_config

REAL_CONFIGS = Path(__file__).resolve().parents[1].parent / "shared" / "real-configs"


def _apf(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "apf.cli", *args], capture_output=True, text=True, timeout=60
    )


def test_serve_help_documents_every_flag() -> None:
    output = _apf("serve", "--help").stdout
    for flag in (
        "--data-dir",
        "--bind-address",
        "--secure-port",
        "--max-requests-inflight",
        "--max-mutating-requests-inflight",
        "--request-timeout",
        "--enable-priority-and-fairness",
        "--token-auth-file",
        "--client-ca-file",
        "--tls-cert-file",
        "--tls-private-key-file",
        "--anonymous-auth",
        "--storage-backend",
        "--runtime-config",
    ):
        assert flag in output


def test_serve_flags_accept_go_style_booleans_and_durations() -> None:
    args = build_parser().parse_args(
        ["serve", "--enable-priority-and-fairness=false", "--request-timeout", "1m30s"]
    )
    assert args.enable_priority_and_fairness is False
    assert args.request_timeout == 90.0
    assert build_parser().parse_args(["serve"]).enable_priority_and_fairness is True


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [
        pytest.param("60s", 60.0, id="seconds"),
        pytest.param("1m", 60.0, id="minutes"),
        pytest.param("250ms", 0.25, id="milliseconds"),
        pytest.param("1h2m3s", 3723.0, id="compound"),
    ],
)
def test_parse_duration_reads_go_durations(raw: str, seconds: float) -> None:
    assert parse_duration(raw) == seconds


def test_parse_duration_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration("ten")


def test_runtime_config_enables_versions() -> None:
    parsed = parse_runtime_config("flowcontrol.apiserver.k8s.io/v1beta2=true,x/v1=false")
    assert parsed == {"flowcontrol.apiserver.k8s.io/v1beta2": True, "x/v1": False}


def test_unknown_storage_backend_is_a_clear_error(tmp_path: Path) -> None:
    result = _apf("serve", "--data-dir", str(tmp_path), "--storage-backend", "nope")
    assert result.returncode == 2
    assert "unknown storage backend 'nope'" in result.stderr


def test_convert_prints_v1_for_a_v1beta1_manifest() -> None:
    source = REAL_CONFIGS / "10-openshift-kube-apiserver-operator-apf-v1beta1.yaml"
    result = _apf("convert", "-f", str(source))
    assert result.returncode == 0, result.stderr
    documents = list(yaml.safe_load_all(result.stdout))
    assert {d["apiVersion"] for d in documents} == {"flowcontrol.apiserver.k8s.io/v1"}
    level = next(d for d in documents if d["kind"] == "PriorityLevelConfiguration")
    assert level["spec"]["limited"]["nominalConcurrencyShares"] == 10
    assert "assuredConcurrencyShares" not in level["spec"]["limited"]
