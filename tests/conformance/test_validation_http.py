"""Every validation rule of the spec, through the real server: 422, reason Invalid, causes.

The rule tables are the API package's (``tests/api/test_validation.py``); here each
invalid object is sent as a client would, so the code, reason and field paths are
checked end to end. Defaulting runs first on the server, as in kube-apiserver.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest

from apf.api.errors import FieldError
from tests.api.test_validation import (
    FLOW_SCHEMA_CASES,
    PRIORITY_LEVEL_CASES,
    Mutation,
    flow_schema,
    priority_level,
)
from tests.support.k8s import GROUP, raw_request
from tests.support.server import ServerProcess


def _is_status_case(expected: list[FieldError]) -> bool:
    return all(e.field.startswith("status.") for e in expected)


def _send(server: ServerProcess, plural: str, base: dict[str, Any], mutate: Mutation) -> Any:
    api = server.api_client()
    obj = copy.deepcopy(base)
    if obj["metadata"].get("name"):
        obj["metadata"]["name"] = f"{obj['metadata']['name']}-{uuid.uuid4().hex[:6]}"
    obj["status"] = {}
    path = f"/apis/{GROUP}/v1/{plural}"
    if not _is_status_case_obj(mutate, obj):
        mutate(obj)
        return raw_request(api, "POST", path, body=obj)
    code, _, created = raw_request(api, "POST", path, body=obj)
    assert code == 201, created
    item = f"{path}/{created['metadata']['name']}"
    result: Any = None
    for _ in range(5):
        # The APF controller may write the Dangling condition meanwhile: retry on 409.
        _, _, current = raw_request(api, "GET", item)
        mutate(current)
        result = raw_request(api, "PUT", f"{item}/status", body=current)
        if result[0] != 409:
            break
    return result


def _is_status_case_obj(mutate: Mutation, obj: dict[str, Any]) -> bool:
    probe = copy.deepcopy(obj)
    mutate(probe)
    return probe.get("status") != obj.get("status") and probe.get("spec") == obj.get("spec")


def _check(result: Any, expected: list[FieldError]) -> None:
    code, _, body = result
    assert code == 422, body
    assert body["reason"] == "Invalid"
    got = {(c["field"], c["reason"]) for c in body["details"]["causes"]}
    assert {(e.field, str(e.type)) for e in expected} <= got, body["details"]["causes"]


@pytest.mark.parametrize(("mutate", "expected"), FLOW_SCHEMA_CASES)
def test_server_rejects_invalid_flowschema(
    server: ServerProcess, mutate: Mutation, expected: list[FieldError]
) -> None:
    _check(_send(server, "flowschemas", flow_schema(), mutate), expected)


@pytest.mark.parametrize(("mutate", "expected"), PRIORITY_LEVEL_CASES)
def test_server_rejects_invalid_priority_level(
    server: ServerProcess, mutate: Mutation, expected: list[FieldError]
) -> None:
    _check(_send(server, "prioritylevelconfigurations", priority_level(), mutate), expected)
