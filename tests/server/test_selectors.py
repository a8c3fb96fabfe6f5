"""Label and field selector parsing and matching."""

from __future__ import annotations

from typing import Any

import pytest

from apf.server.selectors import (
    Operator,
    Requirement,
    UnsupportedField,
    parse_field_selector,
    parse_label_selector,
    parse_selection,
)

LABELS = {"app": "web", "tier": "front", "replicas": "3", "example.com/team": "blue"}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        pytest.param("", True, id="empty"),
        pytest.param("app=web", True, id="equals"),
        pytest.param("app==web", True, id="double-equals"),
        pytest.param("app=db", False, id="equals-other"),
        pytest.param("app!=db", True, id="not-equals"),
        pytest.param("missing!=db", True, id="not-equals-absent"),
        pytest.param("app!=web", False, id="not-equals-same"),
        pytest.param("app in (web, db)", True, id="in"),
        pytest.param("app in (db)", False, id="in-other"),
        pytest.param("app notin (db,cache)", True, id="notin"),
        pytest.param("missing notin (db)", True, id="notin-absent"),
        pytest.param("app notin (web)", False, id="notin-same"),
        pytest.param("app", True, id="exists"),
        pytest.param("missing", False, id="exists-absent"),
        pytest.param("!missing", True, id="not-exists"),
        pytest.param("!app", False, id="not-exists-present"),
        pytest.param("app=web,tier=front", True, id="and"),
        pytest.param("app=web,tier=back", False, id="and-one-fails"),
        pytest.param("app in (web,db),!missing,tier", True, id="mixed"),
        pytest.param("replicas>2", True, id="greater"),
        pytest.param("replicas<2", False, id="less"),
        pytest.param("example.com/team=blue", True, id="prefixed-key"),
        pytest.param("missing=", False, id="empty-value-absent"),
        pytest.param("app in (web,)", True, id="in-trailing-comma"),
    ],
)
def test_label_selector_matches_table(selector: str, expected: bool) -> None:
    parsed = parse_label_selector(selector)

    assert parsed.matches(LABELS) is expected


@pytest.mark.parametrize(
    "selector",
    [
        pytest.param("app=", id="empty-value-ok-marker"),
    ],
)
def test_label_selector_accepts_empty_value(selector: str) -> None:
    parsed = parse_label_selector(selector)

    assert parsed.requirements == (Requirement("app", Operator.EQUALS, ("",)),)


@pytest.mark.parametrize(
    "selector",
    [
        pytest.param("app in web", id="in-without-parens"),
        pytest.param("app in (web", id="unclosed"),
        pytest.param("=web", id="no-key"),
        pytest.param("app=web tier=front", id="missing-comma"),
        pytest.param("app=we b", id="space-in-value"),
        pytest.param("-app=web", id="bad-key"),
        pytest.param("app=web!", id="bad-value"),
        pytest.param("replicas>x", id="gt-not-integer"),
        pytest.param("app web", id="unknown-operator"),
        pytest.param("!", id="bang-alone"),
        pytest.param("app=" + "x" * 64, id="value-too-long"),
    ],
)
def test_label_selector_rejects_bad_syntax(selector: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        parse_label_selector(selector)


def _named(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name}}


@pytest.mark.parametrize(
    ("selector", "name", "expected"),
    [
        pytest.param("", "a", True, id="empty"),
        pytest.param("metadata.name=a", "a", True, id="equals"),
        pytest.param("metadata.name==a", "a", True, id="double-equals"),
        pytest.param("metadata.name=a", "b", False, id="equals-other"),
        pytest.param("metadata.name!=a", "b", True, id="not-equals"),
        pytest.param("metadata.namespace=", "a", True, id="namespace-empty"),
        pytest.param("metadata.namespace=default", "a", False, id="namespace-set"),
        pytest.param("metadata.name=a\\,b", "a,b", True, id="escaped-comma"),
        pytest.param("metadata.name=a,metadata.namespace!=x", "a", True, id="two-terms"),
    ],
)
def test_field_selector_matches_table(selector: str, name: str, expected: bool) -> None:
    parsed = parse_field_selector(selector)

    assert parsed.matches(_named(name)) is expected


def test_field_selector_rejects_unsupported_field() -> None:
    with pytest.raises(UnsupportedField, match=r"^field label not supported: spec\.type$"):
        parse_field_selector("spec.type=Limited")


def test_field_selector_rejects_term_without_operator() -> None:
    with pytest.raises(ValueError, match=r"invalid selector"):
        parse_field_selector("metadata.name")


def test_selection_matches_labels_and_fields_together() -> None:
    selection = parse_selection("app=web", "metadata.name=a")
    obj = {"metadata": {"name": "a", "labels": {"app": "web"}}}
    other = {"metadata": {"name": "b", "labels": {"app": "web"}}}

    assert (selection.matches(obj), selection.matches(other)) == (True, False)
