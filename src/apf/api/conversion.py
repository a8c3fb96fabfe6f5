"""Conversion between the served versions of flowcontrol.apiserver.k8s.io, v1 as the hub.

The four versions share their shapes except for the Limited shares field of a
PriorityLevelConfiguration:

- ``v1beta1`` and ``v1beta2`` call it ``assuredConcurrencyShares`` and default
  it when 0, so a zero cannot be expressed there;
- ``v1beta3`` calls it ``nominalConcurrencyShares``, also a plain integer, and
  keeps a zero only when the object carries the round-trip annotation
  :data:`PRESERVE_ZERO_ANNOTATION` (any value); converting a zero to v1beta3
  adds the annotation and converting back drops it;
- ``v1`` holds a pointer: absent means "default to 30", an explicit 0 stays.

FlowSchemas are identical in all versions; only ``apiVersion`` changes.
"""

from __future__ import annotations

import copy
from typing import Any

from apf.api.defaults import default_flow_schema_spec, default_priority_level_spec, set_defaults
from apf.api.kinds import ALL_VERSIONS, BY_KIND, FLOW_SCHEMA, GROUP, PRIORITY_LEVEL, Kind

HUB_VERSION = "v1"
PRESERVE_ZERO_ANNOTATION = "flowcontrol.k8s.io/v1beta3-preserve-zero-concurrency-shares"
_ASSURED = "assuredConcurrencyShares"
_NOMINAL = "nominalConcurrencyShares"
_ASSURED_VERSIONS = ("v1beta1", "v1beta2")

Object = dict[str, Any]


def convert(obj: Object, version: str) -> Object:
    """A copy of ``obj`` (an object or a list, any served version) in ``version``.

    The source version comes from ``obj["apiVersion"]``. A beta object is
    defaulted in its own version first, as kube-apiserver does when decoding, so
    an omitted beta shares field becomes 30 rather than v1's explicit 0.
    Raises ValueError for a foreign group, an unknown version or kind.
    """
    source = version_of(obj)
    _check_version(version)
    result = copy.deepcopy(obj)
    if _is_list(result):
        result["apiVersion"] = f"{GROUP}/{version}"
        for index, item in enumerate(result.get("items") or []):
            if isinstance(item, dict):
                result["items"][index] = _convert_item(item, source, version, result)
        return result
    return _convert_item(result, source, version, result)


def _convert_item(item: Object, list_source: str, version: str, container: Object) -> Object:
    """``item`` (already a private copy) converted in place from its version to ``version``."""
    has_version = bool(item.get("apiVersion"))
    source = version_of(item) if has_version else list_source
    kind = _kind_of(item, container)
    if source != HUB_VERSION:
        _default_in_version(kind, item, source)
        _to_hub(kind, item, source)
    if version != HUB_VERSION:
        _from_hub(kind, item, version)
    # List items as Kubernetes serves them carry no type meta; keep it that way.
    if has_version or item is container:
        item["apiVersion"] = f"{GROUP}/{version}"
    return item


def set_version_defaults(obj: Object) -> None:
    """Apply in place the defaults of the object's own version (lists item by item)."""
    source = version_of(obj)
    if _is_list(obj):
        for item in obj.get("items") or []:
            if isinstance(item, dict):
                version = version_of(item) if item.get("apiVersion") else source
                _default_in_version(_kind_of(item, obj), item, version)
        return
    _default_in_version(_kind_of(obj, obj), obj, source)


def version_of(obj: Object) -> str:
    """The version part of ``obj["apiVersion"]``; ValueError when not one of ours."""
    api_version = str(obj.get("apiVersion") or "")
    group, _, version = api_version.rpartition("/")
    if group != GROUP:
        raise ValueError(f"apiVersion {api_version!r} is not in group {GROUP}")
    _check_version(version)
    return version


def _check_version(version: str) -> None:
    if version not in ALL_VERSIONS:
        raise ValueError(f"unsupported version {version!r} of {GROUP}")


def _is_list(obj: Object) -> bool:
    return str(obj.get("kind") or "").endswith("List") or ("items" in obj and "spec" not in obj)


def _kind_of(item: Object, container: Object) -> Kind:
    name = str(item.get("kind") or "")
    if not name:
        name = str(container.get("kind") or "").removesuffix("List")
    kind = BY_KIND.get(name)
    if kind is None:
        raise ValueError(f"unknown kind {name!r} in {GROUP}")
    return kind


def _default_in_version(kind: Kind, obj: Object, version: str) -> None:
    if version == HUB_VERSION:
        set_defaults(kind, obj)
        return
    spec = obj.setdefault("spec", {})
    if not isinstance(spec, dict):
        return  # a malformed spec is left for validation to report
    if kind == FLOW_SCHEMA:
        default_flow_schema_spec(spec)
        return
    if version in _ASSURED_VERSIONS:
        default_priority_level_spec(spec, shares_field=_ASSURED)
        return
    limited = spec.get("limited")
    if isinstance(limited, dict) and not limited.get(_NOMINAL):
        keep_zero = PRESERVE_ZERO_ANNOTATION in _annotations(obj)
        limited[_NOMINAL] = 0 if keep_zero else 30
    default_priority_level_spec(spec)


def _annotations(obj: Object) -> dict[str, Any]:
    metadata = obj.get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
    return annotations if isinstance(annotations, dict) else {}


def _limited(obj: Object) -> Object | None:
    spec = obj.get("spec")
    limited = spec.get("limited") if isinstance(spec, dict) else None
    return limited if isinstance(limited, dict) else None


def _to_hub(kind: Kind, obj: Object, source: str) -> None:
    if kind != PRIORITY_LEVEL:
        return
    limited = _limited(obj)
    if source in _ASSURED_VERSIONS and limited is not None:
        _rename(limited, _ASSURED, _NOMINAL)
    if source == "v1beta3":
        annotations = _annotations(obj)
        if PRESERVE_ZERO_ANNOTATION in annotations:
            del annotations[PRESERVE_ZERO_ANNOTATION]
            if not annotations:
                del obj["metadata"]["annotations"]
        if limited is not None:
            limited[_NOMINAL] = limited.get(_NOMINAL) or 0


def _from_hub(kind: Kind, obj: Object, version: str) -> None:
    limited = _limited(obj) if kind == PRIORITY_LEVEL else None
    if limited is None:
        return
    if version in _ASSURED_VERSIONS:
        _rename(limited, _NOMINAL, _ASSURED)
        return
    limited[_NOMINAL] = limited.get(_NOMINAL) or 0
    if limited[_NOMINAL] == 0:
        metadata = obj.get("metadata")
        if not isinstance(metadata, dict):
            metadata = obj["metadata"] = {}
        annotations = metadata.get("annotations")
        if not isinstance(annotations, dict):
            annotations = metadata["annotations"] = {}
        annotations.setdefault(PRESERVE_ZERO_ANNOTATION, "")


def _rename(limited: Object, old: str, new: str) -> None:
    """Rename the shares field in place, keeping key order; nil becomes Go's 0."""
    renamed = {(new if key == old else key): value for key, value in limited.items()}
    renamed.setdefault(new, 0)
    renamed[new] = renamed[new] or 0
    limited.clear()
    limited.update(renamed)
