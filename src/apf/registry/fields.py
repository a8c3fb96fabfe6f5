"""Field-level knowledge of request objects: duplicates, unknown fields, pruning, merge keys.

Kubernetes decodes a request body strictly into its Go type: duplicate JSON
keys and fields the type does not declare are reported (``fieldValidation``
Strict: 400; Warn: a warning header) and then dropped. We learn the declared
fields from our own OpenAPI v3 document (``apf.api.schema.openapi_v3``), so the
answer follows the served version's schema, and the same walk yields the
strategic-merge-patch merge key of each list.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from apf.api import errors
from apf.api.kinds import GROUP, Kind
from apf.api.schema import openapi_v3

Schema = dict[str, Any]
MergeKeyLookup = Callable[[tuple[str, ...]], str | None]

# Used when the schema has no patch metadata for a list (kept in step with the types).
FALLBACK_MERGE_KEYS: dict[tuple[str, ...], str] = {
    ("status", "conditions"): "type",
    ("metadata", "ownerReferences"): "uid",
}


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


def unknown(kind: Kind, version: str, obj: Any) -> list[str]:
    """Dotted paths (``spec.rules[0].foo``) of fields the version's schema does not declare."""
    schema = _kind_schema(kind.kind, version)
    if schema is None:
        return []
    return [path for problem, path in _problems(obj, schema, "", version, frozenset()) if problem]


def strict_problems(
    kind: Kind, version: str, obj: Any, duplicates: Iterable[str] = ()
) -> list[str]:
    """Strict-decoding messages for ``obj`` in document order, worded as Kubernetes words them.

    ``duplicates`` are the paths :func:`decode_json` found; a field both unknown and
    duplicated is reported once, as unknown.
    """
    schema = _kind_schema(kind.kind, version)
    repeated = frozenset(duplicates)
    if schema is None:
        return [f'duplicate field "{path}"' for path in repeated]
    return [
        f'{"unknown" if is_unknown else "duplicate"} field "{path}"'
        for is_unknown, path in _problems(obj, schema, "", version, repeated)
    ]


def prune(kind: Kind, version: str, obj: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``obj`` without the fields the version's schema does not declare."""
    schema = _kind_schema(kind.kind, version)
    if schema is None:
        return dict(obj)
    pruned: dict[str, Any] = _prune(obj, schema, version)
    return pruned


def merge_key_lookup(kind: Kind, version: str) -> MergeKeyLookup:
    """A function naming the merge key of the list at a path, or None for atomic lists."""

    def lookup(path: tuple[str, ...]) -> str | None:
        schema = _kind_schema(kind.kind, version)
        node = _at_path(schema, path, version) if schema is not None else None
        if node is not None and "merge" in str(node.get("x-kubernetes-patch-strategy", "")):
            key = node.get("x-kubernetes-patch-merge-key")
            if isinstance(key, str):
                return key
        return FALLBACK_MERGE_KEYS.get(path)

    return lookup


# ---------------------------------------------------------------- schema walking


@functools.lru_cache(maxsize=16)
def _components(version: str) -> dict[str, Schema]:
    document = openapi_v3(version)
    schemas: dict[str, Schema] = document.get("components", {}).get("schemas", {})
    return schemas


def _kind_schema(kind: str, version: str) -> Schema | None:
    for schema in _components(version).values():
        for gvk in schema.get("x-kubernetes-group-version-kind") or []:
            if gvk == {"group": GROUP, "version": version, "kind": kind}:
                return schema
    return None


def _resolve(schema: Schema, version: str) -> Schema:
    """``schema`` with ``$ref`` and ``allOf`` folded in (vendor extensions kept)."""
    resolved = dict(schema)
    ref = resolved.pop("$ref", None)
    if isinstance(ref, str):
        target = _components(version).get(ref.rsplit("/", 1)[-1], {})
        resolved = {**_resolve(target, version), **resolved}
    for member in resolved.pop("allOf", None) or []:
        resolved = {**_resolve(member, version), **resolved}
    return resolved


def _properties(schema: Schema) -> dict[str, Schema] | None:
    """Declared properties, or None when the object takes any key."""
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return None
    if "properties" in schema:
        properties: dict[str, Schema] = schema["properties"]
        return properties
    return None


def _problems(
    value: Any, schema: Schema, path: str, version: str, duplicates: frozenset[str]
) -> Iterator[tuple[bool, str]]:
    """(is_unknown, path) for each unknown field and each known duplicated one."""
    schema = _resolve(schema, version)
    if isinstance(value, dict):
        properties = _properties(schema)
        additional = schema.get("additionalProperties")
        for key, item in value.items():
            child = _join(path, key)
            if properties is not None and key in properties:
                child_schema: Schema | None = properties[key]
            elif isinstance(additional, dict):
                child_schema = additional
            elif properties is not None:
                yield True, child
                continue
            else:
                child_schema = None
            if child in duplicates:
                yield False, child
            if child_schema is not None:
                yield from _problems(item, child_schema, child, version, duplicates)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            yield from _problems(item, schema["items"], f"{path}[{index}]", version, duplicates)


def _prune(value: Any, schema: Schema, version: str) -> Any:
    schema = _resolve(schema, version)
    if isinstance(value, dict):
        properties = _properties(schema)
        additional = schema.get("additionalProperties")
        pruned: dict[str, Any] = {}
        for key, item in value.items():
            if properties is not None and key in properties:
                pruned[key] = _prune(item, properties[key], version)
            elif isinstance(additional, dict):
                pruned[key] = _prune(item, additional, version)
            elif properties is None:
                pruned[key] = item
        return pruned
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_prune(item, schema["items"], version) for item in value]
    return value


def _at_path(schema: Schema, path: tuple[str, ...], version: str) -> Schema | None:
    """The resolved schema of the field at ``path`` (list items are stepped through)."""
    node = _resolve(schema, version)
    for key in path:
        if node.get("type") == "array" and isinstance(node.get("items"), dict):
            node = _resolve(node["items"], version)
        properties = node.get("properties") or {}
        if key not in properties:
            return None
        node = _resolve(properties[key], version)
    return node
