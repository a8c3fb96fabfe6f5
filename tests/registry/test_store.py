"""The Store's Kubernetes strategy over the in-memory storage backend."""

from __future__ import annotations

import copy
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from apf.api.errors import StatusError
from apf.api.kinds import FLOW_SCHEMA, PRIORITY_LEVEL
from apf.registry.store import CONFLICT_MESSAGE, ObjectEvent, Preconditions, Store
from apf.storage.interface import EventType
from apf.storage.memory import MemoryStorage

Object = dict[str, Any]


def flow_schema(name: str = "fs-a", **spec: Any) -> Object:
    """A valid v1 FlowSchema; ``spec`` entries override the defaults here."""
    base_spec: Object = {
        "priorityLevelConfiguration": {"name": "global-default"},
        "matchingPrecedence": 500,
        "rules": [
            {
                "subjects": [{"kind": "User", "user": {"name": "alice"}}],
                "nonResourceRules": [{"verbs": ["get"], "nonResourceURLs": ["/x"]}],
            }
        ],
    }
    base_spec.update(spec)
    return {
        "apiVersion": "flowcontrol.apiserver.k8s.io/v1",
        "kind": "FlowSchema",
        "metadata": {"name": name},
        "spec": base_spec,
    }


def priority_level(name: str = "pl-a", shares: int = 5) -> Object:
    return {
        "apiVersion": "flowcontrol.apiserver.k8s.io/v1",
        "kind": "PriorityLevelConfiguration",
        "metadata": {"name": name},
        "spec": {
            "type": "Limited",
            "limited": {"nominalConcurrencyShares": shares, "limitResponse": {"type": "Reject"}},
        },
    }


@pytest.fixture
async def store() -> AsyncIterator[Store]:
    storage = MemoryStorage()
    await storage.start()
    try:
        yield Store(storage)
    finally:
        await storage.close()


async def test_store_create_sets_system_fields(store: Store) -> None:
    obj = flow_schema()
    obj["metadata"]["namespace"] = "default"
    obj["status"] = {"conditions": [{"type": "Dangling", "status": "True"}]}

    created = await store.create(FLOW_SCHEMA, obj)

    metadata = created["metadata"]
    assert re.fullmatch(r"[0-9a-f-]{36}", metadata["uid"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", metadata["creationTimestamp"])
    assert metadata["generation"] == 1
    assert int(metadata["resourceVersion"]) > 0
    assert "namespace" not in metadata
    assert created["status"] == {}


async def test_store_create_applies_defaults(store: Store) -> None:
    obj = flow_schema()
    del obj["spec"]["matchingPrecedence"]

    created = await store.create(FLOW_SCHEMA, obj)

    assert created["spec"]["matchingPrecedence"] == 1000


async def test_store_create_generates_name_from_prefix(store: Store) -> None:
    obj = flow_schema()
    obj["metadata"] = {"generateName": "gen-"}

    created = await store.create(FLOW_SCHEMA, obj)

    assert re.fullmatch(r"gen-[bcdfghjklmnpqrstvwxz2456789]{5}", created["metadata"]["name"])
    assert (await store.get(FLOW_SCHEMA, created["metadata"]["name"]))["metadata"]["uid"] == (
        created["metadata"]["uid"]
    )


async def test_store_create_rejects_existing_name(store: Store) -> None:
    await store.create(FLOW_SCHEMA, flow_schema())

    with pytest.raises(StatusError) as caught:
        await store.create(FLOW_SCHEMA, flow_schema())

    assert (caught.value.code, caught.value.reason) == (409, "AlreadyExists")
    assert caught.value.message == (
        'flowschemas.flowcontrol.apiserver.k8s.io "fs-a" already exists'
    )


async def test_store_create_rejects_invalid_object(store: Store) -> None:
    with pytest.raises(StatusError) as caught:
        await store.create(FLOW_SCHEMA, flow_schema(matchingPrecedence=20000))

    assert (caught.value.code, caught.value.reason) == (422, "Invalid")
    assert "spec.matchingPrecedence" in caught.value.message


async def test_store_create_dry_run_stores_nothing(store: Store) -> None:
    created = await store.create(FLOW_SCHEMA, flow_schema(), dry_run=True)

    assert created["metadata"]["uid"]
    with pytest.raises(StatusError, match="not found"):
        await store.get(FLOW_SCHEMA, "fs-a")


async def test_store_get_missing_is_not_found(store: Store) -> None:
    with pytest.raises(StatusError) as caught:
        await store.get(PRIORITY_LEVEL, "nope")

    assert caught.value.code == 404
    assert caught.value.message == (
        'prioritylevelconfigurations.flowcontrol.apiserver.k8s.io "nope" not found'
    )


async def test_store_list_sorts_by_name_at_one_revision(store: Store) -> None:
    for name in ("pl-c", "pl-a", "pl-b"):
        await store.create(PRIORITY_LEVEL, priority_level(name))

    objects, revision = await store.list(PRIORITY_LEVEL)

    assert [o["metadata"]["name"] for o in objects] == ["pl-a", "pl-b", "pl-c"]
    assert revision == max(int(o["metadata"]["resourceVersion"]) for o in objects)


async def test_store_update_conflicts_on_stale_resource_version(store: Store) -> None:
    created = await store.create(PRIORITY_LEVEL, priority_level())
    stale = copy.deepcopy(created)
    created["spec"]["limited"]["nominalConcurrencyShares"] = 7
    await store.update(PRIORITY_LEVEL, created)

    with pytest.raises(StatusError) as caught:
        await store.update(PRIORITY_LEVEL, stale)

    assert (caught.value.code, caught.value.reason) == (409, "Conflict")
    assert caught.value.message == (
        "Operation cannot be fulfilled on prioritylevelconfigurations.flowcontrol.apiserver.k8s.io"
        f' "pl-a": {CONFLICT_MESSAGE}'
    )


async def test_store_update_without_resource_version_is_unconditional(store: Store) -> None:
    created = await store.create(PRIORITY_LEVEL, priority_level())
    del created["metadata"]["resourceVersion"]
    created["spec"]["limited"]["nominalConcurrencyShares"] = 9

    updated = await store.update(PRIORITY_LEVEL, created)

    assert updated["spec"]["limited"]["nominalConcurrencyShares"] == 9


async def test_store_update_bumps_generation_only_on_spec_change(store: Store) -> None:
    created = await store.create(PRIORITY_LEVEL, priority_level())
    created["metadata"]["labels"] = {"a": "b"}
    relabelled = await store.update(PRIORITY_LEVEL, created)
    relabelled["spec"]["limited"]["nominalConcurrencyShares"] = 8

    respecced = await store.update(PRIORITY_LEVEL, relabelled)

    assert relabelled["metadata"]["generation"] == 1
    assert respecced["metadata"]["generation"] == 2


async def test_store_update_keeps_status_and_immutable_metadata(store: Store) -> None:
    created = await store.create(FLOW_SCHEMA, flow_schema())
    changed = copy.deepcopy(created)
    changed["status"] = {"conditions": [{"type": "Dangling", "status": "True"}]}
    changed["metadata"]["creationTimestamp"] = "2000-01-01T00:00:00Z"
    changed["metadata"]["generation"] = 40

    updated = await store.update(FLOW_SCHEMA, changed)

    assert updated["status"] == {}
    assert updated["metadata"]["creationTimestamp"] == created["metadata"]["creationTimestamp"]
    assert updated["metadata"]["generation"] == 1


async def test_store_status_update_ignores_spec_and_metadata(store: Store) -> None:
    created = await store.create(FLOW_SCHEMA, flow_schema())
    changed = copy.deepcopy(created)
    changed["spec"]["matchingPrecedence"] = 42
    changed["metadata"]["labels"] = {"x": "y"}
    changed["status"] = {"conditions": [{"type": "Dangling", "status": "False"}]}

    updated = await store.update(FLOW_SCHEMA, changed, status=True)

    assert updated["spec"]["matchingPrecedence"] == 500
    assert "labels" not in updated["metadata"]
    assert updated["status"]["conditions"][0]["status"] == "False"
    assert updated["metadata"]["generation"] == 1


async def test_store_status_update_validates_status(store: Store) -> None:
    created = await store.create(FLOW_SCHEMA, flow_schema())
    created["status"] = {"conditions": [{"type": "A"}, {"type": "A"}]}

    with pytest.raises(StatusError) as caught:
        await store.update(FLOW_SCHEMA, created, status=True)

    assert caught.value.code == 422


async def test_store_update_missing_is_not_found(store: Store) -> None:
    with pytest.raises(StatusError) as caught:
        await store.update(FLOW_SCHEMA, flow_schema("ghost"))

    assert caught.value.code == 404


async def test_store_update_rejects_uid_mismatch(store: Store) -> None:
    created = await store.create(FLOW_SCHEMA, flow_schema())
    created["metadata"]["uid"] = "other"

    with pytest.raises(StatusError, match="Precondition failed: UID in precondition: other"):
        await store.update(FLOW_SCHEMA, created)


async def test_store_update_dry_run_keeps_stored_object(store: Store) -> None:
    created = await store.create(PRIORITY_LEVEL, priority_level())
    created["spec"]["limited"]["nominalConcurrencyShares"] = 11

    answered = await store.update(PRIORITY_LEVEL, created, dry_run=True)

    stored = await store.get(PRIORITY_LEVEL, "pl-a")
    assert answered["spec"]["limited"]["nominalConcurrencyShares"] == 11
    assert stored["spec"]["limited"]["nominalConcurrencyShares"] == 5


async def test_store_delete_returns_last_state(store: Store) -> None:
    created = await store.create(PRIORITY_LEVEL, priority_level())

    deleted = await store.delete(PRIORITY_LEVEL, "pl-a")

    assert deleted["metadata"]["uid"] == created["metadata"]["uid"]
    with pytest.raises(StatusError, match="not found"):
        await store.get(PRIORITY_LEVEL, "pl-a")


@pytest.mark.parametrize(
    ("preconditions", "message"),
    [
        pytest.param(Preconditions(uid="x"), "UID in precondition: x", id="uid"),
        pytest.param(
            Preconditions(resource_version="1"), "ResourceVersion in precondition: 1", id="rv"
        ),
    ],
)
async def test_store_delete_checks_preconditions(
    store: Store, preconditions: Preconditions, message: str
) -> None:
    await store.create(PRIORITY_LEVEL, priority_level("pl-z"))
    await store.create(PRIORITY_LEVEL, priority_level())

    with pytest.raises(StatusError, match=message) as caught:
        await store.delete(PRIORITY_LEVEL, "pl-a", preconditions=preconditions)

    assert caught.value.code == 409


async def test_store_delete_dry_run_keeps_object(store: Store) -> None:
    await store.create(PRIORITY_LEVEL, priority_level())

    await store.delete(PRIORITY_LEVEL, "pl-a", dry_run=True)

    assert (await store.get(PRIORITY_LEVEL, "pl-a"))["metadata"]["name"] == "pl-a"


async def test_store_delete_missing_is_not_found(store: Store) -> None:
    with pytest.raises(StatusError) as caught:
        await store.delete(PRIORITY_LEVEL, "pl-a")

    assert caught.value.code == 404


async def _take(events: AsyncIterator[ObjectEvent], count: int) -> list[ObjectEvent]:
    taken: list[ObjectEvent] = []
    async for event in events:
        taken.append(event)
        if len(taken) == count:
            break
    return taken


async def test_store_watch_yields_events_after_revision(store: Store) -> None:
    _, start = await store.list(PRIORITY_LEVEL)
    created = await store.create(PRIORITY_LEVEL, priority_level())
    created["spec"]["limited"]["nominalConcurrencyShares"] = 6
    await store.update(PRIORITY_LEVEL, created)
    await store.delete(PRIORITY_LEVEL, "pl-a")

    events = await _take(store.watch(PRIORITY_LEVEL, after_revision=start), 3)

    assert [e.type for e in events] == [EventType.ADDED, EventType.MODIFIED, EventType.DELETED]
    modified = events[1]
    assert modified.previous is not None
    assert modified.previous["spec"]["limited"]["nominalConcurrencyShares"] == 5
    assert modified.object["metadata"]["resourceVersion"] == str(modified.revision)


async def test_store_watch_from_compacted_revision_is_expired(store: Store) -> None:
    await store.create(PRIORITY_LEVEL, priority_level())
    await store.create(PRIORITY_LEVEL, priority_level("pl-b"))
    await store.storage.compact(store.storage.current_revision())

    with pytest.raises(StatusError) as caught:
        await _take(store.watch(PRIORITY_LEVEL, after_revision=0), 1)

    assert (caught.value.code, caught.value.reason) == (410, "Expired")
    assert caught.value.message.startswith("too old resource version: 0 (")


async def test_store_update_without_changes_writes_nothing(store: Store) -> None:
    created = await store.create(PRIORITY_LEVEL, priority_level())

    updated = await store.update(PRIORITY_LEVEL, copy.deepcopy(created))

    assert updated["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    assert store.storage.current_revision() == int(created["metadata"]["resourceVersion"])


async def test_store_create_dry_run_rejects_existing_name(store: Store) -> None:
    await store.create(FLOW_SCHEMA, flow_schema())

    with pytest.raises(StatusError) as caught:
        await store.create(FLOW_SCHEMA, flow_schema(), dry_run=True)

    assert caught.value.code == 409


async def test_store_create_requires_a_name(store: Store) -> None:
    obj = flow_schema()
    obj["metadata"] = {}

    with pytest.raises(StatusError) as caught:
        await store.create(FLOW_SCHEMA, obj)

    assert caught.value.code == 422
    assert "metadata.name" in caught.value.message
