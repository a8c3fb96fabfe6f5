"""Conversion between served versions, and the real-world configurations."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from apf.api import bootstrap
from apf.api.conversion import PRESERVE_ZERO_ANNOTATION, convert, set_version_defaults
from apf.api.defaults import set_defaults
from apf.api.kinds import ALL_VERSIONS, BY_KIND
from apf.api.validation import validate
from tests.api.mangle import mangled

Object = dict[str, Any]
CONFIGS = sorted(Path("/work/shared/real-configs").glob("*.yaml"))
GROUP = "flowcontrol.apiserver.k8s.io"


def level(version: str, limited: Object, annotations: Object | None = None) -> Object:
    metadata: Object = {"name": "pl"}
    if annotations is not None:
        metadata["annotations"] = annotations
    return {
        "apiVersion": f"{GROUP}/{version}",
        "kind": "PriorityLevelConfiguration",
        "metadata": metadata,
        "spec": {"type": "Limited", "limited": limited},
    }


def real_objects() -> list[Any]:
    params = []
    for path in CONFIGS:
        for index, doc in enumerate(yaml.safe_load_all(path.read_text())):
            if doc:
                params.append(pytest.param(doc, id=f"{path.stem}-{index}"))
    return params


@pytest.mark.parametrize("doc", real_objects())
def test_convert_real_config_to_v1_validates(doc: Object) -> None:
    set_version_defaults(doc)
    hub = convert(doc, "v1")
    kind = BY_KIND[hub["kind"]]
    set_defaults(kind, hub)
    hub["metadata"].pop("namespace", None)  # the store clears it for cluster-scoped kinds

    assert hub["apiVersion"] == f"{GROUP}/v1"
    assert validate(kind, hub, None) == []


@pytest.mark.parametrize("doc", real_objects())
@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_convert_real_config_round_trips_through_version(doc: Object, version: str) -> None:
    set_version_defaults(doc)
    hub = convert(doc, "v1")

    back = convert(convert(hub, version), "v1")

    assert back == hub


@pytest.mark.parametrize(
    "obj",
    [
        pytest.param(o, id=o["metadata"]["name"])
        for o in (*bootstrap.MANDATORY_PRIORITY_LEVELS, *bootstrap.SUGGESTED_PRIORITY_LEVELS)
    ],
)
@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_convert_bootstrap_level_round_trips(obj: Object, version: str) -> None:
    assert convert(convert(obj, version), "v1") == obj


@pytest.mark.parametrize("version", ["v1beta1", "v1beta2"])
def test_convert_renames_shares_field_for_old_betas(version: str) -> None:
    hub = level("v1", {"nominalConcurrencyShares": 7, "lendablePercent": 0})

    beta = convert(hub, version)

    assert beta["apiVersion"] == f"{GROUP}/{version}"
    assert beta["spec"]["limited"] == {"assuredConcurrencyShares": 7, "lendablePercent": 0}


def test_convert_beta1_defaults_zero_assured_shares() -> None:
    beta = level("v1beta1", {"assuredConcurrencyShares": 0})

    hub = convert(beta, "v1")

    assert hub["spec"]["limited"]["nominalConcurrencyShares"] == 30


def test_convert_adds_preserve_annotation_when_v1beta3_shares_zero() -> None:
    hub = level("v1", {"nominalConcurrencyShares": 0, "lendablePercent": 0})

    beta = convert(hub, "v1beta3")

    assert beta["metadata"]["annotations"] == {PRESERVE_ZERO_ANNOTATION: ""}
    assert beta["spec"]["limited"]["nominalConcurrencyShares"] == 0


def test_convert_keeps_zero_and_drops_annotation_from_v1beta3() -> None:
    beta = level("v1beta3", {"nominalConcurrencyShares": 0}, {PRESERVE_ZERO_ANNOTATION: ""})

    hub = convert(beta, "v1")

    assert hub["spec"]["limited"]["nominalConcurrencyShares"] == 0
    assert "annotations" not in hub["metadata"]


def test_convert_defaults_zero_v1beta3_shares_without_annotation() -> None:
    beta = level("v1beta3", {"nominalConcurrencyShares": 0}, {"other": "x"})

    hub = convert(beta, "v1")

    assert hub["spec"]["limited"]["nominalConcurrencyShares"] == 30
    assert hub["metadata"]["annotations"] == {"other": "x"}


def test_convert_leaves_source_untouched() -> None:
    beta = level("v1beta2", {"assuredConcurrencyShares": 4})
    before = copy.deepcopy(beta)

    convert(beta, "v1")

    assert beta == before


def test_convert_converts_lists_item_by_item() -> None:
    listing: Object = {
        "apiVersion": f"{GROUP}/v1",
        "kind": "PriorityLevelConfigurationList",
        "metadata": {"resourceVersion": "5"},
        "items": [level("v1", {"nominalConcurrencyShares": 2})],
    }

    converted = convert(listing, "v1beta1")

    assert converted["apiVersion"] == f"{GROUP}/v1beta1"
    assert converted["items"][0]["apiVersion"] == f"{GROUP}/v1beta1"
    assert converted["items"][0]["spec"]["limited"]["assuredConcurrencyShares"] == 2


@pytest.mark.parametrize(
    ("api_version", "version"),
    [(f"{GROUP}/v2", "v1"), ("apps/v1", "v1"), (f"{GROUP}/v1", "v9")],
)
def test_convert_rejects_unknown_group_or_version(api_version: str, version: str) -> None:
    obj: Object = {"apiVersion": api_version, "kind": "FlowSchema", "metadata": {}}

    with pytest.raises(ValueError, match=r"apiVersion|unsupported version"):
        convert(obj, version)


def test_set_version_defaults_uses_the_object_version() -> None:
    beta = level("v1beta2", {"limitResponse": {"type": "Queue", "queuing": {}}})

    set_version_defaults(beta)

    assert beta["spec"]["limited"] == {
        "limitResponse": {
            "type": "Queue",
            "queuing": {"handSize": 8, "queues": 64, "queueLengthLimit": 50},
        },
        "assuredConcurrencyShares": 30,
        "lendablePercent": 0,
    }


def test_convert_list_items_without_type_meta_stay_without() -> None:
    item = level("v1beta2", {"assuredConcurrencyShares": 3})
    del item["apiVersion"], item["kind"]
    listing: Object = {
        "apiVersion": f"{GROUP}/v1beta2",
        "kind": "PriorityLevelConfigurationList",
        "items": [item],
    }

    converted = convert(listing, "v1")

    assert "apiVersion" not in converted["items"][0]
    assert converted["items"][0]["spec"]["limited"]["nominalConcurrencyShares"] == 3


@pytest.mark.parametrize(
    "base",
    [bootstrap.MANDATORY_FLOW_SCHEMAS[0], bootstrap.SUGGESTED_PRIORITY_LEVELS[0]],
    ids=["flow-schema", "priority-level"],
)
@pytest.mark.parametrize("version", ["v1beta1", "v1beta3"])
def test_convert_keeps_kind_when_values_have_wrong_types(base: Object, version: str) -> None:
    for obj in mangled(base, seed=11, count=300):
        there = convert(obj, version)
        back = convert(there, "v1")
        assert (there["kind"], back["apiVersion"]) == (base["kind"], f"{GROUP}/v1")
