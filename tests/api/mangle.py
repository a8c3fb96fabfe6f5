"""Seeded copies of an object with one value swapped for one of the wrong JSON type."""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from typing import Any

ODD_VALUES: tuple[object, ...] = (None, "", "x", 0, -3, 1.5, True, [], ["*"], [[1]], {}, {"a": 1})


def value_paths(node: object, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths of every value below ``node`` (keys and list indexes)."""
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found.extend(value_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(value_paths(value, (*prefix, index)))
    return found


def mangled(base: dict[str, Any], *, seed: int, count: int) -> Iterator[dict[str, Any]]:
    """``count`` copies of ``base``, each with one value (not apiVersion/kind) replaced."""
    rng = random.Random(seed)
    paths = [p for p in value_paths(base) if p[0] not in ("apiVersion", "kind")]
    for _ in range(count):
        obj = copy.deepcopy(base)
        path = rng.choice(paths)
        parent: Any = obj
        for step in path[:-1]:
            parent = parent[step]
        parent[path[-1]] = rng.choice(ODD_VALUES)
        yield obj
