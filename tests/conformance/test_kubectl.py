"""kubectl against the real server: real-world manifests, tables, explain, errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.server import ServerProcess, running_server

REAL_CONFIGS = Path(__file__).resolve().parents[2].parent / "shared" / "real-configs"
SERVED_BY_DEFAULT = ("flowcontrol.apiserver.k8s.io/v1", "flowcontrol.apiserver.k8s.io/v1beta3")


def _documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _real_config_files() -> list[Path]:
    files = sorted(REAL_CONFIGS.glob("*.yaml"))
    assert files, f"no real configs found in {REAL_CONFIGS}"
    return files


def _spec_subset(sent: Any, stored: Any) -> bool:
    """Every field the manifest set is in the stored object with the same meaning."""
    if isinstance(sent, dict):
        return isinstance(stored, dict) and all(
            _spec_subset(v, stored.get(k)) for k, v in sent.items() if v not in (None, [], {})
        )
    if isinstance(sent, list):
        return (
            isinstance(stored, list)
            and len(sent) == len(stored)
            and all(_spec_subset(a, b) for a, b in zip(sent, stored, strict=True))
        )
    return bool(sent == stored)


@pytest.fixture(scope="module")
def all_versions_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A server that also serves v1beta1 and v1beta2, as --runtime-config enables them."""
    runtime = ",".join(f"flowcontrol.apiserver.k8s.io/{v}=true" for v in ("v1beta1", "v1beta2"))
    with running_server(tmp_path_factory.mktemp("apf-all"), f"--runtime-config={runtime}") as s:
        yield s


@pytest.mark.parametrize("path", _real_config_files(), ids=lambda p: p.name)
def test_real_config_applies_and_reads_back_in_v1(
    all_versions_server: ServerProcess, path: Path
) -> None:
    server = all_versions_server
    server.kubectl("apply", "-f", str(path))

    for doc in _documents(path):
        plural = "flowschemas" if doc["kind"] == "FlowSchema" else "prioritylevelconfigurations"
        name = doc["metadata"]["name"]
        stored = json.loads(
            server.kubectl("get", f"{plural}.v1.flowcontrol.apiserver.k8s.io", name, "-o", "json")
        )
        assert stored["apiVersion"] == "flowcontrol.apiserver.k8s.io/v1"
        assert "namespace" not in stored["metadata"]
        if doc["apiVersion"] in SERVED_BY_DEFAULT:
            assert _spec_subset(doc["spec"], stored["spec"]), (doc["spec"], stored["spec"])


@pytest.mark.parametrize(
    "path",
    [p for p in _real_config_files() if "v1beta1" in p.name or "v1beta2" in p.name],
    ids=lambda p: p.name,
)
def test_unserved_versions_are_refused_by_default(server: ServerProcess, path: Path) -> None:
    output = server.kubectl("apply", "-f", str(path), check=False)
    assert "no matches for kind" in output or "the server could not find" in output


def test_kubectl_get_prints_the_reference_columns(server: ServerProcess) -> None:
    flow_schemas = server.kubectl("get", "flowschemas")
    header = flow_schemas.splitlines()[0].split()
    assert header == [
        "NAME",
        "PRIORITYLEVEL",
        "MATCHINGPRECEDENCE",
        "DISTINGUISHERMETHOD",
        "AGE",
        "MISSINGPL",
    ]
    first = flow_schemas.splitlines()[1].split()
    assert first[:4] == ["exempt", "exempt", "1", "<none>"]

    levels = server.kubectl("get", "prioritylevelconfigurations")
    header = levels.splitlines()[0].split()
    assert header == [
        "NAME",
        "TYPE",
        "NOMINALCONCURRENCYSHARES",
        "QUEUES",
        "HANDSIZE",
        "QUEUELENGTHLIMIT",
        "AGE",
    ]
    rows = {line.split()[0]: line.split() for line in levels.splitlines()[1:]}
    assert rows["global-default"][1:6] == ["Limited", "20", "128", "6", "50"]
    assert rows["catch-all"][1:6] == ["Limited", "5", "<none>", "<none>", "<none>"]


def test_kubectl_explain_describes_flowschema_spec(server: ServerProcess) -> None:
    output = server.kubectl("explain", "flowschema.spec")
    assert "matchingPrecedence" in output
    assert "priorityLevelConfiguration" in output


def test_kubectl_create_reports_validation_errors(server: ServerProcess) -> None:
    manifest = """
apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: FlowSchema
metadata:
  name: kubectl-invalid
spec:
  matchingPrecedence: 20000
  priorityLevelConfiguration:
    name: global-default
"""
    output = server.kubectl("create", "-f", "-", stdin=manifest, check=False)
    assert "spec.matchingPrecedence" in output
    assert "must not be greater than 10000" in output
