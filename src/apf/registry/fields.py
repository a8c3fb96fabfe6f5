"""Field-level checks of request objects: duplicate and unknown fields, pruning, merge keys.

Kubernetes decodes a request body strictly into its Go type: duplicate JSON
keys and fields the type does not declare are reported (``fieldValidation``
Strict: 400; Warn: a warning header) and then dropped. Python's JSON decoders
keep the last duplicate silently, so :func:`decode_json` records them on the
way; which fields are declared, and each list's strategic-merge key, come from
``apf.api.schema`` for the request's version.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from apf.api import errors, schema
from apf.api.kinds import Kind

MergeKeyLookup = Callable[[tuple[str, ...]], str | None]


class _DecodedObject(dict[str, Any]):
    """A JSON object remembering which of its keys appeared more than once."""

    duplicates: list[str]


def decode_json(body: bytes) -> tuple[Any, list[str]]:
    """The body decoded as JSON, and the dotted paths of duplicate keys; 400 when malformed."""
    try:
        document = json.loads(body, object_pairs_hook=_remember_duplicates)
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.bad_request(
            f"the body of the request was in an unknown format: {exc}"
        ) from exc
    duplicates: list[str] = []
    return _plain(document, "", duplicates), duplicates


def _remember_duplicates(pairs: list[tuple[str, Any]]) -> _DecodedObject:
    obj = _DecodedObject()
    obj.duplicates = []
    for key, value in pairs:
        if key in obj and key not in obj.duplicates:
            obj.duplicates.append(key)
        obj[key] = value
    return obj


def _plain(value: Any, path: str, duplicates: list[str]) -> Any:
    """``value`` with plain dicts, collecting duplicate key paths on the way."""
    if isinstance(value, dict):
        duplicates.extend(_join(path, key) for key in getattr(value, "duplicates", ()))
        return {k: _plain(v, _join(path, k), duplicates) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, f"{path}[{i}]", duplicates) for i, v in enumerate(value)]
    return value


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def unknown(kind: Kind, version: str, obj: dict[str, Any]) -> list[str]:
    """Dotted paths (``spec.rules[0].foo``) of fields the version's schema does not declare."""
    return schema.unknown_fields(kind, obj, version)


def strict_problems(
    kind: Kind, version: str, obj: dict[str, Any], duplicates: Iterable[str] = ()
) -> list[str]:
    """Strict-decoding messages for ``obj`` in document order, worded as Kubernetes words them.

    ``duplicates`` are the paths :func:`decode_json` found; a field both unknown and
    duplicated is reported once, as unknown.
    """
    unknown_paths = unknown(kind, version, obj)
    problems = {path: f'unknown field "{path}"' for path in unknown_paths}
    for path in duplicates:
        problems.setdefault(path, f'duplicate field "{path}"')
    order = {path: index for index, path in enumerate(_document_paths(obj, ""))}
    return [problems[p] for p in sorted(problems, key=lambda p: order.get(p, len(order)))]


def _document_paths(value: Any, path: str) -> Iterator[str]:
    """Every field path of ``value`` in document (pre-)order."""
    if isinstance(value, dict):
        for key, item in value.items():
            child = _join(path, key)
            yield child
            yield from _document_paths(item, child)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _document_paths(item, f"{path}[{index}]")


def prune(kind: Kind, version: str, obj: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``obj`` without the fields the version's schema does not declare."""
    return schema.prune(kind, obj, version)


def merge_key_lookup(kind: Kind, version: str) -> MergeKeyLookup:
    """A function naming the merge key of the list at a path, or None for atomic lists."""

    def lookup(path: tuple[str, ...]) -> str | None:
        return schema.merge_key(kind, path, version)

    return lookup
