"""In-process storage: the reference behaviour of the Storage contract, for tests and demos.

Design. The current objects sit in a dict keyed by storage key; every write
bumps one integer revision and appends a :class:`WatchEvent` (with the
previous value) to an in-memory history. Methods that change state are
``async`` only to honour the protocol: none of them awaits before its change
is complete, so on one event loop every write is atomic and the history is in
revision order without a lock.

History retention. An event is forgotten once it is both beyond the newest
``history_limit`` events and older than ``history_min_age_seconds``; in any
case no more than ``history_max_events`` are kept, so a write storm cannot grow
memory without bound. ``compact(revision)`` forgets explicitly. Watches that
start before the forgotten part raise :class:`RevisionCompacted`.

Watch fan-out. Each running watch owns a queue bounded by ``watcher_buffer``
events. A write offers its event to every matching watch without waiting; a
watch whose queue is full is dropped at once (its backlog freed) and its
iterator raises :class:`WatcherTooSlow`, so clients relist and rewatch as they
do after an etcd watch is cancelled. ``close()`` ends every iterator with
``StopAsyncIteration``, and so does a watch first iterated after ``close()``.

Durability: none, everything is lost with the process. Left out: nothing of
the contract; ``data_dir`` is accepted only so the backends share a
constructor shape.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

from apf.storage.interface import (
    EventType,
    KeyExists,
    KeyNotFound,
    ListResult,
    Revision,
    RevisionCompacted,
    RevisionConflict,
    StorageUnavailable,
    StoredObject,
    WatcherTooSlow,
    WatchEvent,
)

__all__ = ["HistoryEntry", "MemoryStorage", "StorageStatistics"]

# Queued after the last event of a watch that ends because the storage closed.
_CLOSED = object()


@dataclass(frozen=True, slots=True)
class StorageStatistics:
    """A snapshot of a backend's bookkeeping, for debug endpoints and tests."""

    revision: int
    oldest_revision: int
    objects: int
    history_events: int
    watchers: int
    buffered_events: int


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One retained event and the wall-clock time (seconds since the epoch) it was written."""

    event: WatchEvent
    written_at: float


class _Watcher:
    """One running watch: its prefix and a queue of at most ``limit`` events plus one marker.

    The extra slot always leaves room for the terminal marker (``_CLOSED`` or a
    ``WatcherTooSlow``), so ending a watch never blocks and never fails.
    """

    def __init__(self, prefix: str, *, after_revision: int, limit: int) -> None:
        self.prefix = prefix
        self.after_revision = after_revision
        self.limit = limit
        self.queue: asyncio.Queue[WatchEvent | object] = asyncio.Queue(limit + 1)
        self.is_ended = False

    def offer(self, event: WatchEvent) -> bool:
        """Queue ``event`` if it matches; False when the watch overflowed and was ended."""
        if self.is_ended or event.revision <= self.after_revision:
            return not self.is_ended
        if not event.key.startswith(self.prefix):
            return True
        if self.queue.qsize() < self.limit:
            self.queue.put_nowait(event)
            return True
        self._end(WatcherTooSlow(f"watch on {self.prefix!r} fell {self.limit} events behind"))
        return False

    def close(self) -> None:
        """End the watch after the events already queued."""
        if not self.is_ended:
            self.is_ended = True
            self.queue.put_nowait(_CLOSED)

    def _end(self, error: WatcherTooSlow) -> None:
        # Free the backlog at once: the consumer must relist anyway.
        self.is_ended = True
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(error)


class MemoryStorage:
    """The Storage protocol in memory; see the module docstring for retention and fan-out."""

    def __init__(
        self,
        data_dir: Path | None = None,
        *,
        history_limit: int = 10_000,
        history_min_age_seconds: float = 300.0,
        history_max_events: int = 100_000,
        watcher_buffer: int = 1_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not 0 < history_limit <= history_max_events:
            raise ValueError("need 0 < history_limit <= history_max_events")
        if watcher_buffer < 1:
            raise ValueError("watcher_buffer must be at least 1")
        self._objects: dict[str, StoredObject] = {}
        # Retained events in revision order; only the oldest are ever removed.
        self._history: list[HistoryEntry] = []
        # Newest committed revision; strictly increases, never reused.
        self._revision = 0
        # Highest forgotten revision: watches may start after any revision >= this.
        self._compacted = 0
        self._history_limit = history_limit
        self._history_min_age_seconds = history_min_age_seconds
        self._history_max_events = history_max_events
        self._watcher_buffer = watcher_buffer
        self._clock = clock
        self._watchers: set[_Watcher] = set()
        self._is_closed = False

    async def start(self) -> None:
        """Nothing to open in memory."""
        return

    async def close(self) -> None:
        """Refuse further calls and end every running watch."""
        self._is_closed = True
        for watcher in self._watchers:
            watcher.close()
        self._watchers.clear()

    def current_revision(self) -> Revision:
        return Revision(self._revision)

    def oldest_revision(self) -> Revision:
        return Revision(self._compacted)

    def statistics(self) -> StorageStatistics:
        """Return counts of objects, retained events, watches and queued events."""
        return StorageStatistics(
            revision=self._revision,
            oldest_revision=self._compacted,
            objects=len(self._objects),
            history_events=len(self._history),
            watchers=len(self._watchers),
            buffered_events=sum(w.queue.qsize() for w in self._watchers),
        )

    async def get(self, key: str) -> StoredObject | None:
        self._check_open()
        return self._objects.get(key)

    async def list(self, prefix: str) -> ListResult:
        self._check_open()
        items = [obj for key, obj in self._objects.items() if key.startswith(prefix)]
        items.sort(key=lambda obj: obj.key)
        return ListResult(items=items, revision=Revision(self._revision))

    async def create(self, key: str, value: bytes) -> Revision:
        self._check_open()
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

    async def compact(self, revision: int) -> None:
        self._check_open()
        self._compact_to(revision)

    def watch(self, prefix: str, *, after_revision: int) -> AsyncIterator[WatchEvent]:
        return self._watch(prefix, after_revision)

    def _check_open(self) -> None:
        if self._is_closed:
            raise StorageUnavailable("storage is closed")

    def _checked(self, key: str, expected_revision: int | None) -> StoredObject:
        """Return the current object of ``key`` if it passes the compare-and-swap check."""
        self._check_open()
        current = self._objects.get(key)
        if current is None:
            raise KeyNotFound(key)
        if expected_revision is not None and current.revision != expected_revision:
            raise RevisionConflict(key, expected=expected_revision, actual=current.revision)
        return current

    def _commit(
        self,
        kind: EventType,
        key: str,
        value: bytes,
        *,
        previous: bytes | None,
    ) -> Revision:
        """Apply one checked write: objects, history, retention, then watchers."""
        self._revision += 1
        revision = Revision(self._revision)
        if kind is EventType.DELETED:
            del self._objects[key]
        else:
            self._objects[key] = StoredObject(key=key, value=value, revision=revision)
        event = WatchEvent(type=kind, key=key, value=value, revision=revision, previous=previous)
        now = self._clock()
        self._history.append(HistoryEntry(event=event, written_at=now))
        self._retain(now)
        for watcher in list(self._watchers):
            if not watcher.offer(event):
                self._watchers.discard(watcher)
        return revision

    def _retain(self, now: float) -> None:
        """Forget the events the retention rule no longer requires."""
        excess = len(self._history) - self._history_limit
        if excess <= 0:
            return
        cutoff = now - self._history_min_age_seconds
        old = bisect.bisect_right(self._history, cutoff, hi=excess, key=lambda e: e.written_at)
        count = max(old, len(self._history) - self._history_max_events)
        if count:
            self._compact_to(self._history[count - 1].event.revision)

    def _compact_to(self, revision: int) -> None:
        """Forget every event at or before ``revision`` (capped at the current revision)."""
        revision = min(revision, self._revision)
        count = bisect.bisect_right(self._history, revision, key=lambda e: e.event.revision)
        del self._history[:count]
        self._compacted = max(self._compacted, revision)

    async def _watch(self, prefix: str, after_revision: int) -> AsyncIterator[WatchEvent]:
        if self._is_closed:
            # Same ending as a watch that was running when the storage closed.
            return
        if after_revision < self._compacted:
            raise RevisionCompacted(requested=after_revision, oldest=self._compacted)
        # Register and copy the backlog without awaiting in between, so every
        # event is either in the backlog or offered to the queue, never both.
        watcher = _Watcher(prefix, after_revision=after_revision, limit=self._watcher_buffer)
        self._watchers.add(watcher)
        start = bisect.bisect_right(self._history, after_revision, key=lambda e: e.event.revision)
        backlog = [e.event for e in self._history[start:] if e.event.key.startswith(prefix)]
        try:
            for event in backlog:
                yield event
            del backlog
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
