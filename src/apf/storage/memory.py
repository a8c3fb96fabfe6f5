"""In-process storage: the reference behaviour of the Storage contract, for tests and demos.

Everything lives in dicts; nothing survives the process. Writes are
"durable" the moment they return. History is kept as a list of events, trimmed
to ``history_limit`` entries; watchers get a bounded queue each and are closed
with WatcherTooSlow when it overflows.
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import AsyncIterator
from pathlib import Path

from apf.storage.interface import (
    EventType,
    KeyExists,
    KeyNotFound,
    ListResult,
    Revision,
    RevisionCompacted,
    RevisionConflict,
    StoredObject,
    WatcherTooSlow,
    WatchEvent,
)

_CLOSED = object()


class _Watcher:
    """One watch: its prefix and a bounded queue of events (or a terminal marker)."""

    def __init__(self, prefix: str, limit: int) -> None:
        self.prefix = prefix
        self.queue: asyncio.Queue[WatchEvent | object] = asyncio.Queue(limit + 1)
        self.limit = limit
        self.overflowed = False

    def offer(self, event: WatchEvent) -> None:
        if self.overflowed or not event.key.startswith(self.prefix):
            return
        if self.queue.qsize() >= self.limit:
            # Keep memory bounded: drop the backlog and tell the consumer to relist.
            self.overflowed = True
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(WatcherTooSlow())
            return
        self.queue.put_nowait(event)

    def close(self) -> None:
        if not self.overflowed:
            self.queue.put_nowait(_CLOSED)


class MemoryStorage:
    """The Storage protocol in memory."""

    def __init__(
        self,
        data_dir: Path | None = None,
        *,
        history_limit: int = 10_000,
        watcher_buffer: int = 1_000,
    ) -> None:
        self._objects: dict[str, StoredObject] = {}
        self._history: list[WatchEvent] = []
        self._revision = 0
        # Watches may start after any revision >= this one.
        self._compacted = 0
        self._history_limit = history_limit
        self._watcher_buffer = watcher_buffer
        self._watchers: set[_Watcher] = set()

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        for watcher in self._watchers:
            watcher.close()
        self._watchers.clear()

    def current_revision(self) -> Revision:
        return Revision(self._revision)

    def oldest_revision(self) -> Revision:
        return Revision(self._compacted)

    async def get(self, key: str) -> StoredObject | None:
        return self._objects.get(key)

    async def list(self, prefix: str) -> ListResult:
        items = sorted(
            (o for k, o in self._objects.items() if k.startswith(prefix)), key=lambda o: o.key
        )
        return ListResult(items=items, revision=Revision(self._revision))

    async def create(self, key: str, value: bytes) -> Revision:
        if key in self._objects:
            raise KeyExists(key)
        return self._commit(EventType.ADDED, key, value, previous=None)

    async def update(self, key: str, value: bytes, *, expected_revision: int | None) -> Revision:
        current = self._checked(key, expected_revision)
        return self._commit(EventType.MODIFIED, key, value, previous=current.value)

    async def delete(self, key: str, *, expected_revision: int | None) -> StoredObject:
        current = self._checked(key, expected_revision)
        revision = self._commit(EventType.DELETED, key, current.value, previous=current.value)
        return StoredObject(key=key, value=current.value, revision=revision)

    def _checked(self, key: str, expected_revision: int | None) -> StoredObject:
        current = self._objects.get(key)
        if current is None:
            raise KeyNotFound(key)
        if expected_revision is not None and current.revision != expected_revision:
            raise RevisionConflict(key, expected=expected_revision, actual=current.revision)
        return current

    def _commit(
        self, kind: EventType, key: str, value: bytes, *, previous: bytes | None
    ) -> Revision:
        self._revision += 1
        revision = Revision(self._revision)
        if kind is EventType.DELETED:
            del self._objects[key]
        else:
            self._objects[key] = StoredObject(key=key, value=value, revision=revision)
        event = WatchEvent(type=kind, key=key, value=value, revision=revision, previous=previous)
        self._history.append(event)
        if len(self._history) > self._history_limit:
            self._forget(len(self._history) - self._history_limit)
        for watcher in list(self._watchers):
            watcher.offer(event)
        return revision

    def _forget(self, count: int) -> None:
        self._compacted = self._history[count - 1].revision
        del self._history[:count]

    async def compact(self, revision: int) -> None:
        index = bisect.bisect_right([e.revision for e in self._history], revision)
        if index:
            self._forget(index)
        self._compacted = max(self._compacted, min(revision, self._revision))

    def watch(self, prefix: str, *, after_revision: int) -> AsyncIterator[WatchEvent]:
        return self._watch(prefix, after_revision)

    async def _watch(self, prefix: str, after_revision: int) -> AsyncIterator[WatchEvent]:
        if after_revision < self._compacted:
            raise RevisionCompacted(requested=after_revision, oldest=self._compacted)
        # Register first so nothing committed during the replay is missed.
        watcher = _Watcher(prefix, self._watcher_buffer)
        self._watchers.add(watcher)
        backlog = [e for e in self._history if e.revision > after_revision]
        try:
            for event in backlog:
                if event.key.startswith(prefix):
                    yield event
            while True:
                item = await watcher.queue.get()
                if item is _CLOSED:
                    return
                if isinstance(item, WatcherTooSlow):
                    raise item
                assert isinstance(item, WatchEvent)
                yield item
        finally:
            self._watchers.discard(watcher)
