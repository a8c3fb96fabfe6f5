"""Defaulting of v1 FlowSchema and PriorityLevelConfiguration objects (spec §2).

Objects are wire-shaped JSON dicts. A key that is absent or ``null`` is Go's
nil; an explicit zero is a value. Pointer fields (``nominalConcurrencyShares``,
``lendablePercent`` in v1) are defaulted only when nil, so an explicit
``nominalConcurrencyShares: 0`` survives. Plain ``int32`` fields
(``matchingPrecedence``, the queuing numbers) are defaulted when zero or absent,
as Go cannot tell the two apart.
"""

from __future__ import annotations

from typing import Any

from apf.api.kinds import FLOW_SCHEMA, PRIORITY_LEVEL, Kind

DEFAULT_MATCHING_PRECEDENCE = 1000
DEFAULT_NOMINAL_CONCURRENCY_SHARES = 30
DEFAULT_LENDABLE_PERCENT = 0
DEFAULT_HAND_SIZE = 8
DEFAULT_QUEUES = 64
DEFAULT_QUEUE_LENGTH_LIMIT = 50

Object = dict[str, Any]


def set_defaults(kind: Kind, obj: Object) -> None:
    """Apply the v1 defaults of ``kind`` to ``obj`` in place; lists default item by item."""
    if isinstance(obj.get("items"), list) and "spec" not in obj:
        for item in obj["items"]:
            if isinstance(item, dict):
                set_defaults(kind, item)
        return
    if kind == FLOW_SCHEMA:
        default_flow_schema_spec(_spec(obj))
    elif kind == PRIORITY_LEVEL:
        default_priority_level_spec(_spec(obj))


def _spec(obj: Object) -> Object:
    """The object's spec, created empty when absent (Go always has a spec struct)."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        spec = obj["spec"] = {}
    return spec


def default_flow_schema_spec(spec: Object) -> None:
    """``matchingPrecedence`` 0 or absent becomes 1000."""
    if not spec.get("matchingPrecedence"):
        spec["matchingPrecedence"] = DEFAULT_MATCHING_PRECEDENCE


def default_priority_level_spec(spec: Object, *, shares_field: str = "") -> None:
    """Default ``spec.limited`` and ``spec.exempt`` when present; neither is created.

    ``shares_field`` names the limited shares field when it is not v1's pointer
    ``nominalConcurrencyShares`` (the beta versions default it when zero, see
    :mod:`apf.api.conversion`); by default the v1 nil-only rule applies.
    """
    limited = spec.get("limited")
    if isinstance(limited, dict):
        if shares_field:
            if not limited.get(shares_field):
                limited[shares_field] = DEFAULT_NOMINAL_CONCURRENCY_SHARES
        elif limited.get("nominalConcurrencyShares") is None:
            limited["nominalConcurrencyShares"] = DEFAULT_NOMINAL_CONCURRENCY_SHARES
        if limited.get("lendablePercent") is None:
            limited["lendablePercent"] = DEFAULT_LENDABLE_PERCENT
        response = limited.get("limitResponse")
        if isinstance(response, dict) and isinstance(response.get("queuing"), dict):
            default_queuing(response["queuing"])
    exempt = spec.get("exempt")
    if isinstance(exempt, dict):
        for field_name in ("nominalConcurrencyShares", "lendablePercent"):
            if exempt.get(field_name) is None:
                exempt[field_name] = 0


def default_queuing(queuing: Object) -> None:
    """Each of ``handSize``, ``queues``, ``queueLengthLimit`` defaults on its own when 0."""
    if not queuing.get("handSize"):
        queuing["handSize"] = DEFAULT_HAND_SIZE
    if not queuing.get("queues"):
        queuing["queues"] = DEFAULT_QUEUES
    if not queuing.get("queueLengthLimit"):
        queuing["queueLengthLimit"] = DEFAULT_QUEUE_LENGTH_LIMIT
