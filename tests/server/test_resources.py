"""The REST handler in process: every verb, its errors, options and representations."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from apf.api.errors import StatusError
from apf.registry.store import Store
from apf.server.handlers.resources import ResourceHandler
from apf.server.http import Request, Response, StreamingResponse
from apf.storage.memory import MemoryStorage

Object = dict[str, Any]
BASE = "/apis/flowcontrol.apiserver.k8s.io/v1"
FS = f"{BASE}/flowschemas"
PL = f"{BASE}/prioritylevelconfigurations"
TABLE_ACCEPT = "application/json;as=Table;v=v1;g=meta.k8s.io"


def flow_schema(name: str = "fs-a", labels: dict[str, str] | None = None) -> Object:
    metadata: Object = {"name": name}
    if labels is not None:
        metadata["labels"] = labels
    return {
        "apiVersion": "flowcontrol.apiserver.k8s.io/v1",
        "kind": "FlowSchema",
        "metadata": metadata,
        "spec": {
            "priorityLevelConfiguration": {"name": "global-default"},
            "matchingPrecedence": 500,
            "rules": [
                {
                    "subjects": [{"kind": "User", "user": {"name": "alice"}}],
                    "nonResourceRules": [{"verbs": ["get"], "nonResourceURLs": ["/x"]}],
                }
            ],
        },
    }


def priority_level(name: str = "pl-a", shares: int = 5) -> Object:
    return {
        "apiVersion": "flowcontrol.apiserver.k8s.io/v1",
        "kind": "PriorityLevelConfiguration",
        "metadata": {"name": name},
        "spec": {
            "type": "Limited",
            "limited": {"nominalConcurrencyShares": shares, "limitResponse": {"type": "Reject"}},
        },
    }


def make_request(
    method: str,
    path: str,
    *,
    query: str = "",
    body: Any = None,
    content_type: str = "application/json",
    accept: str = "",
) -> Request:
    headers = {}
    raw = b""
    if body is not None:
        raw = body if isinstance(body, bytes) else orjson.dumps(body)
        if content_type:
            headers["content-type"] = content_type
    if accept:
        headers["accept"] = accept
    return Request(method=method, path=path, raw_query=query, headers=headers, body=raw)


@pytest.fixture
async def handler() -> AsyncIterator[ResourceHandler]:
    storage = MemoryStorage()
    await storage.start()
    try:
        yield ResourceHandler(
            Store(storage),
            versions=("v1", "v1beta3"),
            bookmark_interval_seconds=0.0,
            rng=random.Random(7),
        )
    finally:
        await storage.close()


async def call(handler: ResourceHandler, request: Request) -> tuple[int, Object]:
    """Run a request; StatusErrors come back as (code, Status) like the app renders them."""
    try:
        response = await handler.handle(request)
    except StatusError as exc:
        return exc.code, exc.to_status()
    assert isinstance(response, Response)
    return response.status, orjson.loads(response.body)


async def create(handler: ResourceHandler, path: str, obj: Object) -> Object:
    code, body = await call(handler, make_request("POST", path, body=obj))
    assert code == 201, body
    return body


async def watch_events(
    handler: ResourceHandler, path: str, query: str, count: int, *, accept: str = ""
) -> list[Object]:
    response = await handler.handle(make_request("GET", path, query=query, accept=accept))
    assert isinstance(response, StreamingResponse)
    events: list[Object] = []
    chunks = response.chunks
    try:
        async for chunk in chunks:
            events.append(orjson.loads(chunk))
            if len(events) == count:
                break
    finally:
        await chunks.aclose()  # type: ignore[attr-defined]
    return events


# ---------------------------------------------------------------- verbs


async def test_resources_create_get_list_roundtrip(handler: ResourceHandler) -> None:
    created = await create(handler, FS, flow_schema())

    code, got = await call(handler, make_request("GET", f"{FS}/fs-a"))
    _, listed = await call(handler, make_request("GET", FS))

    assert code == 200
    assert got["metadata"]["uid"] == created["metadata"]["uid"]
    assert got["kind"] == "FlowSchema"
    assert listed["kind"] == "FlowSchemaList"
    assert listed["apiVersion"] == "flowcontrol.apiserver.k8s.io/v1"
    assert [i["metadata"]["name"] for i in listed["items"]] == ["fs-a"]
    assert listed["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


async def test_resources_create_generates_name(handler: ResourceHandler) -> None:
    obj = flow_schema()
    obj["metadata"] = {"generateName": "e2e-"}

    created = await create(handler, FS, obj)

    assert created["metadata"]["name"].startswith("e2e-")
    assert len(created["metadata"]["name"]) == len("e2e-") + 5


async def test_resources_create_accepts_yaml(handler: ResourceHandler) -> None:
    body = b"""
apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: PriorityLevelConfiguration
metadata: {name: pl-y}
spec:
  type: Limited
  limited: {nominalConcurrencyShares: 3, limitResponse: {type: Reject}}
"""
    request = make_request("POST", PL, body=body, content_type="application/yaml")

    code, created = await call(handler, request)

    assert code == 201
    assert created["spec"]["limited"]["nominalConcurrencyShares"] == 3


async def test_resources_update_replaces_object(handler: ResourceHandler) -> None:
    created = await create(handler, PL, priority_level())
    created["spec"]["limited"]["nominalConcurrencyShares"] = 9

    code, updated = await call(handler, make_request("PUT", f"{PL}/pl-a", body=created))

    assert code == 200
    assert updated["spec"]["limited"]["nominalConcurrencyShares"] == 9
    assert updated["metadata"]["generation"] == 2


async def test_resources_delete_returns_success_status(handler: ResourceHandler) -> None:
    created = await create(handler, PL, priority_level())

    code, status = await call(handler, make_request("DELETE", f"{PL}/pl-a"))

    assert code == 200
    assert status == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": {
            "name": "pl-a",
            "group": "flowcontrol.apiserver.k8s.io",
            "kind": "prioritylevelconfigurations",
            "uid": created["metadata"]["uid"],
        },
    }
    assert (await call(handler, make_request("GET", f"{PL}/pl-a")))[0] == 404


async def test_resources_delete_body_without_content_type(handler: ResourceHandler) -> None:
    await create(handler, PL, priority_level())
    options = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}

    code, _ = await call(
        handler, make_request("DELETE", f"{PL}/pl-a", body=options, content_type="")
    )

    assert code == 200


async def test_resources_delete_checks_uid_precondition(handler: ResourceHandler) -> None:
    await create(handler, PL, priority_level())
    options = {"preconditions": {"uid": "not-the-uid"}}

    code, status = await call(handler, make_request("DELETE", f"{PL}/pl-a", body=options))

    assert (code, status["reason"]) == (409, "Conflict")


async def test_resources_delete_collection_by_label(handler: ResourceHandler) -> None:
    await create(handler, FS, flow_schema("a", {"team": "x"}))
    await create(handler, FS, flow_schema("b", {"team": "y"}))
    await create(handler, FS, flow_schema("c", {"team": "x"}))

    code, deleted = await call(handler, make_request("DELETE", FS, query="labelSelector=team=x"))
    _, remaining = await call(handler, make_request("GET", FS))

    assert code == 200
    assert deleted["kind"] == "FlowSchemaList"
    assert [i["metadata"]["name"] for i in deleted["items"]] == ["a", "c"]
    assert [i["metadata"]["name"] for i in remaining["items"]] == ["b"]


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("method", "path", "code"),
    [
        pytest.param("GET", f"{BASE}/pods", 404, id="unknown-resource"),
        pytest.param("GET", "/apis/flowcontrol.apiserver.k8s.io/v9/flowschemas", 404, id="ver"),
        pytest.param(
            "GET", "/apis/flowcontrol.apiserver.k8s.io/v1beta2/flowschemas", 404, id="unserved"
        ),
        pytest.param("GET", f"{FS}/a/scale", 404, id="unknown-subresource"),
        pytest.param("PUT", FS, 405, id="put-collection"),
        pytest.param("POST", f"{FS}/a", 405, id="post-item"),
        pytest.param("DELETE", f"{FS}/a/status", 405, id="delete-status"),
        pytest.param("POST", f"{FS}/a/status", 405, id="post-status"),
    ],
)
async def test_resources_rejects_paths_and_methods(
    handler: ResourceHandler, method: str, path: str, code: int
) -> None:
    status_code, status = await call(handler, make_request(method, path))

    assert status_code == code
    expected_reason = "NotFound" if code == 404 else "MethodNotAllowed"
    assert status["reason"] == expected_reason
    if code == 404:
        assert status["message"] == "the server could not find the requested resource"


async def test_resources_get_missing_is_not_found(handler: ResourceHandler) -> None:
    code, status = await call(handler, make_request("GET", f"{FS}/ghost"))

    assert code == 404
    assert status["message"] == 'flowschemas.flowcontrol.apiserver.k8s.io "ghost" not found'


async def test_resources_create_existing_is_already_exists(handler: ResourceHandler) -> None:
    await create(handler, FS, flow_schema())

    code, status = await call(handler, make_request("POST", FS, body=flow_schema()))

    assert (code, status["reason"]) == (409, "AlreadyExists")


async def test_resources_update_stale_is_conflict(handler: ResourceHandler) -> None:
    created = await create(handler, PL, priority_level())
    await call(handler, make_request("PUT", f"{PL}/pl-a", body=priority_level(shares=8)))

    code, status = await call(handler, make_request("PUT", f"{PL}/pl-a", body=created))

    assert (code, status["reason"]) == (409, "Conflict")
    assert status["message"].endswith(
        "the object has been modified; please apply your changes to the latest version "
        "and try again"
    )


async def test_resources_create_invalid_is_unprocessable(handler: ResourceHandler) -> None:
    obj = flow_schema()
    obj["spec"]["matchingPrecedence"] = 10001

    code, status = await call(handler, make_request("POST", FS, body=obj))

    assert (code, status["reason"]) == (422, "Invalid")
    assert status["details"]["causes"][0]["field"] == "spec.matchingPrecedence"


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        pytest.param(FS, priority_level(), "does not match the expected kind", id="kind"),
        pytest.param(
            FS,
            {**flow_schema(), "apiVersion": "apps/v1"},
            "the API version in the data (apps/v1) does not match",
            id="api-version",
        ),
        pytest.param(
            f"{FS}/other",
            flow_schema(),
            "the name of the object (fs-a) does not match the name on the URL (other)",
            id="name",
        ),
    ],
)
async def test_resources_rejects_mismatched_body(
    handler: ResourceHandler, path: str, body: Object, message: str
) -> None:
    method = "POST" if path == FS else "PUT"

    code, status = await call(handler, make_request(method, path, body=body))

    assert (code, status["reason"]) == (400, "BadRequest")
    assert message in status["message"]


async def test_resources_rejects_unknown_body_media_type(handler: ResourceHandler) -> None:
    request = make_request("POST", FS, body=b"x", content_type="text/plain")

    code, status = await call(handler, request)

    assert (code, status["reason"]) == (415, "UnsupportedMediaType")


@pytest.mark.parametrize(
    "accept",
    [
        pytest.param("application/vnd.kubernetes.protobuf", id="protobuf"),
        pytest.param("text/html", id="html"),
        pytest.param("application/json;as=Table;v=v9;g=meta.k8s.io", id="table-version"),
    ],
)
async def test_resources_rejects_unacceptable_media(handler: ResourceHandler, accept: str) -> None:
    code, status = await call(handler, make_request("GET", FS, accept=accept))

    assert (code, status["reason"]) == (406, "NotAcceptable")


@pytest.mark.parametrize(
    "accept",
    [
        pytest.param("application/json", id="json"),
        pytest.param("*/*", id="any"),
        pytest.param("application/*", id="application-any"),
        pytest.param("application/vnd.kubernetes.protobuf, application/json", id="fallback"),
    ],
)
async def test_resources_serves_json_for_accept(handler: ResourceHandler, accept: str) -> None:
    code, listed = await call(handler, make_request("GET", FS, accept=accept))

    assert (code, listed["kind"]) == (200, "FlowSchemaList")


# ---------------------------------------------------------------- options


async def test_resources_dry_run_create_stores_nothing(handler: ResourceHandler) -> None:
    code, created = await call(
        handler, make_request("POST", FS, query="dryRun=All", body=flow_schema())
    )

    assert code == 201
    assert created["metadata"]["uid"]
    assert (await call(handler, make_request("GET", f"{FS}/fs-a")))[0] == 404


async def test_resources_dry_run_rejects_unknown_value(handler: ResourceHandler) -> None:
    code, status = await call(
        handler, make_request("POST", FS, query="dryRun=Maybe", body=flow_schema())
    )

    assert code == 422
    assert status["message"] == (
        'CreateOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: '
        '[]string{"Maybe"}: supported values: "All"'
    )


async def test_resources_dry_run_delete_keeps_object(handler: ResourceHandler) -> None:
    await create(handler, PL, priority_level())

    code, _ = await call(handler, make_request("DELETE", f"{PL}/pl-a", query="dryRun=All"))

    assert code == 200
    assert (await call(handler, make_request("GET", f"{PL}/pl-a")))[0] == 200


def _with_unknown_field() -> Object:
    obj = flow_schema()
    obj["spec"]["foo"] = 1
    return obj


async def test_resources_field_validation_strict_rejects_unknown(handler: ResourceHandler) -> None:
    request = make_request("POST", FS, query="fieldValidation=Strict", body=_with_unknown_field())

    code, status = await call(handler, request)

    assert (code, status["reason"]) == (400, "BadRequest")
    assert status["message"] == (
        'FlowSchema in version "v1" cannot be handled as a FlowSchema: '
        'strict decoding error: unknown field "spec.foo"'
    )


async def test_resources_field_validation_warns_by_default(handler: ResourceHandler) -> None:
    request = make_request("POST", FS, body=_with_unknown_field())

    code, created = await call(handler, request)

    assert code == 201
    assert "foo" not in created["spec"]
    assert ("Warning", '299 - "unknown field \\"spec.foo\\""') in request.response_headers


async def test_resources_warning_of_a_field_named_with_control_characters_is_a_valid_header(
    handler: ResourceHandler,
) -> None:
    obj = flow_schema()
    obj["spec"]["a\nb\x7f"] = 1
    request = make_request("POST", FS, body=obj)

    code, _ = await call(handler, request)

    assert code == 201
    assert ("Warning", '299 - "unknown field \\"spec.a b \\""') in request.response_headers


async def test_resources_field_validation_reports_duplicates(handler: ResourceHandler) -> None:
    body = orjson.dumps(flow_schema())[:-1] + b',"kind":"FlowSchema"}'
    request = make_request("POST", FS, query="fieldValidation=Strict", body=body)

    code, status = await call(handler, request)

    assert code == 400
    assert 'duplicate field "kind"' in status["message"]


async def test_resources_field_validation_ignore_is_silent(handler: ResourceHandler) -> None:
    request = make_request("POST", FS, query="fieldValidation=Ignore", body=_with_unknown_field())

    code, _ = await call(handler, request)

    assert code == 201
    assert request.response_headers == []


# ---------------------------------------------------------------- list


@pytest.mark.parametrize(
    ("query", "names"),
    [
        pytest.param("labelSelector=team%3Dx", ["a", "c"], id="equals"),
        pytest.param("labelSelector=team%21%3Dx", ["b", "d"], id="not-equals"),
        pytest.param("labelSelector=team+in+%28x%2Cy%29", ["a", "b", "c"], id="in"),
        pytest.param("labelSelector=%21team", ["d"], id="not-exists"),
        pytest.param("fieldSelector=metadata.name%3Db", ["b"], id="name"),
        pytest.param("fieldSelector=metadata.namespace%3D", ["a", "b", "c", "d"], id="namespace"),
        pytest.param(
            "labelSelector=team%3Dx&fieldSelector=metadata.name%21%3Da", ["c"], id="both"
        ),
    ],
)
async def test_resources_list_filters_by_selectors(
    handler: ResourceHandler, query: str, names: list[str]
) -> None:
    await create(handler, FS, flow_schema("a", {"team": "x"}))
    await create(handler, FS, flow_schema("b", {"team": "y"}))
    await create(handler, FS, flow_schema("c", {"team": "x"}))
    await create(handler, FS, flow_schema("d"))

    code, listed = await call(handler, make_request("GET", FS, query=query))

    assert code == 200
    assert [i["metadata"]["name"] for i in listed["items"]] == names


@pytest.mark.parametrize(
    ("query", "message"),
    [
        pytest.param("labelSelector=a+in+b", "unable to parse", id="label-syntax"),
        pytest.param(
            "fieldSelector=spec.type%3DLimited", "field label not supported: spec.type", id="field"
        ),
        pytest.param("continue=bm90LWpzb24", "continue key is not valid", id="continue"),
        pytest.param("limit=x", "limit", id="limit"),
    ],
)
async def test_resources_list_rejects_bad_options(
    handler: ResourceHandler, query: str, message: str
) -> None:
    code, status = await call(handler, make_request("GET", FS, query=query))

    assert (code, status["reason"]) == (400, "BadRequest")
    assert message in status["message"]


async def test_resources_list_paginates_with_continue(handler: ResourceHandler) -> None:
    for name in ("e", "d", "c", "b", "a"):
        await create(handler, PL, priority_level(name))

    _, first = await call(handler, make_request("GET", PL, query="limit=2"))
    token = first["metadata"]["continue"]
    _, second = await call(handler, make_request("GET", PL, query=f"limit=2&continue={token}"))
    token = second["metadata"]["continue"]
    _, third = await call(handler, make_request("GET", PL, query=f"limit=2&continue={token}"))

    pages = [[i["metadata"]["name"] for i in p["items"]] for p in (first, second, third)]
    assert pages == [["a", "b"], ["c", "d"], ["e"]]
    assert first["metadata"]["remainingItemCount"] == 3
    assert "continue" not in third["metadata"]
    assert third["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]


async def test_resources_list_rejects_future_exact_resource_version(
    handler: ResourceHandler,
) -> None:
    created = await create(handler, PL, priority_level())
    rv = int(created["metadata"]["resourceVersion"])

    same = await call(
        handler, make_request("GET", PL, query=f"resourceVersion={rv}&resourceVersionMatch=Exact")
    )
    future = await call(handler, make_request("GET", PL, query=f"resourceVersion={rv + 5}"))
    no_rv = await call(handler, make_request("GET", PL, query="resourceVersionMatch=Exact"))

    assert same[0] == 200
    assert future[0] == 504
    assert no_rv[0] == 422


async def test_resources_list_as_table(handler: ResourceHandler) -> None:
    await create(handler, PL, priority_level())

    code, table = await call(
        handler,
        make_request("GET", PL, query="includeObject=Object", accept=TABLE_ACCEPT),
    )

    assert code == 200
    assert (table["kind"], table["apiVersion"]) == ("Table", "meta.k8s.io/v1")
    assert table["rows"][0]["object"]["metadata"]["name"] == "pl-a"
    assert table["rows"][0]["object"]["kind"] == "PriorityLevelConfiguration"


async def test_resources_get_as_table_with_metadata_rows(handler: ResourceHandler) -> None:
    await create(handler, PL, priority_level())

    _, table = await call(handler, make_request("GET", f"{PL}/pl-a", accept=TABLE_ACCEPT))

    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"


# ---------------------------------------------------------------- versions


async def test_resources_v1beta3_converts_and_warns(handler: ResourceHandler) -> None:
    obj = priority_level()
    obj["apiVersion"] = "flowcontrol.apiserver.k8s.io/v1beta3"
    path = "/apis/flowcontrol.apiserver.k8s.io/v1beta3/prioritylevelconfigurations"
    request = make_request("POST", path, body=obj)

    code, created = await call(handler, request)
    _, as_v1 = await call(handler, make_request("GET", f"{PL}/pl-a"))

    assert code == 201
    assert created["apiVersion"] == "flowcontrol.apiserver.k8s.io/v1beta3"
    assert as_v1["apiVersion"] == "flowcontrol.apiserver.k8s.io/v1"
    assert (
        "Warning",
        '299 - "flowcontrol.apiserver.k8s.io/v1beta3 PriorityLevelConfiguration is deprecated '
        "in v1.29+, unavailable in v1.32+; use flowcontrol.apiserver.k8s.io/v1 "
        'PriorityLevelConfiguration"',
    ) in request.response_headers


# ---------------------------------------------------------------- status subresource


async def test_resources_main_update_ignores_status(handler: ResourceHandler) -> None:
    created = await create(handler, FS, flow_schema())
    created["status"] = {"conditions": [{"type": "Dangling", "status": "True"}]}

    _, updated = await call(handler, make_request("PUT", f"{FS}/fs-a", body=created))

    assert updated["status"] == {}


async def test_resources_status_update_ignores_spec(handler: ResourceHandler) -> None:
    created = await create(handler, FS, flow_schema())
    created["spec"]["matchingPrecedence"] = 7777
    created["status"] = {"conditions": [{"type": "Dangling", "status": "True"}]}

    code, updated = await call(handler, make_request("PUT", f"{FS}/fs-a/status", body=created))

    assert code == 200
    assert updated["spec"]["matchingPrecedence"] == 500
    assert updated["status"]["conditions"][0]["type"] == "Dangling"
    assert updated["metadata"]["generation"] == 1


# ---------------------------------------------------------------- patch


async def test_resources_merge_patch_updates_spec_and_generation(
    handler: ResourceHandler,
) -> None:
    await create(handler, FS, flow_schema())
    body = {"metadata": {"annotations": {"p": "1"}}, "spec": {"matchingPrecedence": 600}}
    request = make_request(
        "PATCH", f"{FS}/fs-a", body=body, content_type="application/merge-patch+json"
    )

    code, patched = await call(handler, request)

    assert code == 200
    assert patched["metadata"]["annotations"] == {"p": "1"}
    assert patched["spec"]["matchingPrecedence"] == 600
    assert patched["metadata"]["generation"] == 2


async def test_resources_json_patch_test_failure_is_unprocessable(
    handler: ResourceHandler,
) -> None:
    await create(handler, FS, flow_schema())
    body = [{"op": "test", "path": "/spec/matchingPrecedence", "value": 1}]
    request = make_request(
        "PATCH", f"{FS}/fs-a", body=body, content_type="application/json-patch+json"
    )

    code, status = await call(handler, request)

    assert code == 422
    assert "testing value /spec/matchingPrecedence failed" in status["message"]


async def test_resources_json_patch_replaces_value(handler: ResourceHandler) -> None:
    await create(handler, PL, priority_level())
    body = [
        {"op": "replace", "path": "/spec/limited/nominalConcurrencyShares", "value": 12},
    ]
    request = make_request(
        "PATCH", f"{PL}/pl-a", body=body, content_type="application/json-patch+json"
    )

    code, patched = await call(handler, request)

    assert code == 200
    assert patched["spec"]["limited"]["nominalConcurrencyShares"] == 12


async def test_resources_strategic_patch_merges_conditions_by_type(
    handler: ResourceHandler,
) -> None:
    await create(handler, FS, flow_schema())
    path = f"{FS}/fs-a/status"
    first = {"status": {"conditions": [{"type": "A", "status": "True"}]}}
    second = {"status": {"conditions": [{"type": "B", "status": "False"}]}}
    smp = "application/strategic-merge-patch+json"
    await call(handler, make_request("PATCH", path, body=first, content_type=smp))

    code, patched = await call(handler, make_request("PATCH", path, body=second, content_type=smp))

    assert code == 200
    assert [c["type"] for c in patched["status"]["conditions"]] == ["A", "B"]


async def test_resources_status_patch_ignores_spec(handler: ResourceHandler) -> None:
    await create(handler, FS, flow_schema())
    body = {"spec": {"matchingPrecedence": 42}, "status": {"conditions": [{"type": "A"}]}}
    request = make_request(
        "PATCH", f"{FS}/fs-a/status", body=body, content_type="application/merge-patch+json"
    )

    _, patched = await call(handler, request)

    assert patched["spec"]["matchingPrecedence"] == 500
    assert patched["status"]["conditions"] == [{"type": "A"}]


async def test_resources_patch_with_stale_resource_version_conflicts(
    handler: ResourceHandler,
) -> None:
    created = await create(handler, PL, priority_level())
    await call(handler, make_request("PUT", f"{PL}/pl-a", body=priority_level(shares=8)))
    body = {"metadata": {"resourceVersion": created["metadata"]["resourceVersion"]}}
    request = make_request(
        "PATCH", f"{PL}/pl-a", body=body, content_type="application/merge-patch+json"
    )

    code, status = await call(handler, request)

    assert (code, status["reason"]) == (409, "Conflict")


async def test_resources_patch_missing_is_not_found(handler: ResourceHandler) -> None:
    request = make_request(
        "PATCH", f"{PL}/ghost", body={}, content_type="application/merge-patch+json"
    )

    code, _ = await call(handler, request)

    assert code == 404


async def test_resources_patch_invalid_result_is_unprocessable(handler: ResourceHandler) -> None:
    await create(handler, FS, flow_schema())
    request = make_request(
        "PATCH",
        f"{FS}/fs-a",
        body={"spec": {"matchingPrecedence": -3}},
        content_type="application/merge-patch+json",
    )

    code, _ = await call(handler, request)

    assert code == 422


async def test_resources_patch_rejects_plain_json(handler: ResourceHandler) -> None:
    await create(handler, FS, flow_schema())

    code, status = await call(handler, make_request("PATCH", f"{FS}/fs-a", body={}))

    assert (code, status["reason"]) == (415, "UnsupportedMediaType")


async def test_resources_apply_creates_then_updates(handler: ResourceHandler) -> None:
    apply = "application/apply-patch+yaml"
    body = orjson.dumps(priority_level("pl-s"))
    query = "fieldManager=test&force=true"

    created = await call(
        handler, make_request("PATCH", f"{PL}/pl-s", query=query, body=body, content_type=apply)
    )
    changed = priority_level("pl-s", shares=6)
    updated = await call(
        handler,
        make_request("PATCH", f"{PL}/pl-s", query=query, body=changed, content_type=apply),
    )

    assert created[0] == 201
    assert updated[0] == 200
    assert updated[1]["spec"]["limited"]["nominalConcurrencyShares"] == 6


async def test_resources_apply_requires_field_manager(handler: ResourceHandler) -> None:
    request = make_request(
        "PATCH",
        f"{PL}/pl-s",
        body=priority_level("pl-s"),
        content_type="application/apply-patch+yaml",
    )

    code, status = await call(handler, request)

    assert code == 422
    assert "fieldManager: Required value: is required for apply patch" in status["message"]


# ---------------------------------------------------------------- watch


async def test_resources_watch_from_zero_sends_current_objects(handler: ResourceHandler) -> None:
    await create(handler, PL, priority_level("a"))
    await create(handler, PL, priority_level("b"))

    events = await watch_events(handler, PL, "watch=1&resourceVersion=0", 2)

    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "a"),
        ("ADDED", "b"),
    ]


async def test_resources_watch_turns_selector_transitions_into_events(
    handler: ResourceHandler,
) -> None:
    created = await create(handler, FS, flow_schema("a", {"team": "x"}))
    start = created["metadata"]["resourceVersion"]
    for step, team in enumerate(("y", "x", "x")):
        obj = flow_schema("a", {"team": team})
        obj["metadata"]["annotations"] = {"step": str(step)}
        await call(handler, make_request("PUT", f"{FS}/a", body=obj))
    await call(handler, make_request("DELETE", f"{FS}/a"))

    events = await watch_events(
        handler, FS, f"watch=true&resourceVersion={start}&labelSelector=team%3Dx", 4
    )

    assert [e["type"] for e in events] == ["DELETED", "ADDED", "MODIFIED", "DELETED"]
    assert events[0]["object"]["metadata"]["labels"] == {"team": "x"}
    assert int(events[0]["object"]["metadata"]["resourceVersion"]) > int(start)


async def test_resources_watch_too_old_sends_expired_error(handler: ResourceHandler) -> None:
    await create(handler, PL, priority_level("a"))
    await create(handler, PL, priority_level("b"))
    storage = handler.store.storage
    await storage.compact(storage.current_revision())

    events = await watch_events(handler, PL, "watch=1&resourceVersion=1", 1)

    assert events[0]["type"] == "ERROR"
    status = events[0]["object"]
    assert (status["code"], status["reason"]) == (410, "Expired")
    assert status["message"].startswith("too old resource version: 1 (")


async def test_resources_watch_sends_bookmarks(handler: ResourceHandler) -> None:
    created = await create(handler, PL, priority_level("a"))
    rv = created["metadata"]["resourceVersion"]

    events = await watch_events(
        handler, PL, f"watch=1&resourceVersion={rv}&allowWatchBookmarks=true", 1
    )

    assert events == [
        {
            "type": "BOOKMARK",
            "object": {
                "kind": "PriorityLevelConfiguration",
                "apiVersion": "flowcontrol.apiserver.k8s.io/v1",
                "metadata": {"resourceVersion": rv},
            },
        }
    ]


async def test_resources_watch_marks_end_of_initial_events(handler: ResourceHandler) -> None:
    created = await create(handler, PL, priority_level("a"))
    query = (
        "watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true"
    )

    events = await watch_events(handler, PL, query, 2)

    assert events[0]["type"] == "ADDED"
    assert events[1]["type"] == "BOOKMARK"
    assert events[1]["object"]["metadata"] == {
        "resourceVersion": created["metadata"]["resourceVersion"],
        "annotations": {"k8s.io/initial-events-end": "true"},
    }


async def test_resources_watch_rejects_send_initial_events_without_match(
    handler: ResourceHandler,
) -> None:
    code, status = await call(
        handler, make_request("GET", PL, query="watch=1&sendInitialEvents=true")
    )

    assert code == 422
    assert "sendInitialEvents" in status["message"]


async def test_resources_watch_ends_at_default_timeout_and_reports_initialized(
    handler: ResourceHandler,
) -> None:
    await create(handler, PL, priority_level("a"))
    quick = ResourceHandler(handler.store, versions=("v1",), min_request_timeout_seconds=0.0)
    initialized: list[bool] = []
    request = make_request("GET", PL, query="watch=1&timeoutSeconds=0")
    request.on_initialized = lambda: initialized.append(True)

    response = await quick.handle(request)
    assert isinstance(response, StreamingResponse)
    chunks = [orjson.loads(c) async for c in response.chunks]

    assert [c["type"] for c in chunks] == ["ADDED"]
    assert initialized == [True]


async def test_resources_watch_single_object_by_name(handler: ResourceHandler) -> None:
    await create(handler, PL, priority_level("a"))
    await create(handler, PL, priority_level("b"))

    events = await watch_events(handler, f"{PL}/b", "watch=1&resourceVersion=0", 1)

    assert [e["object"]["metadata"]["name"] for e in events] == ["b"]


async def test_resources_watch_converts_to_url_version(handler: ResourceHandler) -> None:
    await create(handler, PL, priority_level("a"))
    path = "/apis/flowcontrol.apiserver.k8s.io/v1beta3/prioritylevelconfigurations"

    events = await watch_events(handler, path, "watch=1&resourceVersion=0", 1)

    assert events[0]["object"]["apiVersion"] == "flowcontrol.apiserver.k8s.io/v1beta3"


async def test_resources_get_as_partial_object_metadata(handler: ResourceHandler) -> None:
    await create(handler, PL, priority_level())
    accept = "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io"

    _, listed = await call(handler, make_request("GET", PL, accept=accept))

    assert listed["kind"] == "PartialObjectMetadataList"
    assert listed["items"][0]["metadata"]["name"] == "pl-a"
    assert "spec" not in listed["items"][0]


async def test_resources_get_as_yaml(handler: ResourceHandler) -> None:
    await create(handler, PL, priority_level())

    response = await handler.handle(make_request("GET", f"{PL}/pl-a", accept="application/yaml"))

    assert isinstance(response, Response)
    assert response.content_type == "application/yaml"
    assert b"kind: PriorityLevelConfiguration" in response.body


async def test_resources_field_problems_follow_document_order(handler: ResourceHandler) -> None:
    body = (
        b'{"apiVersion":"flowcontrol.apiserver.k8s.io/v1","kind":"PriorityLevelConfiguration",'
        b'"metadata":{"name":"pl-a","name":"pl-a","zz":1},"spec":{"type":"Limited",'
        b'"limited":{"limitResponse":{"type":"Reject"}},"type":"Limited","bad":true}}'
    )
    request = make_request("POST", PL, body=body)

    code, _ = await call(handler, request)

    assert code == 201
    assert [v for k, v in request.response_headers if k == "Warning"] == [
        '299 - "duplicate field \\"metadata.name\\""',
        '299 - "unknown field \\"metadata.zz\\""',
        '299 - "duplicate field \\"spec.type\\""',
        '299 - "unknown field \\"spec.bad\\""',
    ]


async def test_resources_patch_strict_reports_sorted_unknown_fields(
    handler: ResourceHandler,
) -> None:
    await create(handler, FS, flow_schema())
    request = make_request(
        "PATCH",
        f"{FS}/fs-a",
        query="fieldValidation=Strict",
        body=b'{"spec":{"zz":1,"aa":2,"matchingPrecedence":3,"matchingPrecedence":4}}',
        content_type="application/merge-patch+json",
    )

    code, status = await call(handler, request)

    assert code == 400
    assert status["message"] == (
        'strict decoding error: duplicate field "spec.matchingPrecedence", '
        'unknown field "spec.aa", unknown field "spec.zz"'
    )


async def test_resources_list_continue_shows_current_state(handler: ResourceHandler) -> None:
    for name in ("a", "b", "c", "d"):
        await create(handler, PL, priority_level(name))
    _, first = await call(handler, make_request("GET", PL, query="limit=2"))
    await call(handler, make_request("DELETE", f"{PL}/c"))
    token = first["metadata"]["continue"]

    _, second = await call(handler, make_request("GET", PL, query=f"limit=2&continue={token}"))

    assert [i["metadata"]["name"] for i in second["items"]] == ["d"]
    assert "continue" not in second["metadata"]


async def test_resources_watch_as_table_sends_columns_once(handler: ResourceHandler) -> None:
    await create(handler, PL, priority_level("a"))
    await create(handler, PL, priority_level("b"))

    events = await watch_events(handler, PL, "watch=1", 2, accept=TABLE_ACCEPT)

    assert [e["object"]["kind"] for e in events] == ["Table", "Table"]
    assert events[0]["object"]["columnDefinitions"]
    assert events[1]["object"]["columnDefinitions"] == []
    assert events[1]["object"]["rows"][0]["object"]["metadata"]["name"] == "b"


@pytest.mark.parametrize(
    ("query", "code", "message"),
    [
        pytest.param(
            "resourceVersionMatch=Exact",
            422,
            'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: '
            "resourceVersionMatch is forbidden unless resourceVersion is provided",
            id="match-without-rv",
        ),
        pytest.param(
            "resourceVersion=0&resourceVersionMatch=Exact",
            422,
            'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: '
            'resourceVersionMatch "exact" is forbidden for resourceVersion "0"',
            id="exact-zero",
        ),
        pytest.param(
            "resourceVersion=1&resourceVersionMatch=Newest",
            422,
            'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Unsupported value: '
            '"Newest": supported values: "Exact", "NotOlderThan", ""',
            id="unknown-match",
        ),
        pytest.param(
            "sendInitialEvents=true",
            422,
            'ListOptions.meta.k8s.io "" is invalid: sendInitialEvents: Forbidden: '
            "sendInitialEvents is forbidden for list",
            id="send-initial-on-list",
        ),
        pytest.param(
            "resourceVersion=5&continue=x",
            400,
            "specifying resource version is not allowed when using continue",
            id="continue-with-rv",
        ),
    ],
)
async def test_resources_list_validates_list_options(
    handler: ResourceHandler, query: str, code: int, message: str
) -> None:
    status_code, status = await call(handler, make_request("GET", PL, query=query))

    assert (status_code, status["message"]) == (code, message)


async def test_resources_watch_ends_when_watcher_falls_behind() -> None:
    storage = MemoryStorage(watcher_buffer=1)
    await storage.start()
    handler = ResourceHandler(Store(storage), versions=("v1",))
    response = await handler.handle(make_request("GET", PL, query="watch=1&resourceVersion=0"))
    assert isinstance(response, StreamingResponse)
    chunks = response.chunks
    pending = asyncio.ensure_future(anext(chunks))
    for _ in range(5):  # let the stream subscribe and block on its queue
        await asyncio.sleep(0)

    for name in ("a", "b", "c"):
        await create(handler, PL, priority_level(name))

    with pytest.raises(StopAsyncIteration):
        await pending
    await storage.close()
