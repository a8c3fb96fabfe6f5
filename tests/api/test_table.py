"""Tables of FlowSchemas and priority levels, and kubectl-style ages."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from apf.api import bootstrap
from apf.api.conversion import convert
from apf.api.kinds import FLOW_SCHEMA, PRIORITY_LEVEL
from apf.api.table import human_duration, to_table
from tests.api.mangle import mangled

Object = dict[str, Any]
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def created(obj: Object, timestamp: str = "2026-01-02T03:01:03Z") -> Object:
    copied = copy.deepcopy(obj)
    copied["metadata"]["creationTimestamp"] = timestamp
    return copied


def test_to_table_flow_schemas_sorted_by_precedence_then_name() -> None:
    schemas = [created(o) for o in reversed(bootstrap.SUGGESTED_FLOW_SCHEMAS)]

    table = to_table(FLOW_SCHEMA, schemas, now=NOW)

    names = [row["cells"][0] for row in table["rows"]]
    assert names[:2] == ["probes", "system-leader-election"]
    assert names.index("kube-controller-manager") < names.index("kube-scheduler")
    assert names[-1] == "global-default"


def test_to_table_flow_schema_cells_and_columns() -> None:
    schema = created(bootstrap.MANDATORY_FLOW_SCHEMAS[0])
    dangling = created(bootstrap.MANDATORY_FLOW_SCHEMAS[1])
    dangling["status"] = {"conditions": [{"type": "Dangling", "status": "False"}]}

    table = to_table(FLOW_SCHEMA, [dangling, schema], now=NOW)

    assert table["kind"] == "Table"
    assert table["apiVersion"] == "meta.k8s.io/v1"
    assert [c["name"] for c in table["columnDefinitions"]] == [
        "Name",
        "PriorityLevel",
        "MatchingPrecedence",
        "DistinguisherMethod",
        "Age",
        "MissingPL",
    ]
    assert table["columnDefinitions"][0]["format"] == "name"
    assert [r["cells"] for r in table["rows"]] == [
        ["exempt", "exempt", 1, "<none>", "3m2s", "?"],
        ["catch-all", "catch-all", 10000, "ByUser", "3m2s", "False"],
    ]


def test_to_table_rows_carry_partial_object_metadata() -> None:
    schema = created(bootstrap.MANDATORY_FLOW_SCHEMAS[0])

    row = to_table(FLOW_SCHEMA, [schema], now=NOW)["rows"][0]

    assert row["object"] == {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": schema["metadata"],
    }


@pytest.mark.parametrize("version", ["v1", "v1beta3", "v1beta1"])
def test_to_table_priority_level_cells(version: str) -> None:
    levels = [
        convert(created(o), version)
        for o in (*bootstrap.MANDATORY_PRIORITY_LEVELS, bootstrap.SUGGESTED_PRIORITY_LEVELS[-1])
    ]

    table = to_table(PRIORITY_LEVEL, levels, now=NOW)

    assert [c["name"] for c in table["columnDefinitions"]] == [
        "Name",
        "Type",
        "NominalConcurrencyShares",
        "Queues",
        "HandSize",
        "QueueLengthLimit",
        "Age",
    ]
    assert [r["cells"] for r in table["rows"]] == [
        ["exempt", "Exempt", "<none>", "<none>", "<none>", "<none>", "3m2s"],
        ["catch-all", "Limited", 5, "<none>", "<none>", "<none>", "3m2s"],
        ["global-default", "Limited", 20, 128, 6, 50, "3m2s"],
    ]


def test_to_table_age_unknown_without_creation_timestamp() -> None:
    level = copy.deepcopy(bootstrap.MANDATORY_PRIORITY_LEVELS[0])

    table = to_table(PRIORITY_LEVEL, [level], now=NOW)

    assert table["rows"][0]["cells"][-1] == "<unknown>"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-5, "<invalid>"),
        (-1, "0s"),
        (5, "5s"),
        (119, "119s"),
        (120, "2m"),
        (182, "3m2s"),
        (600, "10m"),
        (179 * 60 + 59, "179m"),
        (3 * 3600, "3h"),
        (7 * 3600 + 5 * 60, "7h5m"),
        (47 * 3600, "47h"),
        (51 * 3600, "2d3h"),
        (7 * 86400, "7d"),
        (400 * 86400, "400d"),
        (2 * 365 * 86400 + 3 * 86400, "2y3d"),
        (9 * 365 * 86400, "9y"),
    ],
)
def test_human_duration_matches_kubernetes(seconds: int, text: str) -> None:
    assert human_duration(seconds) == text


@pytest.mark.parametrize(
    "base",
    [bootstrap.MANDATORY_FLOW_SCHEMAS[1], bootstrap.SUGGESTED_PRIORITY_LEVELS[0]],
    ids=["flow-schema", "priority-level"],
)
def test_to_table_renders_a_row_when_values_have_wrong_types(base: Object) -> None:
    kind = FLOW_SCHEMA if base["kind"] == "FlowSchema" else PRIORITY_LEVEL

    for obj in mangled(created(base), seed=7, count=300):
        table = to_table(kind, [obj], now=NOW)
        assert len(table["rows"][0]["cells"]) == len(table["columnDefinitions"])
