"""The bootstrap configuration producer over a real Store on memory storage."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import pytest

from apf.api import bootstrap
from apf.api.errors import StatusError
from apf.api.kinds import FLOW_SCHEMA, PRIORITY_LEVEL
from apf.flowcontrol.ensurer import (
    AUTOUPDATE_ANNOTATION,
    ensure_once,
    ensure_until_success,
    parse_go_bool,
    spec_differs,
)
from apf.registry.store import Store
from apf.storage.memory import MemoryStorage

Object = dict[str, Any]

ALL_FLOW_SCHEMAS = {
    o["metadata"]["name"]
    for o in (*bootstrap.MANDATORY_FLOW_SCHEMAS, *bootstrap.SUGGESTED_FLOW_SCHEMAS)
}
ALL_LEVELS = {
    o["metadata"]["name"]
    for o in (*bootstrap.MANDATORY_PRIORITY_LEVELS, *bootstrap.SUGGESTED_PRIORITY_LEVELS)
}


@pytest.fixture
async def store() -> AsyncIterator[Store]:
    storage = MemoryStorage()
    await storage.start()
    yield Store(storage)
    await storage.close()


async def names(store: Store, kind: Any) -> set[str]:
    objects, _ = await store.list(kind)
    return {o["metadata"]["name"] for o in objects}


async def set_annotation(store: Store, kind: Any, name: str, value: str | None) -> Object:
    obj = await store.get(kind, name)
    annotations = obj["metadata"].setdefault("annotations", {})
    if value is None:
        annotations.pop(AUTOUPDATE_ANNOTATION, None)
    else:
        annotations[AUTOUPDATE_ANNOTATION] = value
    return await store.update(kind, obj)


async def set_shares(store: Store, name: str, shares: int) -> Object:
    obj = await store.get(PRIORITY_LEVEL, name)
    obj["spec"]["limited"]["nominalConcurrencyShares"] = shares
    return await store.update(PRIORITY_LEVEL, obj)


async def test_ensurer_creates_every_bootstrap_object(store: Store) -> None:
    await ensure_once(store)

    assert await names(store, FLOW_SCHEMA) == ALL_FLOW_SCHEMAS
    assert await names(store, PRIORITY_LEVEL) == ALL_LEVELS


async def test_ensurer_restores_deleted_mandatory_and_suggested_objects(store: Store) -> None:
    await ensure_once(store)
    await store.delete(FLOW_SCHEMA, "catch-all")
    await store.delete(PRIORITY_LEVEL, "exempt")
    await store.delete(FLOW_SCHEMA, "service-accounts")

    await ensure_once(store)

    assert await names(store, FLOW_SCHEMA) == ALL_FLOW_SCHEMAS
    assert await names(store, PRIORITY_LEVEL) == ALL_LEVELS


async def test_ensurer_respects_autoupdate_false(store: Store) -> None:
    await ensure_once(store)
    await set_annotation(store, PRIORITY_LEVEL, "global-default", "false")
    await set_shares(store, "global-default", 77)

    await ensure_once(store)

    kept = await store.get(PRIORITY_LEVEL, "global-default")
    assert kept["spec"]["limited"]["nominalConcurrencyShares"] == 77
    assert kept["metadata"]["annotations"][AUTOUPDATE_ANNOTATION] == "false"


async def test_ensurer_reverts_drift_when_autoupdate_true(store: Store) -> None:
    await ensure_once(store)
    await set_shares(store, "global-default", 77)

    await ensure_once(store)

    restored = await store.get(PRIORITY_LEVEL, "global-default")
    assert restored["spec"]["limited"]["nominalConcurrencyShares"] == 20


async def test_ensurer_marks_edited_unannotated_object_as_not_autoupdated(store: Store) -> None:
    await ensure_once(store)
    await set_annotation(store, PRIORITY_LEVEL, "workload-low", None)
    edited = await set_shares(store, "workload-low", 3)
    assert edited["metadata"]["generation"] > 1

    await ensure_once(store)

    kept = await store.get(PRIORITY_LEVEL, "workload-low")
    assert kept["spec"]["limited"]["nominalConcurrencyShares"] == 3
    assert kept["metadata"]["annotations"][AUTOUPDATE_ANNOTATION] == "false"


async def test_ensurer_deletes_only_autoupdated_unwanted_objects(store: Store) -> None:
    await ensure_once(store)
    stale = copy.deepcopy(next(iter(bootstrap.SUGGESTED_FLOW_SCHEMAS)))
    stale["metadata"] = {"name": "old-suggestion", "annotations": {AUTOUPDATE_ANNOTATION: "t"}}
    stale["spec"]["matchingPrecedence"] = 7000
    mine = copy.deepcopy(stale)
    mine["metadata"] = {"name": "my-schema"}
    await store.create(FLOW_SCHEMA, stale)
    await store.create(FLOW_SCHEMA, mine)

    await ensure_once(store)

    remaining = await names(store, FLOW_SCHEMA)
    assert "old-suggestion" not in remaining
    assert "my-schema" in remaining


async def test_ensurer_ignores_exempt_values_of_the_exempt_level(store: Store) -> None:
    await ensure_once(store)
    exempt = await store.get(PRIORITY_LEVEL, "exempt")
    exempt["spec"]["exempt"]["nominalConcurrencyShares"] = 9
    await store.update(PRIORITY_LEVEL, exempt)

    await ensure_once(store)

    kept = await store.get(PRIORITY_LEVEL, "exempt")
    assert kept["spec"]["exempt"]["nominalConcurrencyShares"] == 9


def test_spec_differs_treats_missing_exempt_section_as_different() -> None:
    wanted = next(
        o for o in bootstrap.MANDATORY_PRIORITY_LEVELS if o["metadata"]["name"] == "exempt"
    )
    current = copy.deepcopy(wanted)
    del current["spec"]["exempt"]

    assert spec_differs(PRIORITY_LEVEL, current, wanted)
    assert not spec_differs(PRIORITY_LEVEL, wanted, wanted)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("true", True, id="true"),
        pytest.param("T", True, id="T"),
        pytest.param("1", True, id="one"),
        pytest.param("False", False, id="False"),
        pytest.param("0", False, id="zero"),
        pytest.param("yes", None, id="yes"),
        pytest.param(None, None, id="absent"),
    ],
)
def test_parse_go_bool(text: str | None, expected: bool | None) -> None:
    assert parse_go_bool(text) is expected


class FailingStore(Store):
    """A Store whose first ``failures`` lists fail with 503."""

    def __init__(self, store: Store, failures: int) -> None:
        super().__init__(store.storage)
        self.failures = failures

    async def list(self, kind: Any) -> tuple[list[Object], int]:
        if self.failures:
            self.failures -= 1
            raise StatusError(503, "ServiceUnavailable", "storage is unavailable")
        return await super().list(kind)


async def test_ensurer_retries_every_second_until_a_pass_succeeds(store: Store) -> None:
    flaky = FailingStore(store, failures=2)
    delays: list[float] = []

    async def record(seconds: float) -> None:
        delays.append(seconds)

    failures = await ensure_until_success(flaky, sleep=record)

    assert failures == 2
    assert delays == [1.0, 1.0]
    assert await names(store, FLOW_SCHEMA) == ALL_FLOW_SCHEMAS
