"""``meta.k8s.io/v1`` Tables of FlowSchemas and priority levels, as ``kubectl get`` shows them.

Columns and cells follow kube-apiserver's printers (spec §13): FlowSchemas are
sorted by matching precedence, then name; ages are rendered the way
Kubernetes' ``HumanDuration`` does. Each row embeds the object's metadata as a
``PartialObjectMetadata``; the caller may swap in the full object.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from apf.api.kinds import FLOW_SCHEMA, Kind

Object = dict[str, Any]
NONE = "<none>"

_NAME_DOC = "Name must be unique within its kind. It is used to refer to the object."
_AGE_DOC = "CreationTimestamp is when the server created the object; shown as the time since then."
_FLOW_SCHEMA_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("Name", _NAME_DOC, "name"),
    ("PriorityLevel", "The name of the priority level matching requests are sent to.", ""),
    ("MatchingPrecedence", "The order in which schemas are tried: lower values first.", ""),
    ("DistinguisherMethod", "How matching requests are split into flows.", ""),
    ("Age", _AGE_DOC, ""),
    ("MissingPL", "references a broken or non-existent PriorityLevelConfiguration", ""),
)
_PRIORITY_LEVEL_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("Name", _NAME_DOC, "name"),
    ("Type", "Exempt levels are never limited; Limited levels get a concurrency share.", ""),
    (
        "NominalConcurrencyShares",
        "This level's share of the server's concurrency limit.",
        "",
    ),
    ("Queues", "The number of queues of this level.", ""),
    ("HandSize", "How many queues each flow may use.", ""),
    ("QueueLengthLimit", "How many requests may wait in one queue.", ""),
    ("Age", _AGE_DOC, ""),
)


def to_table(kind: Kind, objects: list[Object], *, now: datetime) -> Object:
    """A Table of ``objects`` of ``kind`` (any served version); ``now`` dates the Age column."""
    if kind == FLOW_SCHEMA:
        columns = _FLOW_SCHEMA_COLUMNS
        ordered = sorted(objects, key=_precedence_then_name)
        cells = [_flow_schema_cells(o, now) for o in ordered]
    else:
        columns = _PRIORITY_LEVEL_COLUMNS
        ordered = list(objects)
        cells = [_priority_level_cells(o, now) for o in ordered]
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {},
        "columnDefinitions": [
            {"name": name, "type": "string", "format": fmt, "description": doc, "priority": 0}
            for name, doc, fmt in columns
        ],
        "rows": [
            {"cells": row, "object": _partial_metadata(obj)}
            for row, obj in zip(cells, ordered, strict=True)
        ],
    }


def _partial_metadata(obj: Object) -> Object:
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": copy.deepcopy(_metadata(obj)),
    }


def _precedence_then_name(obj: Object) -> tuple[int, str]:
    precedence = _integer(_dig(obj, "spec", "matchingPrecedence"))
    return precedence, str(_metadata(obj).get("name") or "")


def _metadata(obj: Object) -> Object:
    metadata = obj.get("metadata")
    return metadata if isinstance(metadata, dict) else {}


def _dig(obj: object, *keys: str) -> Any:
    """The value under ``keys``, or None where a level is missing or not an object."""
    for key in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _integer(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _flow_schema_cells(obj: Object, now: datetime) -> list[Any]:
    distinguisher = _dig(obj, "spec", "distinguisherMethod", "type")
    missing = "?"
    conditions = _dig(obj, "status", "conditions")
    for condition in conditions if isinstance(conditions, list) else []:
        if isinstance(condition, dict) and condition.get("type") == "Dangling":
            missing = str(condition.get("status") or "")
    return [
        _metadata(obj).get("name", ""),
        _dig(obj, "spec", "priorityLevelConfiguration", "name") or "",
        _integer(_dig(obj, "spec", "matchingPrecedence")),
        distinguisher if distinguisher is not None else NONE,
        age(_metadata(obj).get("creationTimestamp"), now),
        missing,
    ]


def _priority_level_cells(obj: Object, now: datetime) -> list[Any]:
    spec = _dig(obj, "spec")
    spec = spec if isinstance(spec, dict) else {}
    shares: Any = NONE
    queues: Any = NONE
    hand_size: Any = NONE
    length_limit: Any = NONE
    limited = spec.get("limited")
    if spec.get("type") == "Limited" and isinstance(limited, dict):
        # The old betas call the shares field assuredConcurrencyShares.
        shares = limited.get("nominalConcurrencyShares", limited.get("assuredConcurrencyShares"))
        shares = _integer(shares)
        queuing = _dig(limited, "limitResponse", "queuing")
        if isinstance(queuing, dict):
            queues = _integer(queuing.get("queues"))
            hand_size = _integer(queuing.get("handSize"))
            length_limit = _integer(queuing.get("queueLengthLimit"))
    return [
        _metadata(obj).get("name", ""),
        spec.get("type", ""),
        shares,
        queues,
        hand_size,
        length_limit,
        age(_metadata(obj).get("creationTimestamp"), now),
    ]


def age(timestamp: object, now: datetime) -> str:
    """The time since an RFC 3339 ``timestamp``, as kubectl shows it; ``<unknown>`` if none."""
    if not isinstance(timestamp, str) or not timestamp:
        return "<unknown>"
    try:
        created = datetime.fromisoformat(timestamp)
    except ValueError:
        return "<unknown>"
    return human_duration((now - created).total_seconds())


def human_duration(seconds_elapsed: float) -> str:
    """Render a duration as Kubernetes' ``HumanDuration``: ``5s``, ``3m2s``, ``10m``, ``2d3h``.

    Precision drops as the duration grows; a slightly negative value (clock skew
    under two seconds) reads ``0s``.
    """
    seconds = int(seconds_elapsed)
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        return _pair(minutes, "m", seconds % 60, "s")
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        return _pair(hours, "h", minutes % 60, "m")
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if hours < 24 * 8:
        return _pair(days, "d", hours % 24, "h")
    if hours < 24 * 365 * 2:
        return f"{days}d"
    if hours < 24 * 365 * 8:
        return _pair(days // 365, "y", days % 365, "d")
    return f"{days // 365}y"


def _pair(major: int, major_unit: str, minor: int, minor_unit: str) -> str:
    """``3m2s``, or ``3m`` when the minor part is zero."""
    if minor == 0:
        return f"{major}{major_unit}"
    return f"{major}{major_unit}{minor}{minor_unit}"
