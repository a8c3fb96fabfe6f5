"""The four PATCH flavours kube-apiserver accepts, applied to JSON-shaped objects.

* JSON merge patch (RFC 7386): maps merge, ``null`` deletes, anything else replaces.
* JSON patch (RFC 6902): ``add``, ``remove``, ``replace``, ``move``, ``copy``, ``test``.
* Strategic merge patch: a merge patch where lists of maps with a merge key merge
  element by element, with the ``$patch``, ``$retainKeys``, ``$setElementOrder``
  and ``$deleteFromPrimitiveList`` directives; other lists are atomic (replaced).
* Server-side apply: the applied configuration is merged over the live object
  like a strategic merge patch (see :func:`apply_configuration`).

Every function works on copies and raises :class:`PatchError`; the handler
maps ``PatchError.code`` (400 for a malformed patch, 422 for one that cannot
apply) to a Status.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, APPLY_PATCH)

# A dotted path such as ("status", "conditions") → merge key of that list, or None.
MergeKeyLookup = Callable[[tuple[str, ...]], str | None]

_DIRECTIVE = "$patch"
_RETAIN_KEYS = "$retainKeys"
_SET_ORDER_PREFIX = "$setElementOrder/"
_DELETE_PRIMITIVE_PREFIX = "$deleteFromPrimitiveList/"


class PatchError(Exception):
    """A patch that is malformed (code 400) or cannot apply to the object (code 422)."""

    def __init__(self, message: str, *, code: int = 422) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


# ---------------------------------------------------------------- RFC 7386


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply a JSON merge patch and return the result; inputs are left untouched."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# ---------------------------------------------------------------- RFC 6902


def json_patch(target: Any, operations: Any) -> Any:
    """Apply a JSON patch document (a list of operations) and return the result."""
    if not isinstance(operations, list):
        raise PatchError(
            "json: cannot unmarshal object into Go value of type jsonpatch.Patch", code=400
        )
    document = copy.deepcopy(target)
    for operation in operations:
        if not isinstance(operation, dict):
            raise PatchError(f"invalid JSON patch operation: {operation!r}", code=400)
        document = _apply_operation(document, operation)
    return document


def _apply_operation(document: Any, operation: dict[str, Any]) -> Any:
    op = operation.get("op")
    path = _required_path(operation, "path")
    if op == "add":
        return _add(document, path, copy.deepcopy(_required_value(operation)))
    if op == "remove":
        document, _ = _remove(document, path)
        return document
    if op == "replace":
        document, _ = _remove(document, path)
        return _add(document, path, copy.deepcopy(_required_value(operation)))
    if op == "move":
        source = _required_path(operation, "from")
        if path[: len(source)] == source and path != source:
            raise PatchError("move operation: from path is a prefix of the target path")
        document, value = _remove(document, source)
        return _add(document, path, value)
    if op == "copy":
        value = copy.deepcopy(_resolve(document, _required_path(operation, "from")))
        return _add(document, path, value)
    if op == "test":
        expected = _required_value(operation)
        if not _json_equal(_resolve(document, path), expected):
            raise PatchError(f"testing value {_pointer_text(path)} failed: test failed")
        return document
    raise PatchError(f"Unexpected kind: {op}", code=400)


def _required_path(operation: dict[str, Any], name: str) -> list[str]:
    pointer = operation.get(name)
    if not isinstance(pointer, str):
        raise PatchError(f"operation missing {name!r} parameter", code=400)
    return parse_pointer(pointer)


def _required_value(operation: dict[str, Any]) -> Any:
    if "value" not in operation:
        raise PatchError("operation missing 'value' parameter", code=400)
    return operation["value"]


def parse_pointer(pointer: str) -> list[str]:
    """RFC 6901 reference tokens of ``pointer`` (``""`` is the whole document)."""
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise PatchError(f"JSON pointer must be empty or start with '/': {pointer!r}", code=400)
    return [part.replace("~1", "/").replace("~0", "~") for part in pointer[1:].split("/")]


def _pointer_text(path: list[str]) -> str:
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in path)


def _resolve(document: Any, path: list[str]) -> Any:
    current = document
    for token in path:
        if isinstance(current, dict) and token in current:
            current = current[token]
        elif isinstance(current, list):
            current = current[_index(current, token, for_insert=False)]
        else:
            raise PatchError(f"unable to find path {_pointer_text(path)}: missing value")
    return current


def _index(items: list[Any], token: str, *, for_insert: bool) -> int:
    if token == "-" and for_insert:
        return len(items)
    if not token.isdigit() or (len(token) > 1 and token.startswith("0")):
        raise PatchError(f"invalid array index: {token!r}")
    index = int(token)
    limit = len(items) if for_insert else len(items) - 1
    if index > limit:
        raise PatchError(f"array index out of bounds: {index}")
    return index


def _add(document: Any, path: list[str], value: Any) -> Any:
    if not path:
        return value
    parent = _resolve(document, path[:-1])
    token = path[-1]
    if isinstance(parent, dict):
        parent[token] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, token, for_insert=True), value)
    else:
        raise PatchError(
            f"add operation does not apply: doc is missing path: {_pointer_text(path)}"
        )
    return document


def _remove(document: Any, path: list[str]) -> tuple[Any, Any]:
    if not path:
        return None, document
    parent = _resolve(document, path[:-1])
    token = path[-1]
    if isinstance(parent, dict):
        if token not in parent:
            raise PatchError(f"unable to remove nonexistent key: {token}: missing value")
        return document, parent.pop(token)
    if isinstance(parent, list):
        return document, parent.pop(_index(parent, token, for_insert=False))
    raise PatchError(f"unable to remove {_pointer_text(path)}: missing value")


def _json_equal(left: Any, right: Any) -> bool:
    """JSON value equality: booleans never equal numbers, unlike Python's ``==``."""
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_json_equal(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(_json_equal, left, right))
    return bool(left == right)


# ---------------------------------------------------------------- strategic merge patch


def strategic_merge_patch(target: Any, patch: Any, merge_key: MergeKeyLookup) -> Any:
    """Apply a strategic merge patch; ``merge_key`` names each list's merge key, if any."""
    if not isinstance(patch, dict):
        raise PatchError("strategic merge patch must be a JSON object", code=400)
    base = copy.deepcopy(target) if isinstance(target, dict) else {}
    return _merge_map(base, patch, (), merge_key)


def _merge_map(
    original: dict[str, Any], patch: dict[str, Any], path: tuple[str, ...], lookup: MergeKeyLookup
) -> Any:
    directive = patch.get(_DIRECTIVE)
    if directive == "delete":
        return None
    if directive == "replace":
        return _strip_directives(patch)
    if directive is not None:
        raise PatchError(f"Unknown patch type: {directive}")
    result = dict(original)
    _apply_retain_keys(result, patch)
    orders = {
        k[len(_SET_ORDER_PREFIX) :]: v for k, v in patch.items() if k.startswith(_SET_ORDER_PREFIX)
    }
    for key, value in patch.items():
        if key.startswith("$"):
            if key.startswith(_DELETE_PRIMITIVE_PREFIX):
                _delete_from_primitive_list(result, key[len(_DELETE_PRIMITIVE_PREFIX) :], value)
            continue
        merged = _merge_value(result.get(key), value, (*path, key), lookup)
        if merged is None:
            result.pop(key, None)
        else:
            result[key] = merged
    for key, order in orders.items():
        if isinstance(result.get(key), list) and isinstance(order, list):
            result[key] = _ordered(result[key], order, lookup((*path, key)))
    return result


def _merge_value(original: Any, patch: Any, path: tuple[str, ...], lookup: MergeKeyLookup) -> Any:
    if patch is None:
        return None
    if isinstance(patch, dict):
        base = original if isinstance(original, dict) else {}
        return _merge_map(base, patch, path, lookup)
    if isinstance(patch, list):
        key = lookup(path)
        if key is None or not isinstance(original, list):
            return _strip_list(patch)
        return _merge_list(original, patch, key, path, lookup)
    return copy.deepcopy(patch)


def _merge_list(
    original: list[Any],
    patch: list[Any],
    key: str,
    path: tuple[str, ...],
    lookup: MergeKeyLookup,
) -> list[Any] | None:
    if any(isinstance(e, dict) and e.get(_DIRECTIVE) == "replace" for e in patch):
        return [
            _strip_directives(e) for e in patch if not (isinstance(e, dict) and _DIRECTIVE in e)
        ]
    result = list(original)
    for element in patch:
        if not isinstance(element, dict):
            if element not in result:
                result.append(element)
            continue
        if key not in element:
            raise PatchError(f"map: {element} does not contain declared merge key: {key}")
        position = next(
            (
                i
                for i, e in enumerate(result)
                if isinstance(e, dict) and e.get(key) == element[key]
            ),
            None,
        )
        if element.get(_DIRECTIVE) == "delete":
            if position is not None:
                del result[position]
            continue
        if position is None:
            result.append(_strip_directives(element))
        else:
            result[position] = _merge_map(result[position], element, path, lookup)
    return result


def _apply_retain_keys(result: dict[str, Any], patch: dict[str, Any]) -> None:
    retain = patch.get(_RETAIN_KEYS)
    if retain is None:
        return
    if not isinstance(retain, list):
        raise PatchError("$retainKeys must be a list of field names", code=400)
    for key in list(result):
        if key not in retain:
            del result[key]


def _delete_from_primitive_list(result: dict[str, Any], key: str, values: Any) -> None:
    if isinstance(result.get(key), list) and isinstance(values, list):
        result[key] = [v for v in result[key] if v not in values]


def _ordered(items: list[Any], order: list[Any], key: str | None) -> list[Any]:
    """``items`` sorted by their place in ``order``; unlisted items go last, in order."""

    def identity(item: Any) -> Any:
        if key is not None and isinstance(item, dict):
            return item.get(key)
        return item

    wanted = [identity(o) if isinstance(o, dict) else o for o in order]
    ranked = [
        (wanted.index(identity(i)) if identity(i) in wanted else len(wanted), n)
        for n, i in enumerate(items)
    ]
    return [items[n] for _, n in sorted(ranked)]


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _strip_directives(v)
            for k, v in value.items()
            if not k.startswith("$") and v is not None
        }
    if isinstance(value, list):
        return _strip_list(value)
    return copy.deepcopy(value)


def _strip_list(values: list[Any]) -> list[Any]:
    return [_strip_directives(v) for v in values if not (isinstance(v, dict) and _DIRECTIVE in v)]


# ---------------------------------------------------------------- server-side apply


def apply_configuration(live: Any, applied: Any, merge_key: MergeKeyLookup) -> Any:
    """Merge an applied configuration over the live object (or create it from scratch).

    Fields the configuration sets win; fields it omits keep their live value.
    """
    # TODO: no managedFields ownership: fields a manager stops applying are not removed,
    # and conflicts between managers are never reported (force is accepted and ignored).
    if not isinstance(applied, dict):
        raise PatchError("apply configuration must be an object", code=400)
    if live is None:
        return _strip_directives(applied)
    return _merge_map(copy.deepcopy(live), _without_nulls(applied), (), merge_key)


def _without_nulls(value: Any) -> Any:
    """An applied configuration never deletes by ``null``: it just leaves the field unset."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value
