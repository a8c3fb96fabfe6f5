"""Keep the bootstrap FlowSchemas and priority levels present and current (spec §4).

Design: one pass (:func:`ensure_once`) walks the suggested levels, suggested
schemas, mandatory levels and mandatory schemas in that order, creating the
missing ones and rewriting those whose spec drifted while auto-update is on,
then deletes auto-updated objects whose names are no longer bootstrap names.
The pass stops at its first error; a lost write race (409 Conflict) is left
for the next pass. :func:`run` repeats the pass every second until one
succeeds (:func:`ensure_until_success`), then every minute (:func:`ensure_forever`).

Left out: the five-minute bound on the first successful pass (we keep
retrying every second) and the informer cache (we read through the Store).
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from apf.api import bootstrap
from apf.api.errors import StatusError
from apf.api.kinds import FLOW_SCHEMA, PRIORITY_LEVEL, Kind
from apf.registry.store import Preconditions, Store

Object = dict[str, Any]

logger = logging.getLogger(__name__)

AUTOUPDATE_ANNOTATION = "apf.kubernetes.io/autoupdate-spec"
FIELD_MANAGER = "api-priority-and-fairness-config-producer-v1"
RETRY_SECONDS = 1.0
RESYNC_SECONDS = 60.0

# Go's strconv.ParseBool spellings.
_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


def parse_go_bool(value: object) -> bool | None:
    """The boolean ``value`` spells as Go's ParseBool reads it, or None if it spells none."""
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    return None


def annotation_value(obj: Mapping[str, Any]) -> object:
    """The raw autoupdate annotation of ``obj`` (None when absent)."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return annotations.get(AUTOUPDATE_ANNOTATION)


def semantic(value: Any) -> Any:
    """``value`` with empty and zero-like members dropped, so nil and empty compare equal.

    Numbers are kept: optional integers are pointers in Kubernetes, so 0 and
    absent differ. False, ``""``, empty lists and maps equal an absent key.
    """
    if isinstance(value, Mapping):
        cleaned = {k: semantic(v) for k, v in value.items()}
        return {k: v for k, v in cleaned.items() if v not in (None, False, "", [], {})}
    if isinstance(value, list | tuple):
        return [semantic(v) for v in value]
    return value


def spec_differs(kind: Kind, current: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    """Whether ``current`` has a spec other than the bootstrap ``wanted`` one.

    For the ``exempt`` level the values inside ``spec.exempt`` are the
    operator's to tune; only a missing ``spec.exempt`` counts as a difference.
    """
    current_spec = copy.deepcopy(current.get("spec") or {})
    wanted_spec = wanted.get("spec") or {}
    if _is_exempt_level(kind, wanted):
        if current_spec.get("exempt") is None:
            return True
        current_spec["exempt"] = copy.deepcopy(wanted_spec.get("exempt"))
    return bool(semantic(current_spec) != semantic(wanted_spec))


def _is_exempt_level(kind: Kind, obj: Mapping[str, Any]) -> bool:
    return kind == PRIORITY_LEVEL and (obj.get("metadata") or {}).get("name") == "exempt"


def _wanted_spec(kind: Kind, current: Mapping[str, Any], wanted: Mapping[str, Any]) -> Any:
    spec = copy.deepcopy(wanted.get("spec") or {})
    current_exempt = (current.get("spec") or {}).get("exempt")
    if _is_exempt_level(kind, wanted) and current_exempt is not None:
        spec["exempt"] = copy.deepcopy(current_exempt)
    return spec


async def ensure_object(store: Store, kind: Kind, wanted: Object, *, mandatory: bool) -> None:
    """Create ``wanted`` if missing, else revise its spec and annotation when due.

    Raises StatusError on any failure but a write conflict.
    """
    name = wanted["metadata"]["name"]
    try:
        current = await store.get(kind, name)
    except StatusError as exc:
        if exc.code != 404:
            raise
        await _create(store, kind, wanted)
        return

    # 1. Decide whether the spec follows the bootstrap one.
    parsed = parse_go_bool(annotation_value(current))
    if mandatory:
        auto_update = True
    elif parsed is not None:
        auto_update = parsed
    else:
        auto_update = int((current.get("metadata") or {}).get("generation") or 0) == 1

    # 2. Compare, then write only what differs.
    need_annotation = parsed is None or parsed != auto_update
    spec_changed = auto_update and spec_differs(kind, current, wanted)
    if not (need_annotation or spec_changed):
        return
    revised = copy.deepcopy(current)
    if spec_changed:
        revised["spec"] = _wanted_spec(kind, current, wanted)
    if need_annotation:
        annotations = revised["metadata"].setdefault("annotations", {})
        annotations[AUTOUPDATE_ANNOTATION] = "true" if auto_update else "false"
    try:
        await store.update(kind, revised)
    except StatusError as exc:
        if exc.code != 409:
            raise
        logger.info(
            "bootstrap object changed meanwhile", extra={"kind": kind.kind, "object": name}
        )
        return
    logger.info(
        "bootstrap object revised",
        extra={"kind": kind.kind, "object": name, "spec_changed": spec_changed},
    )


async def _create(store: Store, kind: Kind, wanted: Object) -> None:
    name = wanted["metadata"]["name"]
    try:
        await store.create(kind, copy.deepcopy(wanted))
    except StatusError as exc:
        if exc.code != 409:
            raise
        return
    logger.debug("bootstrap object created", extra={"kind": kind.kind, "object": name})


async def remove_unwanted(store: Store, kind: Kind, wanted_names: Iterable[str]) -> None:
    """Delete objects of ``kind`` not named in ``wanted_names`` whose annotation says true."""
    keep = set(wanted_names)
    objects, _ = await store.list(kind)
    for obj in objects:
        metadata = obj.get("metadata") or {}
        name = str(metadata.get("name") or "")
        if name in keep or parse_go_bool(annotation_value(obj)) is not True:
            continue
        precondition = Preconditions(resource_version=str(metadata.get("resourceVersion") or ""))
        try:
            await store.delete(kind, name, preconditions=precondition)
        except StatusError as exc:
            if exc.code not in (404, 409):
                raise
            continue
        logger.info("unwanted bootstrap object deleted", extra={"kind": kind.kind, "object": name})


async def ensure_once(store: Store) -> None:
    """Run one full pass; raises the first StatusError met (the pass stops there)."""
    steps: tuple[tuple[Kind, tuple[Object, ...], bool], ...] = (
        (PRIORITY_LEVEL, bootstrap.SUGGESTED_PRIORITY_LEVELS, False),
        (FLOW_SCHEMA, bootstrap.SUGGESTED_FLOW_SCHEMAS, False),
        (PRIORITY_LEVEL, bootstrap.MANDATORY_PRIORITY_LEVELS, True),
        (FLOW_SCHEMA, bootstrap.MANDATORY_FLOW_SCHEMAS, True),
    )
    for kind, objects, mandatory in steps:
        for wanted in objects:
            await ensure_object(store, kind, wanted, mandatory=mandatory)
    for kind, mandatory_objects, suggested_objects in (
        (FLOW_SCHEMA, bootstrap.MANDATORY_FLOW_SCHEMAS, bootstrap.SUGGESTED_FLOW_SCHEMAS),
        (PRIORITY_LEVEL, bootstrap.MANDATORY_PRIORITY_LEVELS, bootstrap.SUGGESTED_PRIORITY_LEVELS),
    ):
        names = [o["metadata"]["name"] for o in (*mandatory_objects, *suggested_objects)]
        await remove_unwanted(store, kind, names)


Sleep = Callable[[float], Awaitable[None]]


async def ensure_until_success(
    store: Store, *, period_seconds: float = RETRY_SECONDS, sleep: Sleep = asyncio.sleep
) -> int:
    """Run passes ``period_seconds`` apart until one succeeds; returns the failures seen."""
    failures = 0
    while not await _logged_pass(store):
        failures += 1
        await sleep(period_seconds)
    return failures


async def ensure_forever(
    store: Store, *, period_seconds: float = RESYNC_SECONDS, sleep: Sleep = asyncio.sleep
) -> None:
    """After a successful pass: one pass every ``period_seconds`` until cancelled."""
    while True:
        await sleep(period_seconds)
        await _logged_pass(store)


async def run(store: Store, *, sleep: Sleep = asyncio.sleep) -> None:
    """The config producer: every second until a pass succeeds, then every minute."""
    await ensure_until_success(store, sleep=sleep)
    await ensure_forever(store, sleep=sleep)


async def _logged_pass(store: Store) -> bool:
    try:
        await ensure_once(store)
    except StatusError as exc:
        logger.warning(
            "bootstrap configuration pass failed",
            extra={"code": exc.code, "error": exc.message},
        )
        return False
    return True
