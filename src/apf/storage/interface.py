"""The storage contract every backend (memory, SQLite, etcd) implements.

Objects are opaque encoded bytes under string keys such as
``/flowcontrol.apiserver.k8s.io/flowschemas/<name>``. Every successful write
advances one global, strictly increasing revision; the revision at which an
object was last written is its ``resourceVersion``. Backends never look inside
the bytes: the layer above injects ``metadata.resourceVersion`` on read.

Watch semantics follow etcd: ``watch(prefix, after_revision=N)`` yields every
event with revision > N, in revision order, then live events. When N is older
than the retained history the call raises :class:`RevisionCompacted`; the API
layer turns that into ``410 Gone``. A watcher that falls too far behind is
closed with :class:`WatcherTooSlow` rather than buffering without bound.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import NewType, Protocol

Revision = NewType("Revision", int)


class EventType(enum.StrEnum):
    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"


@dataclass(frozen=True, slots=True)
class StoredObject:
    """One object as stored: key, encoded bytes, and the revision of its last write."""

    key: str
    value: bytes
    revision: Revision


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """A change at ``revision``; for DELETED, ``value`` is the last stored value.

    ``previous`` is the value before a MODIFIED or DELETED change (None for
    ADDED); the API layer uses it to turn selector transitions into ADDED or
    DELETED events as Kubernetes does.
    """

    type: EventType
    key: str
    value: bytes
    revision: Revision
    previous: bytes | None


@dataclass(frozen=True, slots=True)
class ListResult:
    items: list[StoredObject]
    revision: Revision


class StorageError(Exception):
    """Base class of every storage failure."""


class KeyExists(StorageError):
    def __init__(self, key: str) -> None:
        super().__init__(f"key {key!r} already exists")
        self.key = key


class KeyNotFound(StorageError):
    def __init__(self, key: str) -> None:
        super().__init__(f"key {key!r} not found")
        self.key = key


class RevisionConflict(StorageError):
    """A compare-and-swap failed: the object changed since ``expected``."""

    def __init__(self, key: str, *, expected: int, actual: int) -> None:
        super().__init__(f"key {key!r} is at revision {actual}, not {expected}")
        self.key = key
        self.expected = expected
        self.actual = actual


class RevisionCompacted(StorageError):
    """The requested revision is older than the retained history."""

    def __init__(self, *, requested: int, oldest: int) -> None:
        super().__init__(
            f"revision {requested} has been compacted; the oldest available is {oldest}"
        )
        self.requested = requested
        self.oldest = oldest


class WatcherTooSlow(StorageError):
    """The watcher fell behind its bounded buffer and was closed; relist and rewatch."""


class StorageUnavailable(StorageError):
    """The backend cannot serve the call now (closed, disk error, lost quorum)."""


class Storage(Protocol):
    """A versioned key-value store with compare-and-swap writes and watch."""

    async def start(self) -> None:
        """Open files or connections; called once before any other call."""

    async def close(self) -> None:
        """Release resources; running watches end."""

    def current_revision(self) -> Revision:
        """The revision of the newest committed write (0 for an empty store)."""

    def oldest_revision(self) -> Revision:
        """The oldest revision a watch may still start after."""

    async def get(self, key: str) -> StoredObject | None:
        """Read one key at the newest revision."""

    async def list(self, prefix: str) -> ListResult:
        """Read every key under ``prefix``, sorted by key, at one consistent revision."""

    async def create(self, key: str, value: bytes) -> Revision:
        """Store a new key; durable before returning. Raises KeyExists."""

    async def update(self, key: str, value: bytes, *, expected_revision: int | None) -> Revision:
        """Replace a key if its revision is ``expected_revision`` (None: unconditionally).

        Raises KeyNotFound or RevisionConflict. Durable before returning.
        """

    async def delete(self, key: str, *, expected_revision: int | None) -> StoredObject:
        """Remove a key, returning its last value at the deletion's revision.

        Raises KeyNotFound or RevisionConflict. Durable before returning.
        """

    def watch(self, prefix: str, *, after_revision: int) -> AsyncIterator[WatchEvent]:
        """Yield events under ``prefix`` with revision > ``after_revision``, then live ones.

        Raises RevisionCompacted (on first iteration) when the history is gone,
        and WatcherTooSlow when the consumer falls too far behind.
        """

    async def compact(self, revision: int) -> None:
        """Forget history at or before ``revision``; watches from there get RevisionCompacted."""
