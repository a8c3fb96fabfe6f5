"""The Storage contract, run against every backend (memory and SQLite)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from apf.storage.interface import (
    EventType,
    KeyExists,
    KeyNotFound,
    Revision,
    RevisionCompacted,
    RevisionConflict,
    StorageUnavailable,
    StoredObject,
    WatcherTooSlow,
    WatchEvent,
)
from apf.storage.memory import MemoryStorage
from tests.storage.conftest import Factory, FakeClock

FS = "/flowcontrol.apiserver.k8s.io/flowschemas/"
PL = "/flowcontrol.apiserver.k8s.io/prioritylevelconfigurations/"


def summary(events: list[WatchEvent]) -> list[tuple[str, str, bytes, int, bytes | None]]:
    return [(str(e.type), e.key, e.value, e.revision, e.previous) for e in events]


async def take(events: AsyncIterator[WatchEvent], count: int) -> list[WatchEvent]:
    return [await anext(events) for _ in range(count)]


async def test_storage_create_then_get_returns_value_and_revision(storage: MemoryStorage) -> None:
    revision = await storage.create(FS + "a", b"one")

    stored = await storage.get(FS + "a")

    assert stored == StoredObject(key=FS + "a", value=b"one", revision=revision)
    assert revision == 1
    assert storage.current_revision() == 1


async def test_storage_get_returns_none_when_missing(storage: MemoryStorage) -> None:
    assert await storage.get(FS + "missing") is None


async def test_storage_create_raises_when_key_exists(storage: MemoryStorage) -> None:
    await storage.create(FS + "a", b"one")

    with pytest.raises(KeyExists, match="already exists"):
        await storage.create(FS + "a", b"two")

    assert storage.current_revision() == 1


async def test_storage_list_is_sorted_and_filtered_by_prefix(storage: MemoryStorage) -> None:
    for key in (FS + "c", PL + "x", FS + "a", FS + "b"):
        await storage.create(key, key.encode())

    result = await storage.list(FS)

    assert [item.key for item in result.items] == [FS + "a", FS + "b", FS + "c"]
    assert result.revision == 4


async def test_storage_update_swaps_when_revision_matches(storage: MemoryStorage) -> None:
    first = await storage.create(FS + "a", b"one")

    second = await storage.update(FS + "a", b"two", expected_revision=first)

    assert second > first
    assert await storage.get(FS + "a") == StoredObject(FS + "a", b"two", second)


async def test_storage_update_raises_conflict_when_revision_differs(
    storage: MemoryStorage,
) -> None:
    first = await storage.create(FS + "a", b"one")
    await storage.update(FS + "a", b"two", expected_revision=first)

    with pytest.raises(RevisionConflict, match="is at revision 2, not 1") as caught:
        await storage.update(FS + "a", b"three", expected_revision=first)

    assert (caught.value.expected, caught.value.actual) == (1, 2)
    assert (await storage.get(FS + "a")) == StoredObject(FS + "a", b"two", Revision(2))


async def test_storage_update_ignores_revision_when_expected_is_none(
    storage: MemoryStorage,
) -> None:
    await storage.create(FS + "a", b"one")

    revision = await storage.update(FS + "a", b"two", expected_revision=None)

    assert revision == 2


async def test_storage_update_raises_not_found_when_missing(storage: MemoryStorage) -> None:
    with pytest.raises(KeyNotFound, match="not found"):
        await storage.update(FS + "a", b"x", expected_revision=None)


async def test_storage_delete_returns_last_value_at_delete_revision(
    storage: MemoryStorage,
) -> None:
    created = await storage.create(FS + "a", b"one")

    deleted = await storage.delete(FS + "a", expected_revision=created)

    assert deleted == StoredObject(FS + "a", b"one", Revision(2))
    assert await storage.get(FS + "a") is None
    assert storage.current_revision() == 2


async def test_storage_delete_raises_conflict_when_revision_differs(
    storage: MemoryStorage,
) -> None:
    await storage.create(FS + "a", b"one")

    with pytest.raises(RevisionConflict):
        await storage.delete(FS + "a", expected_revision=7)

    assert await storage.get(FS + "a") is not None


async def test_storage_delete_raises_not_found_when_missing(storage: MemoryStorage) -> None:
    with pytest.raises(KeyNotFound):
        await storage.delete(FS + "a", expected_revision=None)


async def test_storage_revisions_strictly_increase_across_writes(storage: MemoryStorage) -> None:
    revisions = [await storage.create(FS + "a", b"1")]
    revisions.append(await storage.update(FS + "a", b"2", expected_revision=None))
    revisions.append((await storage.delete(FS + "a", expected_revision=None)).revision)
    revisions.append(await storage.create(FS + "a", b"3"))

    assert revisions == sorted(set(revisions))
    assert storage.current_revision() == revisions[-1]


async def test_storage_watch_replays_later_events_in_order(storage: MemoryStorage) -> None:
    await storage.create(FS + "a", b"1")
    mark = storage.current_revision()
    await storage.update(FS + "a", b"2", expected_revision=None)
    await storage.create(FS + "b", b"3")
    await storage.delete(FS + "a", expected_revision=None)

    events = await take(storage.watch(FS, after_revision=mark), 3)

    assert summary(events) == [
        ("MODIFIED", FS + "a", b"2", 2, b"1"),
        ("ADDED", FS + "b", b"3", 3, None),
        ("DELETED", FS + "a", b"2", 4, b"2"),
    ]


async def test_storage_watch_from_current_revision_yields_only_new_events(
    storage: MemoryStorage,
) -> None:
    await storage.create(FS + "old", b"1")
    events = storage.watch(FS, after_revision=storage.current_revision())
    pending = asyncio.ensure_future(anext(events))
    await storage.create(FS + "probe", b"p")  # may run before the watch registers

    first = await pending
    await storage.create(FS + "new", b"2")
    second = await anext(events)

    assert [first.key, second.key] == [FS + "probe", FS + "new"]


async def test_storage_watch_delivers_live_events_in_order(storage: MemoryStorage) -> None:
    events = storage.watch(FS, after_revision=0)
    await storage.create(FS + "a", b"1")
    await take(events, 1)

    for value in (b"2", b"3", b"4"):
        await storage.update(FS + "a", value, expected_revision=None)
    live = await take(events, 3)

    assert [(e.value, e.previous, e.revision) for e in live] == [
        (b"2", b"1", 2),
        (b"3", b"2", 3),
        (b"4", b"3", 4),
    ]


async def test_storage_watch_filters_by_prefix(storage: MemoryStorage) -> None:
    await storage.create(PL + "x", b"pl")
    await storage.create(FS + "a", b"fs")
    events = storage.watch(FS, after_revision=0)

    replayed = await take(events, 1)
    await storage.create(PL + "y", b"pl")
    await storage.create(FS + "b", b"fs")
    live = await take(events, 1)

    assert [e.key for e in replayed + live] == [FS + "a", FS + "b"]


async def test_storage_watch_raises_compacted_when_before_history(
    storage: MemoryStorage,
) -> None:
    for name in "abcd":
        await storage.create(FS + name, b"x")
    await storage.compact(2)

    with pytest.raises(RevisionCompacted, match="revision 1 has been compacted") as caught:
        await anext(storage.watch(FS, after_revision=1))
    replay = await take(storage.watch(FS, after_revision=2), 2)

    assert caught.value.oldest == 2
    assert storage.oldest_revision() == 2
    assert [e.revision for e in replay] == [3, 4]


async def test_storage_compact_keeps_revision_counting(storage: MemoryStorage) -> None:
    await storage.create(FS + "a", b"x")
    await storage.compact(1)

    revision = await storage.create(FS + "b", b"y")

    assert revision == 2


async def test_storage_history_forgets_old_events_beyond_limit(
    make_storage: Factory, clock: FakeClock
) -> None:
    storage = await make_storage(history_limit=3, history_min_age_seconds=60.0)
    for name in "abcde":
        await storage.create(FS + name, b"x")
    young = storage.oldest_revision()

    clock.now += 61
    await storage.create(FS + "f", b"x")

    assert young == 0
    assert storage.oldest_revision() == 3
    with pytest.raises(RevisionCompacted):
        await anext(storage.watch(FS, after_revision=2))


async def test_storage_history_never_exceeds_max_events(make_storage: Factory) -> None:
    storage = await make_storage(
        history_limit=2, history_min_age_seconds=3600.0, history_max_events=4
    )

    for name in "abcdefg":
        await storage.create(FS + name, b"x")

    assert storage.statistics().history_events == 4
    assert storage.oldest_revision() == 3


async def test_storage_slow_watcher_is_dropped_with_bounded_buffer(
    make_storage: Factory,
) -> None:
    storage = await make_storage(watcher_buffer=5)
    events = storage.watch(FS, after_revision=0)
    await storage.create(FS + "first", b"x")
    await take(events, 1)

    for index in range(50):
        await storage.create(f"{FS}{index:03}", b"x")
    stats = storage.statistics()

    assert stats.watchers == 0
    assert stats.buffered_events == 0
    with pytest.raises(WatcherTooSlow, match="fell 5 events behind"):
        await anext(events)


async def test_storage_buffer_stays_bounded_while_watcher_keeps_up_partially(
    make_storage: Factory,
) -> None:
    storage = await make_storage(watcher_buffer=5)
    events = storage.watch(FS, after_revision=0)
    await storage.create(FS + "first", b"x")
    await take(events, 1)

    for index in range(4):
        await storage.create(f"{FS}{index:03}", b"x")
    stats = storage.statistics()
    drained = await take(events, 4)

    assert (stats.watchers, stats.buffered_events) == (1, 4)
    assert [e.revision for e in drained] == [2, 3, 4, 5]


async def test_storage_close_ends_running_watches(storage: MemoryStorage) -> None:
    events = storage.watch(FS, after_revision=0)
    await storage.create(FS + "a", b"x")
    await take(events, 1)
    waiting = asyncio.ensure_future(anext(events))

    await storage.close()

    with pytest.raises(StopAsyncIteration):
        await waiting


async def test_storage_refuses_calls_after_close(storage: MemoryStorage) -> None:
    await storage.close()

    with pytest.raises(StorageUnavailable, match="closed"):
        await storage.create(FS + "a", b"x")
    with pytest.raises(StorageUnavailable, match="closed"):
        await storage.list(FS)
    with pytest.raises(StopAsyncIteration):
        await anext(storage.watch(FS, after_revision=0))


async def test_storage_watch_skips_events_up_to_a_future_revision(
    storage: MemoryStorage,
) -> None:
    events = storage.watch(FS, after_revision=2)
    pending = asyncio.ensure_future(anext(events))

    for name in "abc":
        await storage.create(FS + name, b"x")
    first = await pending

    assert (first.key, first.revision) == (FS + "c", 3)


async def test_storage_delete_event_carries_last_value(storage: MemoryStorage) -> None:
    events = storage.watch(FS, after_revision=0)
    await storage.create(FS + "a", b"v1")
    await storage.delete(FS + "a", expected_revision=None)

    added, deleted = await take(events, 2)

    assert (added.type, deleted.type) == (EventType.ADDED, EventType.DELETED)
    assert (deleted.value, deleted.previous) == (b"v1", b"v1")
