"""Port of Kubernetes' e2e "API priority and fairness" tests, against the real server.

Upstream skips the two "drowned out" tests as flaky (kubernetes issue 96710);
ours run every time.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client as k8s_client

from tests.support.k8s import flowcontrol, raw_request
from tests.support.load import LoadResult, uniform_qps_load
from tests.support.server import ServerProcess

LOAD_SECONDS = 10.0
NOMINAL_METRIC = "apiserver_flowcontrol_nominal_limit_seats"


def _create_priority_level(fc: Any, name: str, shares: int) -> Any:
    body = k8s_client.V1PriorityLevelConfiguration(
        metadata=k8s_client.V1ObjectMeta(name=name),
        spec=k8s_client.V1PriorityLevelConfigurationSpec(
            type="Limited",
            limited=k8s_client.V1LimitedPriorityLevelConfiguration(
                nominal_concurrency_shares=shares,
                lendable_percent=0,
                limit_response=k8s_client.V1LimitResponse(type="Reject"),
            ),
        ),
    )
    return fc.create_priority_level_configuration(body)


def _create_flow_schema(fc: Any, name: str, precedence: int, level: str, users: list[str]) -> Any:
    body = k8s_client.V1FlowSchema(
        metadata=k8s_client.V1ObjectMeta(name=name),
        spec=k8s_client.V1FlowSchemaSpec(
            matching_precedence=precedence,
            priority_level_configuration=k8s_client.V1PriorityLevelConfigurationReference(
                name=level
            ),
            distinguisher_method=k8s_client.V1FlowDistinguisherMethod(type="ByUser"),
            rules=[
                k8s_client.V1PolicyRulesWithSubjects(
                    subjects=[
                        k8s_client.FlowcontrolV1Subject(
                            kind="User", user=k8s_client.V1UserSubject(name=user)
                        )
                        for user in users
                    ],
                    non_resource_rules=[
                        k8s_client.V1NonResourcePolicyRule(verbs=["*"], non_resource_urls=["*"])
                    ],
                )
            ],
        ),
    )
    return fc.create_flow_schema(body)


def _level_concurrency(server: ServerProcess, level: str) -> int | None:
    """The level's nominal seats from /metrics, or None while the metric is absent."""
    with server.urlopen("/metrics") as response:
        text = response.read().decode()
    needle = f'priority_level="{level}"'
    for line in text.splitlines():
        if line.startswith(NOMINAL_METRIC + "{") and needle in line:
            return int(float(line.rsplit(" ", 1)[1]))
    return None


def _wait_for_steady_state(server: ServerProcess, fc: Any, flow_schema: str, level: str) -> None:
    """The reference's waitForSteadyState: Dangling=False and the level in the metrics."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        fs = fc.read_flow_schema(flow_schema)
        conditions = (fs.status.conditions if fs.status else None) or []
        dangling = next((c for c in conditions if c.type == "Dangling"), None)
        is_found = dangling is not None and dangling.status == "False"
        if is_found and _level_concurrency(server, level) is not None:
            return
        time.sleep(0.5)
    raise AssertionError(f"{flow_schema} / {level} did not reach steady state in 30 s")


@pytest.fixture
def fc(server: ServerProcess) -> Iterator[Any]:
    api = server.api_client()
    yield flowcontrol(api)
    api.close()


def _cleanup(fc: Any, flow_schemas: list[str], levels: list[str]) -> None:
    for name in flow_schemas:
        fc.delete_flow_schema(name)
    for name in levels:
        fc.delete_priority_level_configuration(name)


def test_requests_are_classified_by_a_new_flowschema_and_level(
    server: ServerProcess, fc: Any
) -> None:
    suffix = uuid.uuid4().hex[:6]
    level_name, fs_name = f"e2e-testing-prioritylevel-{suffix}", f"e2e-testing-flowschema-{suffix}"
    level = _create_priority_level(fc, level_name, 1)
    flow_schema = _create_flow_schema(fc, fs_name, 1000, level_name, ["noxu"])
    try:
        _wait_for_steady_state(server, fc, fs_name, level_name)

        matching = server.api_client(impersonate="noxu", groups=["system:authenticated"])
        _, headers, _ = raw_request(matching, "GET", "/version")
        assert headers["x-kubernetes-pf-prioritylevel-uid"] == level.metadata.uid
        assert headers["x-kubernetes-pf-flowschema-uid"] == flow_schema.metadata.uid

        other = server.api_client(impersonate="foo", groups=["system:authenticated"])
        _, headers, _ = raw_request(other, "GET", "/version")
        assert headers["x-kubernetes-pf-prioritylevel-uid"] not in ("", level.metadata.uid)
        assert headers["x-kubernetes-pf-flowschema-uid"] not in ("", flow_schema.metadata.uid)
    finally:
        _cleanup(fc, [fs_name], [level_name])


def _client_concurrency(real: int, multiplier: float) -> int:
    return max(1, int(real * multiplier))


def _assert_completed(name: str, result: LoadResult, concurrency: int, qps: float) -> None:
    expected = concurrency * qps * LOAD_SECONDS
    completed = result.completed
    fraction = completed / expected
    # Visible with -s: the issue asks for the spread over repeated runs.
    sys.stderr.write(
        f"e2e-load {name.split('-')[0]}: completed {completed}/{expected:.0f} "
        f"({fraction:.1%}), 2xx {result.ok}, 429 {result.rejected}\n"
    )
    assert fraction >= 0.90, f"{name}: {completed}/{expected:.0f} completed ({fraction:.1%})"


def test_requests_cannot_be_drowned_out_by_priority(server: ServerProcess, fc: Any) -> None:
    suffix = uuid.uuid4().hex[:6]
    clients = [("highqps", 90.0, 2.0, 999), ("lowqps", 4.0, 0.5, 1000)]
    plan = []
    try:
        for role, qps, multiplier, precedence in clients:
            user = f"{role}-{suffix}"
            level, fs = f"e2e-pl-{user}", f"e2e-fs-{user}"
            _create_priority_level(fc, level, 1)
            _create_flow_schema(fc, fs, precedence, level, [user])
            plan.append((user, qps, multiplier, level, fs))
        for _, _, _, level, fs in plan:
            _wait_for_steady_state(server, fc, fs, level)
        runs = []
        for user, qps, multiplier, level, _ in plan:
            real = _level_concurrency(server, level)
            assert real is not None
            runs.append((user, _client_concurrency(real, multiplier), qps))
        results = asyncio.run(_run_clients(server, runs))
        for (user, concurrency, qps), result in zip(runs, results, strict=True):
            _assert_completed(user, result, concurrency, qps)
    finally:
        _cleanup(fc, [p[4] for p in plan], [p[3] for p in plan])


def test_requests_cannot_be_drowned_out_by_fairness(server: ServerProcess, fc: Any) -> None:
    suffix = uuid.uuid4().hex[:6]
    level, fs = f"e2e-testing-prioritylevel-{suffix}", f"e2e-testing-flowschema-{suffix}"
    high, low = f"highqps-{suffix}", f"lowqps-{suffix}"
    _create_priority_level(fc, level, 1)
    _create_flow_schema(fc, fs, 1000, level, [high, low])
    try:
        _wait_for_steady_state(server, fc, fs, level)
        real = _level_concurrency(server, level)
        assert real is not None
        runs = [
            (high, _client_concurrency(real, 2.0), 90.0),
            (low, _client_concurrency(real, 0.5), 4.0),
        ]
        results = asyncio.run(_run_clients(server, runs))
        for (user, concurrency, qps), result in zip(runs, results, strict=True):
            _assert_completed(user, result, concurrency, qps)
    finally:
        _cleanup(fc, [fs], [level])


async def _run_clients(server: ServerProcess, runs: list[tuple[str, int, float]]) -> list[Any]:
    return list(
        await asyncio.gather(
            *(
                uniform_qps_load(
                    server.kubeconfig,
                    user=user,
                    concurrency=concurrency,
                    qps=qps,
                    seconds=LOAD_SECONDS,
                )
                for user, concurrency, qps in runs
            )
        )
    )
