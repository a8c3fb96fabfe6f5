"""Port of the conformance tests "should support FlowSchema/PriorityLevelConfiguration API
operations", step by step, with the official client against the real server."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from kubernetes import client as k8s_client
from kubernetes.client.exceptions import ApiException

from tests.support.k8s import GROUP, BackgroundWatch, flowcontrol, raw_request, retry_on_conflict
from tests.support.server import ServerProcess

MERGE_PATCH = "application/merge-patch+json"


@dataclass
class KindUnderTest:
    """The client calls for one kind, so one scenario covers both."""

    plural: str
    kind: str
    new: Callable[[str, dict[str, str]], Any]
    prefix: str

    def method(self, api: Any, verb: str) -> Any:
        snake = "flow_schema" if self.kind == "FlowSchema" else "priority_level_configuration"
        return getattr(api, verb.format(snake))

    def call(self, api: Any, verb: str, *args: Any, **kwargs: Any) -> Any:
        return self.method(api, verb)(*args, **kwargs)


def _new_flow_schema(prefix: str, labels: dict[str, str]) -> Any:
    return k8s_client.V1FlowSchema(
        metadata=k8s_client.V1ObjectMeta(generate_name=prefix, labels=labels),
        spec=k8s_client.V1FlowSchemaSpec(
            matching_precedence=10000,
            priority_level_configuration=k8s_client.V1PriorityLevelConfigurationReference(
                name="global-default"
            ),
            rules=[
                k8s_client.V1PolicyRulesWithSubjects(
                    subjects=[
                        k8s_client.FlowcontrolV1Subject(
                            kind="User", user=k8s_client.V1UserSubject(name="example-e2e-user")
                        )
                    ],
                    non_resource_rules=[
                        k8s_client.V1NonResourcePolicyRule(
                            verbs=["*"], non_resource_urls=["/example-e2e-path"]
                        )
                    ],
                )
            ],
        ),
    )


def _new_priority_level(prefix: str, labels: dict[str, str]) -> Any:
    return k8s_client.V1PriorityLevelConfiguration(
        metadata=k8s_client.V1ObjectMeta(generate_name=prefix, labels=labels),
        spec=k8s_client.V1PriorityLevelConfigurationSpec(
            type="Limited",
            limited=k8s_client.V1LimitedPriorityLevelConfiguration(
                nominal_concurrency_shares=2,
                limit_response=k8s_client.V1LimitResponse(type="Reject"),
            ),
        ),
    )


KINDS = [
    pytest.param(
        KindUnderTest("flowschemas", "FlowSchema", _new_flow_schema, "e2e-example-fs-"),
        id="flowschema",
    ),
    pytest.param(
        KindUnderTest(
            "prioritylevelconfigurations",
            "PriorityLevelConfiguration",
            _new_priority_level,
            "e2e-example-pl-",
        ),
        id="prioritylevelconfiguration",
    ),
]


def test_discovery_lists_group_version_and_status_resources(server: ServerProcess) -> None:
    api = server.api_client()
    groups = k8s_client.ApisApi(api).get_api_versions()
    group = next(g for g in groups.groups if g.name == GROUP)
    assert any(v.version == "v1" for v in group.versions)
    assert group.preferred_version is not None
    assert group.preferred_version.version == "v1"
    resources = flowcontrol(api).get_api_resources()
    names = {r.name for r in resources.resources}
    assert {
        "flowschemas",
        "flowschemas/status",
        "prioritylevelconfigurations",
        "prioritylevelconfigurations/status",
    } <= names


@pytest.mark.parametrize("kut", KINDS)
def test_api_operations_follow_the_conformance_steps(
    server: ServerProcess, kut: KindUnderTest
) -> None:
    api = server.api_client()
    fc = flowcontrol(api)
    label_value = uuid.uuid4().hex[:8]
    labels = {"e2e-label": label_value}
    selector = f"e2e-label={label_value}"

    # create three objects from one generateName template
    created = [kut.call(fc, "create_{}", kut.new(kut.prefix, labels)) for _ in range(3)]
    names = [o.metadata.name for o in created]
    assert len(set(names)) == 3
    assert all(n.startswith(kut.prefix) and len(n) == len(kut.prefix) + 5 for n in names)

    # get
    got = kut.call(fc, "read_{}", names[0])
    assert got.metadata.uid == created[0].metadata.uid

    # list by label, then watch from the list's resourceVersion
    listed = kut.call(fc, "list_{}", label_selector=selector)
    assert sorted(o.metadata.name for o in listed.items) == sorted(names)
    watch = BackgroundWatch(
        kut.method(fc, "list_{}"),
        label_selector=selector,
        resource_version=listed.metadata.resource_version,
        timeout_seconds=60,
    )
    try:
        _patch_update_and_watch(fc, kut, names[0], watch)
    finally:
        watch.stop()

    _status_steps(api, fc, kut, names[0], created[0].metadata.uid)

    # delete, then 404
    kut.call(fc, "delete_{}", names[0])
    with pytest.raises(ApiException) as excinfo:
        kut.call(fc, "read_{}", names[0])
    assert excinfo.value.status == 404
    assert len(kut.call(fc, "list_{}", label_selector=selector).items) == 2

    # deletecollection by label, then the list is empty
    kut.call(fc, "delete_collection_{}", label_selector=selector)
    assert kut.call(fc, "list_{}", label_selector=selector).items == []


def _patch_update_and_watch(
    fc: Any, kut: KindUnderTest, name: str, watch: BackgroundWatch
) -> None:
    # merge patch of an annotation plus a spec field
    if kut.kind == "FlowSchema":
        spec_patch: dict[str, Any] = {"matchingPrecedence": 9999}
    else:
        spec_patch = {"limited": {"nominalConcurrencyShares": 4}}
    patched = kut.call(
        fc,
        "patch_{}",
        name,
        {"metadata": {"annotations": {"patched": "true"}}, "spec": spec_patch},
        _content_type=MERGE_PATCH,
    )
    assert patched.metadata.annotations["patched"] == "true"
    if kut.kind == "FlowSchema":
        assert patched.spec.matching_precedence == 9999
    else:
        assert patched.spec.limited.nominal_concurrency_shares == 4

    # update with retry on conflict
    def update() -> Any:
        current = kut.call(fc, "read_{}", name)
        current.metadata.annotations["updated"] = "true"
        return kut.call(fc, "replace_{}", name, current)

    updated = retry_on_conflict(update)
    assert updated.metadata.annotations["updated"] == "true"

    # the watch delivers MODIFIED events carrying the patched annotation
    event = watch.wait_for(
        lambda e: (
            e["type"] == "MODIFIED"
            and (e["object"].metadata.annotations or {}).get("patched") == "true"
        )
    )
    assert event["object"].metadata.name == name


def _status_steps(api: Any, fc: Any, kut: KindUnderTest, name: str, uid: str) -> None:
    # get /status through a generic call
    code, _, status_obj = raw_request(api, "GET", f"/apis/{GROUP}/v1/{kut.plural}/{name}/status")
    assert code == 200
    assert status_obj["kind"] == kut.kind
    assert status_obj["metadata"]["uid"] == uid

    # merge-patch /status adding a condition
    condition = {
        "type": "StatusPatched",
        "status": "True",
        "reason": "E2E",
        "message": "Set from an e2e test",
    }
    patched = kut.call(
        fc,
        "patch_{}_status",
        name,
        {"status": {"conditions": [condition]}},
        _content_type=MERGE_PATCH,
    )
    assert any(c.type == "StatusPatched" for c in patched.status.conditions)

    # update /status adding another condition
    def update_status() -> Any:
        current = kut.call(fc, "read_{}_status", name)
        current.status.conditions.append(
            type(current.status.conditions[0])(
                type="StatusUpdated", status="True", reason="E2E", message="Set from an e2e test"
            )
        )
        return kut.call(fc, "replace_{}_status", name, current)

    updated = retry_on_conflict(update_status)
    types = {c.type for c in updated.status.conditions}
    assert {"StatusPatched", "StatusUpdated"} <= types
