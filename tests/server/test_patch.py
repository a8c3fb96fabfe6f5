"""Merge patch, JSON patch, strategic merge patch and apply, on plain JSON documents."""

from __future__ import annotations

from typing import Any

import pytest

from apf.server.patch import (
    PatchError,
    apply_configuration,
    json_patch,
    merge_patch,
    strategic_merge_patch,
)


def _keys(path: tuple[str, ...]) -> str | None:
    return {("status", "conditions"): "type", ("items",): "name"}.get(path)


@pytest.mark.parametrize(
    ("target", "patch", "expected"),
    [
        pytest.param({"a": "b"}, {"a": "c"}, {"a": "c"}, id="replace"),
        pytest.param({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}, id="add"),
        pytest.param({"a": "b"}, {"a": None}, {}, id="delete"),
        pytest.param({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}, id="delete-one"),
        pytest.param({"a": ["b"]}, {"a": "c"}, {"a": "c"}, id="list-to-scalar"),
        pytest.param({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}, id="scalar-to-list"),
        pytest.param(
            {"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}, id="nest"
        ),
        pytest.param({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}, id="list-replaced"),
        pytest.param({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}, id="null-in-new"),
        pytest.param({"a": "b"}, ["c"], ["c"], id="array-patch"),
    ],
)
def test_merge_patch_follows_rfc7386_examples(target: Any, patch: Any, expected: Any) -> None:
    assert merge_patch(target, patch) == expected


def test_merge_patch_leaves_inputs_untouched() -> None:
    target = {"a": {"b": 1}}

    merge_patch(target, {"a": {"b": 2}})

    assert target == {"a": {"b": 1}}


@pytest.mark.parametrize(
    ("operations", "expected"),
    [
        pytest.param([{"op": "add", "path": "/b", "value": 2}], {"a": [1, 2], "b": 2}, id="add"),
        pytest.param(
            [{"op": "add", "path": "/a/1", "value": 9}], {"a": [1, 9, 2]}, id="add-into-list"
        ),
        pytest.param([{"op": "add", "path": "/a/-", "value": 3}], {"a": [1, 2, 3]}, id="append"),
        pytest.param([{"op": "remove", "path": "/a/0"}], {"a": [2]}, id="remove"),
        pytest.param([{"op": "replace", "path": "/a", "value": 0}], {"a": 0}, id="replace"),
        pytest.param([{"op": "move", "from": "/a", "path": "/c"}], {"c": [1, 2]}, id="move"),
        pytest.param(
            [{"op": "copy", "from": "/a/0", "path": "/c"}], {"a": [1, 2], "c": 1}, id="copy"
        ),
        pytest.param(
            [{"op": "test", "path": "/a/1", "value": 2}, {"op": "remove", "path": "/a"}],
            {},
            id="test-passes",
        ),
        pytest.param(
            [{"op": "add", "path": "/x~1y", "value": 1}], {"a": [1, 2], "x/y": 1}, id="escaped"
        ),
    ],
)
def test_json_patch_applies_operations(operations: Any, expected: Any) -> None:
    assert json_patch({"a": [1, 2]}, operations) == expected


@pytest.mark.parametrize(
    ("operations", "code", "message"),
    [
        pytest.param(
            [{"op": "test", "path": "/a", "value": 1}], 422, "testing value /a failed", id="test"
        ),
        pytest.param(
            [{"op": "test", "path": "/t", "value": 1}], 422, "testing value /t failed", id="bool"
        ),
        pytest.param([{"op": "remove", "path": "/zz"}], 422, "nonexistent key", id="missing"),
        pytest.param([{"op": "remove", "path": "/a/5"}], 422, "out of bounds", id="index"),
        pytest.param([{"op": "add", "path": "/q/r", "value": 1}], 422, "missing", id="parent"),
        pytest.param([{"op": "frob", "path": "/a"}], 400, "Unexpected kind", id="unknown-op"),
        pytest.param([{"op": "add", "path": "/b"}], 400, "value", id="no-value"),
        pytest.param({"op": "add"}, 400, "cannot unmarshal", id="not-a-list"),
    ],
)
def test_json_patch_reports_failures(operations: Any, code: int, message: str) -> None:
    with pytest.raises(PatchError, match=message) as caught:
        json_patch({"a": [1, 2], "t": True}, operations)

    assert caught.value.code == code


def test_strategic_merge_patch_merges_conditions_by_type() -> None:
    target = {
        "status": {
            "conditions": [
                {"type": "Dangling", "status": "True", "reason": "NotFound"},
                {"type": "Other", "status": "False"},
            ]
        }
    }
    patch = {"status": {"conditions": [{"type": "Dangling", "status": "False"}, {"type": "New"}]}}

    result = strategic_merge_patch(target, patch, _keys)

    assert result["status"]["conditions"] == [
        {"type": "Dangling", "status": "False", "reason": "NotFound"},
        {"type": "Other", "status": "False"},
        {"type": "New"},
    ]


def test_strategic_merge_patch_deletes_list_element_by_directive() -> None:
    target = {"items": [{"name": "a"}, {"name": "b"}]}
    patch = {"items": [{"name": "a", "$patch": "delete"}]}

    assert strategic_merge_patch(target, patch, _keys) == {"items": [{"name": "b"}]}


def test_strategic_merge_patch_replaces_list_by_directive() -> None:
    target = {"items": [{"name": "a"}, {"name": "b"}]}
    patch = {"items": [{"$patch": "replace"}, {"name": "c"}]}

    assert strategic_merge_patch(target, patch, _keys) == {"items": [{"name": "c"}]}


def test_strategic_merge_patch_replaces_atomic_lists() -> None:
    target = {"spec": {"rules": [{"a": 1}, {"b": 2}]}}
    patch = {"spec": {"rules": [{"c": 3}]}}

    assert strategic_merge_patch(target, patch, _keys) == {"spec": {"rules": [{"c": 3}]}}


def test_strategic_merge_patch_map_directives() -> None:
    target = {"spec": {"a": 1, "b": {"c": 2}}, "meta": {"x": 1, "y": 2}}
    patch = {
        "spec": {"$patch": "replace", "z": 1},
        "meta": {"$retainKeys": ["x", "w"], "w": 3},
    }

    result = strategic_merge_patch(target, patch, _keys)

    assert result == {"spec": {"z": 1}, "meta": {"x": 1, "w": 3}}


def test_strategic_merge_patch_deletes_map_by_directive_and_null() -> None:
    target = {"spec": {"a": 1}, "other": 2, "keep": 3}
    patch = {"spec": {"$patch": "delete"}, "other": None}

    assert strategic_merge_patch(target, patch, _keys) == {"keep": 3}


def test_strategic_merge_patch_orders_by_set_element_order() -> None:
    target = {"items": [{"name": "a"}, {"name": "b"}]}
    patch = {"$setElementOrder/items": [{"name": "b"}, {"name": "a"}], "items": [{"name": "b"}]}

    assert strategic_merge_patch(target, patch, _keys) == {"items": [{"name": "b"}, {"name": "a"}]}


def test_strategic_merge_patch_rejects_element_without_merge_key() -> None:
    with pytest.raises(PatchError, match="does not contain declared merge key: name"):
        strategic_merge_patch({"items": [{"name": "a"}]}, {"items": [{"x": 1}]}, _keys)


def test_strategic_merge_patch_rejects_unknown_directive() -> None:
    with pytest.raises(PatchError, match="Unknown patch type: frob"):
        strategic_merge_patch({}, {"spec": {"$patch": "frob"}}, _keys)


def test_apply_configuration_creates_when_live_missing() -> None:
    applied = {"metadata": {"name": "a"}, "spec": {"x": 1}}

    assert apply_configuration(None, applied, _keys) == applied


def test_apply_configuration_keeps_fields_it_does_not_set() -> None:
    live = {"metadata": {"name": "a", "uid": "u"}, "spec": {"x": 1, "y": 2}}
    applied = {"metadata": {"name": "a"}, "spec": {"x": 5, "z": None}}

    result = apply_configuration(live, applied, _keys)

    assert result == {"metadata": {"name": "a", "uid": "u"}, "spec": {"x": 5, "y": 2}}
