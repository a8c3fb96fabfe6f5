"""APF as HTTP clients see it: 429s, PF headers everywhere, metrics, debug dumps, APF off."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import aiohttp
import pytest
from kubernetes import client as k8s_client

from tests.support.k8s import flowcontrol, raw_request
from tests.support.server import ServerProcess, running_server

REJECT_BODY = "Too many requests, please try again later.\n"


@pytest.fixture(scope="module")
def tiny_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A server with 2 seats in all, so a burst saturates a level."""
    with running_server(
        tmp_path_factory.mktemp("apf-tiny"),
        "--max-requests-inflight=1",
        "--max-mutating-requests-inflight=1",
    ) as server:
        yield server


async def _bursts(
    server: ServerProcess, user: str, *, size: int, rounds: int
) -> list[tuple[int, str, dict[str, str]]]:
    """``rounds`` bursts of ``size`` simultaneous requests over warm keep-alive connections."""
    connector = aiohttp.TCPConnector(ssl=server.ssl_context(), limit=size)
    results: list[tuple[int, str, dict[str, str]]] = []
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one() -> None:
            headers = {"Impersonate-User": user}
            async with session.get(server.url + "/version", headers=headers) as response:
                results.append(
                    (
                        response.status,
                        await response.text(),
                        {k.lower(): v for k, v in response.headers.items()},
                    )
                )

        for _ in range(rounds):
            await asyncio.gather(*(one() for _ in range(size)))
            if any(status == 429 for status, _, _ in results):
                break
    return results


def _reject_level(fc: Any, name: str, user: str) -> None:
    fc.create_priority_level_configuration(
        k8s_client.V1PriorityLevelConfiguration(
            metadata=k8s_client.V1ObjectMeta(name=name),
            spec=k8s_client.V1PriorityLevelConfigurationSpec(
                type="Limited",
                limited=k8s_client.V1LimitedPriorityLevelConfiguration(
                    nominal_concurrency_shares=1,
                    limit_response=k8s_client.V1LimitResponse(type="Reject"),
                ),
            ),
        )
    )
    fc.create_flow_schema(
        k8s_client.V1FlowSchema(
            metadata=k8s_client.V1ObjectMeta(name=name),
            spec=k8s_client.V1FlowSchemaSpec(
                matching_precedence=500,
                priority_level_configuration=k8s_client.V1PriorityLevelConfigurationReference(
                    name=name
                ),
                rules=[
                    k8s_client.V1PolicyRulesWithSubjects(
                        subjects=[
                            k8s_client.FlowcontrolV1Subject(
                                kind="User", user=k8s_client.V1UserSubject(name=user)
                            )
                        ],
                        non_resource_rules=[
                            k8s_client.V1NonResourcePolicyRule(
                                verbs=["*"], non_resource_urls=["*"]
                            )
                        ],
                    )
                ],
            ),
        )
    )


def test_saturated_reject_level_answers_429_in_the_reference_format(
    tiny_server: ServerProcess,
) -> None:
    fc = flowcontrol(tiny_server.api_client())
    _reject_level(fc, "tiny-reject", "burster")
    level_uid = fc.read_priority_level_configuration("tiny-reject").metadata.uid
    results = asyncio.run(_bursts(tiny_server, "burster", size=100, rounds=20))
    statuses = Counter(status for status, _, _ in results)
    rejected = [r for r in results if r[0] == 429]
    assert rejected, f"no 429 in the bursts: {statuses}"
    _, body, headers = rejected[0]
    assert body == REJECT_BODY
    assert headers["content-type"] == "text/plain; charset=utf-8"
    assert headers["x-content-type-options"] == "nosniff"
    assert int(headers["retry-after"]) >= 1
    assert headers["x-kubernetes-pf-prioritylevel-uid"] == level_uid
    assert set(statuses) <= {200, 429}

    metrics = tiny_server.urlopen("/metrics").read().decode()
    assert "apiserver_flowcontrol_rejected_requests_total{" in metrics
    assert 'reason="concurrency-limit"' in metrics


def test_unknown_paths_are_classified_before_404(server: ServerProcess) -> None:
    code, headers, body = raw_request(server.api_client(), "GET", "/no/such/path")
    assert code == 404
    assert body["reason"] == "NotFound"
    assert headers["x-kubernetes-pf-flowschema-uid"]
    assert headers["x-kubernetes-pf-prioritylevel-uid"]


def test_metrics_expose_the_apf_families(server: ServerProcess) -> None:
    text = server.urlopen("/metrics").read().decode()
    for family in (
        "apiserver_flowcontrol_nominal_limit_seats",
        "apiserver_flowcontrol_current_limit_seats",
        "apiserver_flowcontrol_lower_limit_seats",
        "apiserver_flowcontrol_upper_limit_seats",
        "apiserver_flowcontrol_current_executing_requests",
        "apiserver_flowcontrol_current_executing_seats",
        "apiserver_flowcontrol_current_inqueue_requests",
        "apiserver_flowcontrol_dispatched_requests_total",
        "apiserver_flowcontrol_request_wait_duration_seconds",
        "apiserver_flowcontrol_request_execution_seconds",
        "apiserver_flowcontrol_seat_fair_frac",
        "apiserver_request_total",
        "apiserver_current_inflight_requests",
    ):
        assert family in text, family
    assert (
        'apiserver_flowcontrol_nominal_limit_seats{priority_level="global-default"} 49.0' in text
    )


def test_debug_dumps_have_the_reference_columns(server: ServerProcess) -> None:
    prefix = "/debug/api_priority_and_fairness/"
    levels = server.urlopen(prefix + "dump_priority_levels").read().decode()
    header = [c.strip() for c in levels.splitlines()[0].split(",")]
    assert header == [
        "PriorityLevelName",
        "ActiveQueues",
        "IsIdle",
        "IsQuiescing",
        "WaitingRequests",
        "ExecutingRequests",
        "DispatchedRequests",
        "RejectedRequests",
        "TimedoutRequests",
        "CancelledRequests",
    ]
    assert any(line.startswith("global-default") for line in levels.splitlines())
    queues = server.urlopen(prefix + "dump_queues").read().decode()
    assert queues.splitlines()[0].split(",")[0].strip() == "PriorityLevelName"
    requests = server.urlopen(prefix + "dump_requests?includeRequestDetails=1").read().decode()
    assert "UserName" in requests.splitlines()[0]


def test_disabled_apf_falls_back_to_max_in_flight(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    with running_server(
        tmp_path_factory.mktemp("apf-off"), "--enable-priority-and-fairness=false"
    ) as server:
        code, headers, body = raw_request(server.api_client(), "GET", "/version")
        assert code == 200
        assert body["major"] == "1"
        assert "x-kubernetes-pf-flowschema-uid" not in headers
