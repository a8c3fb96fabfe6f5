"""APF as HTTP clients see it: PF headers everywhere, metrics, debug dumps, APF off.

The exact 429 answer of a full level is checked in process (tests/server/test_app.py):
on a socket a quick request is finished before the next is read, so a level only fills
while its requests wait on I/O.
"""

from __future__ import annotations

import pytest

from tests.support.k8s import raw_request
from tests.support.server import ServerProcess, running_server


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
