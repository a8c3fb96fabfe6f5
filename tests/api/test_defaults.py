"""v1 defaulting (spec §2): nil versus zero, and what is never created."""

from __future__ import annotations

from typing import Any

import pytest

from apf.api.defaults import set_defaults
from apf.api.kinds import FLOW_SCHEMA, PRIORITY_LEVEL

Object = dict[str, Any]


def level(spec: Object) -> Object:
    return {"kind": "PriorityLevelConfiguration", "metadata": {"name": "x"}, "spec": spec}


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        pytest.param({}, 1000, id="absent"),
        pytest.param({"matchingPrecedence": 0}, 1000, id="zero"),
        pytest.param({"matchingPrecedence": 7}, 7, id="kept"),
    ],
)
def test_set_defaults_fills_matching_precedence(given: Object, expected: int) -> None:
    obj: Object = {"metadata": {"name": "fs"}, "spec": given}

    set_defaults(FLOW_SCHEMA, obj)

    assert obj["spec"]["matchingPrecedence"] == expected


def test_set_defaults_creates_flow_schema_spec_when_absent() -> None:
    obj: Object = {"metadata": {"name": "fs"}}

    set_defaults(FLOW_SCHEMA, obj)

    assert obj["spec"] == {"matchingPrecedence": 1000}


def test_set_defaults_leaves_distinguisher_absent() -> None:
    obj: Object = {"metadata": {"name": "fs"}, "spec": {"matchingPrecedence": 5}}

    set_defaults(FLOW_SCHEMA, obj)

    assert "distinguisherMethod" not in obj["spec"]


@pytest.mark.parametrize(
    ("limited", "shares"),
    [
        pytest.param({}, 30, id="absent"),
        pytest.param({"nominalConcurrencyShares": None}, 30, id="null"),
        pytest.param({"nominalConcurrencyShares": 0}, 0, id="explicit-zero-kept"),
        pytest.param({"nominalConcurrencyShares": 3}, 3, id="kept"),
    ],
)
def test_set_defaults_fills_nominal_shares_only_when_nil(limited: Object, shares: int) -> None:
    obj = level({"type": "Limited", "limited": limited})

    set_defaults(PRIORITY_LEVEL, obj)

    assert obj["spec"]["limited"]["nominalConcurrencyShares"] == shares
    assert obj["spec"]["limited"]["lendablePercent"] == 0


def test_set_defaults_keeps_borrowing_limit_and_response_type_unset() -> None:
    obj = level({"type": "Limited", "limited": {"limitResponse": {}}})

    set_defaults(PRIORITY_LEVEL, obj)

    assert obj["spec"]["limited"] == {
        "limitResponse": {},
        "nominalConcurrencyShares": 30,
        "lendablePercent": 0,
    }


def test_set_defaults_fills_each_queuing_number_independently() -> None:
    queuing: Object = {"queues": 4}
    obj = level({"type": "Limited", "limited": {"limitResponse": {"queuing": queuing}}})

    set_defaults(PRIORITY_LEVEL, obj)

    assert queuing == {"queues": 4, "handSize": 8, "queueLengthLimit": 50}


def test_set_defaults_fills_exempt_fields_only_when_exempt_present() -> None:
    with_exempt = level({"type": "Exempt", "exempt": {"lendablePercent": 5}})
    without = level({"type": "Exempt"})

    set_defaults(PRIORITY_LEVEL, with_exempt)
    set_defaults(PRIORITY_LEVEL, without)

    assert with_exempt["spec"]["exempt"] == {"lendablePercent": 5, "nominalConcurrencyShares": 0}
    assert without["spec"] == {"type": "Exempt"}


def test_set_defaults_defaults_each_list_item() -> None:
    items = [level({"type": "Limited", "limited": {}}) for _ in range(2)]
    listing: Object = {"kind": "PriorityLevelConfigurationList", "items": items}

    set_defaults(PRIORITY_LEVEL, listing)

    assert [i["spec"]["limited"]["nominalConcurrencyShares"] for i in items] == [30, 30]
