"""The schema table and the OpenAPI documents derived from it."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from apf.api import bootstrap
from apf.api.conversion import convert
from apf.api.kinds import ALL_VERSIONS, BY_KIND, FLOW_SCHEMA, GROUP, PRIORITY_LEVEL
from apf.api.schema import (
    known_fields,
    list_strategy,
    merge_key,
    openapi_v2,
    openapi_v3,
    prune,
    unknown_fields,
)

Object = dict[str, Any]
BOOTSTRAP = (
    *bootstrap.MANDATORY_FLOW_SCHEMAS,
    *bootstrap.SUGGESTED_FLOW_SCHEMAS,
    *bootstrap.MANDATORY_PRIORITY_LEVELS,
    *bootstrap.SUGGESTED_PRIORITY_LEVELS,
)


def with_system_fields(obj: Object) -> Object:
    full = copy.deepcopy(obj)
    full["metadata"].update(
        uid="u",
        resourceVersion="7",
        generation=1,
        creationTimestamp="2026-01-02T03:04:05Z",
        managedFields=[{"manager": "m", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}}],
        labels={"a": "b"},
    )
    full["status"] = {
        "conditions": [
            {
                "type": "Dangling",
                "status": "False",
                "lastTransitionTime": "2026-01-02T03:04:05Z",
                "reason": "Found",
                "message": "m",
            }
        ]
    }
    return full


@pytest.mark.parametrize("version", ALL_VERSIONS)
@pytest.mark.parametrize(
    "obj", [pytest.param(o, id=f"{o['kind']}-{o['metadata']['name']}") for o in BOOTSTRAP]
)
def test_unknown_fields_knows_every_bootstrap_field(obj: Object, version: str) -> None:
    versioned = convert(with_system_fields(obj), version)

    assert unknown_fields(BY_KIND[obj["kind"]], versioned, version) == []


def test_unknown_fields_finds_injected_fields_in_document_order() -> None:
    obj = copy.deepcopy(bootstrap.SUGGESTED_FLOW_SCHEMAS[0])
    obj["spec"]["foo"] = 1
    obj["spec"]["rules"][0]["subjects"][1]["group"]["extra"] = True

    found = unknown_fields(FLOW_SCHEMA, obj, "v1")

    assert found == ["spec.rules[0].subjects[1].group.extra", "spec.foo"]


def test_unknown_fields_reports_nominal_shares_in_old_betas() -> None:
    obj = copy.deepcopy(bootstrap.MANDATORY_PRIORITY_LEVELS[1])

    found = unknown_fields(PRIORITY_LEVEL, obj, "v1beta2")

    assert found == ["spec.limited.nominalConcurrencyShares"]


def test_prune_removes_only_unknown_fields() -> None:
    obj = copy.deepcopy(bootstrap.MANDATORY_FLOW_SCHEMAS[0])
    clean = copy.deepcopy(obj)
    obj["spec"]["foo"] = {"bar": 1}
    obj["spec"]["rules"][0]["resourceRules"][0]["zzz"] = []

    assert prune(FLOW_SCHEMA, obj, "v1") == clean


@pytest.mark.parametrize(
    ("path", "key", "strategy"),
    [
        pytest.param("status.conditions", "type", "merge", id="conditions"),
        pytest.param(("metadata", "ownerReferences"), "uid", "merge", id="owners"),
        pytest.param("spec.rules", None, "replace", id="rules"),
        pytest.param("spec.rules.subjects", None, "replace", id="subjects"),
        pytest.param("spec.nothing", None, "replace", id="unknown"),
    ],
)
def test_merge_key_and_list_strategy_follow_schema(
    path: str | tuple[str, ...], key: str | None, strategy: str
) -> None:
    assert merge_key(FLOW_SCHEMA, path) == key
    assert list_strategy(FLOW_SCHEMA, path) == strategy


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_openapi_v3_declares_kinds_with_group_version_kind(version: str) -> None:
    schemas = openapi_v3(version)["components"]["schemas"]

    for kind in ("FlowSchema", "PriorityLevelConfiguration", "FlowSchemaList"):
        schema = schemas[f"io.k8s.api.flowcontrol.{version}.{kind}"]
        gvk = {"group": GROUP, "kind": kind, "version": version}
        assert schema["x-kubernetes-group-version-kind"] == [gvk]
    assert "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta" in schemas


def test_openapi_v3_patch_operations_offer_field_validation_and_dry_run() -> None:
    paths = openapi_v3("v1")["paths"]
    item = f"/apis/{GROUP}/v1/flowschemas/{{name}}"

    for path in (item, f"{item}/status"):
        names = {p["name"] for p in paths[path]["patch"]["parameters"]}
        assert {"fieldValidation", "dryRun", "fieldManager", "force"} <= names
    create = {p["name"] for p in paths[f"/apis/{GROUP}/v1/flowschemas"]["post"]["parameters"]}
    assert {"fieldValidation", "dryRun"} <= create


def test_openapi_v3_marks_unions_and_list_types() -> None:
    schemas = openapi_v3("v1")["components"]["schemas"]
    subject = schemas["io.k8s.api.flowcontrol.v1.Subject"]
    spec = schemas["io.k8s.api.flowcontrol.v1.FlowSchemaSpec"]

    assert subject["x-kubernetes-unions"][0]["discriminator"] == "kind"
    assert subject["required"] == ["kind"]
    assert spec["properties"]["rules"]["x-kubernetes-list-type"] == "atomic"
    assert "matchingPrecedence" in spec["properties"]


def test_openapi_v3_names_assured_shares_in_old_betas() -> None:
    v1beta1 = openapi_v3("v1beta1")["components"]["schemas"]
    limited = v1beta1["io.k8s.api.flowcontrol.v1beta1.LimitedPriorityLevelConfiguration"]

    assert "assuredConcurrencyShares" in limited["properties"]
    assert "nominalConcurrencyShares" not in limited["properties"]


def test_openapi_v3_references_resolve() -> None:
    document = openapi_v3("v1beta3")
    names = set(document["components"]["schemas"])

    refs = list(_refs(document))

    assert refs
    assert {r.removeprefix("#/components/schemas/") for r in refs} <= names


def test_openapi_v3_rejects_unknown_version() -> None:
    with pytest.raises(ValueError, match="unsupported version"):
        openapi_v3("v2")


def test_openapi_v2_holds_every_version_with_resolvable_references() -> None:
    document = openapi_v2()

    assert document["swagger"] == "2.0"
    for version in ALL_VERSIONS:
        assert f"io.k8s.api.flowcontrol.{version}.FlowSchema" in document["definitions"]
        assert (
            f"/apis/{GROUP}/{version}/prioritylevelconfigurations/{{name}}" in (document["paths"])
        )
    refs = {r.removeprefix("#/definitions/") for r in _refs(document)}
    assert refs <= set(document["definitions"])


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        for value in node.values():
            found.extend(_refs(value))
        return found
    if isinstance(node, list):
        return [r for item in node for r in _refs(item)]
    return []


@pytest.mark.parametrize(
    ("path", "version", "expected"),
    [
        pytest.param("", "v1", {"apiVersion", "kind", "metadata", "spec", "status"}, id="top"),
        pytest.param(
            "spec.limited",
            "v1beta1",
            {
                "assuredConcurrencyShares",
                "borrowingLimitPercent",
                "lendablePercent",
                "limitResponse",
            },
            id="beta-limited",
        ),
        pytest.param("spec.limited.limitResponse.queuing.queues", "v1", None, id="scalar"),
        pytest.param("metadata.labels", "v1", None, id="map"),
        pytest.param("spec.nope", "v1", None, id="unknown"),
    ],
)
def test_known_fields_lists_declared_names(
    path: str, version: str, expected: set[str] | None
) -> None:
    found = known_fields(PRIORITY_LEVEL, path, version)

    assert found == (frozenset(expected) if expected is not None else None)
