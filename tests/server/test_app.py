"""The filter chain in process: a full level answers 429 exactly as kube-apiserver does.

A real socket rarely shows this deterministically: this server finishes a
quick request before it reads the next, so a level only fills while its
requests wait on I/O. Here the level's seat is taken through the engine
first, then a real request goes through the whole ASGI application.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, MutableMapping
from pathlib import Path
from typing import Any

import pytest

from apf.api.kinds import FLOW_SCHEMA, PRIORITY_LEVEL
from apf.flowcontrol import ensurer
from apf.flowcontrol.admission import AdmitOptions
from apf.flowcontrol.clock import RealClock
from apf.flowcontrol.controller import Controller
from apf.flowcontrol.digest import RequestDigest, UserInfo
from apf.flowcontrol.ticket import AdmissionTicket
from apf.registry.store import Store
from apf.server import requestinfo
from apf.server.app import ApiServer
from apf.server.options import ServerOptions
from apf.server.run import Readiness, build_filters
from apf.storage.memory import MemoryStorage

LEVEL = {
    "apiVersion": "flowcontrol.apiserver.k8s.io/v1",
    "kind": "PriorityLevelConfiguration",
    "metadata": {"name": "tiny"},
    "spec": {
        "type": "Limited",
        "limited": {"nominalConcurrencyShares": 1, "limitResponse": {"type": "Reject"}},
    },
}
SCHEMA = {
    "apiVersion": "flowcontrol.apiserver.k8s.io/v1",
    "kind": "FlowSchema",
    "metadata": {"name": "tiny"},
    "spec": {
        "priorityLevelConfiguration": {"name": "tiny"},
        "matchingPrecedence": 500,
        "rules": [
            {
                "subjects": [{"kind": "User", "user": {"name": "burster"}}],
                "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            }
        ],
    },
}


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[tuple[ApiServer, Controller]]:
    tokens = tmp_path / "tokens.csv"
    tokens.write_text("burster-token,burster,1001\n")
    store = Store(MemoryStorage())
    await ensurer.ensure_once(store)
    level = await store.create(PRIORITY_LEVEL, dict(LEVEL))
    await store.create(FLOW_SCHEMA, dict(SCHEMA))
    options = ServerOptions(
        token_auth_file=tokens, max_requests_inflight=1, max_mutating_requests_inflight=1
    )
    controller = Controller(store, RealClock(), server_concurrency_limit=2)
    await controller.start()
    await controller.wait_synced(PRIORITY_LEVEL, int(level["metadata"]["resourceVersion"]))
    yield (
        ApiServer(build_filters(options, store, controller, Readiness(), controller.metrics)),
        controller,
    )
    await controller.stop()


async def _get(app: ApiServer, path: str, token: str) -> tuple[int, dict[str, str], bytes]:
    messages: list[MutableMapping[str, Any]] = []
    inbox: list[dict[str, Any]] = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive() -> dict[str, Any]:
        if inbox:
            return inbox.pop()
        await asyncio.Event().wait()  # the client stays connected
        raise AssertionError("unreachable")

    async def send(message: MutableMapping[str, Any]) -> None:
        messages.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "query_string": b"",
        "headers": [(b"authorization", f"Bearer {token}".encode())],
    }
    await app(scope, receive, send)
    start = messages[0]
    headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    return start["status"], headers, b"".join(m.get("body", b"") for m in messages[1:])


async def test_app_answers_429_when_the_level_is_full(
    app: tuple[ApiServer, Controller],
) -> None:
    server, controller = app
    digest = RequestDigest(
        requestinfo.parse("GET", "/version", {}),
        # What authentication makes of the token's user.
        UserInfo("burster", uid="1001", groups=("system:authenticated",)),
    )
    # Take every seat the level has now (its limit moves with demand).
    holders: list[AdmissionTicket] = []
    while not holders or holders[-1].rejected is None:
        ticket = controller.admit_nowait(digest, AdmitOptions(received_at=time.monotonic()))
        assert isinstance(ticket, AdmissionTicket)  # a Reject level never queues
        holders.append(ticket)
    holder = holders[0]
    assert (holder.flow_schema_name, holder.priority_level_name) == ("tiny", "tiny")

    status, headers, body = await _get(server, "/version", "burster-token")

    assert status == 429
    assert body == b"Too many requests, please try again later.\n"
    assert headers["content-type"] == "text/plain; charset=utf-8"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["retry-after"] == "1"
    assert headers["x-kubernetes-pf-prioritylevel-uid"] == holder.priority_level_uid
    assert headers["x-kubernetes-pf-flowschema-uid"] == holder.flow_schema_uid
    for ticket in holders:
        ticket.finish()

    status, headers, _ = await _get(server, "/version", "burster-token")
    assert status == 200
