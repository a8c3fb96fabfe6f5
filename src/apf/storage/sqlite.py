"""The embedded default backend: SQLite in WAL mode, one file ``data_dir/apf.db``.

Design. The current objects and the retained history live in memory exactly
as in :class:`MemoryStorage` (this class extends it); SQLite is the durable
truth behind them. Reads, lists and watch replays are served from memory and
never touch the disk. A write goes through three steps, serialised by one
asyncio lock:

1. check the compare-and-swap against the in-memory copy (which only changes
   after a commit, so it is exactly what is on disk);
2. on the single writer thread, one transaction stores the object, appends the
   event with its wall-clock time, persists the new global revision and, when
   the in-memory history has moved its compaction point, trims the events
   table to match;
3. only after the commit returned, update the in-memory copy and notify the
   watchers.

A writer *thread* keeps the event loop free while SQLite waits on ``fsync``;
one thread is enough because SQLite serialises writers anyway, and it means a
single connection that no other thread touches. Steps 2 and 3 run in a task
shielded from cancellation: a cancelled caller cannot leave a committed row
that memory does not know about.

Durability. ``journal_mode=WAL`` with ``synchronous=FULL`` syncs the WAL on
every commit, so a write is on disk before ``create``/``update``/``delete``
return: an acknowledged write survives ``kill -9`` and power loss (as far as
the disk honours ``fsync``). The revision is stored in the ``meta`` table and
never goes back, even when every event has been trimmed.

Start. The schema is created if missing; a quick integrity check runs; the
objects, the revision and the events after the persisted compaction point are
loaded, so a watch can resume from a revision seen before a restart. The file
is opened in exclusive locking mode and a write lock is taken at once, so a
second server on the same directory fails at start with
:class:`StorageUnavailable` instead of corrupting anything later.

Relation to etcd. Revisions, compare-and-swap on the mod revision, watch from
a revision with the previous value, and compaction by revision all mirror
etcd, so an etcd backend fits the same interface. Differences: we keep no
create revision or per-key version, and retention is by count and age rather
than by an external compactor. Left out: multi-process access, online backup,
and size-based compaction of the file itself (``VACUUM``).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from apf.storage.interface import (
    EventType,
    KeyExists,
    Revision,
    StorageUnavailable,
    StoredObject,
    WatchEvent,
)
from apf.storage.memory import HistoryEntry, MemoryStorage

__all__ = ["SqliteStorage"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

FILE_NAME = "apf.db"

SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL,
    revision INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    revision INTEGER PRIMARY KEY,
    type TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    previous BLOB,
    written_at REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class _Row:
    """One write as the writer thread stores it."""

    event: WatchEvent
    written_at: float
    trim_to: int


class SqliteStorage(MemoryStorage):
    """Durable storage in ``data_dir/apf.db``; see the module docstring."""

    def __init__(
        self,
        data_dir: Path,
        *,
        history_limit: int = 10_000,
        history_min_age_seconds: float = 300.0,
        history_max_events: int = 100_000,
        watcher_buffer: int = 1_000,
        clock: Callable[[], float] = time.time,
        busy_timeout_seconds: float = 1.0,
    ) -> None:
        super().__init__(
            history_limit=history_limit,
            history_min_age_seconds=history_min_age_seconds,
            history_max_events=history_max_events,
            watcher_buffer=watcher_buffer,
            clock=clock,
        )
        self.path = Path(data_dir) / FILE_NAME
        self._busy_timeout_seconds = busy_timeout_seconds
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="apf-sqlite")
        # Touched only on the writer thread.
        self._db: sqlite3.Connection | None = None
        self._persisted_compacted = 0
        self._write_lock = asyncio.Lock()
        # Shielded writes still running; close() waits for them.
        self._writes: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        """Open (or create) the database and load its state; StorageUnavailable if unusable."""
        try:
            await self._run(self._open)
        except StorageUnavailable:
            self._writer.shutdown(wait=True)
            self._is_closed = True
            raise
        logger.info(
            "sqlite storage opened",
            extra={
                "path": str(self.path),
                "revision": self._revision,
                "objects": len(self._objects),
            },
        )

    async def close(self) -> None:
        """End watches, let running writes finish, then close the file."""
        if self._is_closed:
            return
        await super().close()
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)
        async with self._write_lock:
            await self._run(self._close_db)
        self._writer.shutdown(wait=True)

    async def create(self, key: str, value: bytes) -> Revision:
        return await self._shielded(self._create(key, value))

    async def update(self, key: str, value: bytes, *, expected_revision: int | None) -> Revision:
        return await self._shielded(self._update(key, value, expected_revision))

    async def delete(self, key: str, *, expected_revision: int | None) -> StoredObject:
        return await self._shielded(self._delete(key, expected_revision))

    async def compact(self, revision: int) -> None:
        self._check_open()
        async with self._write_lock:
            self._compact_to(revision)
            await self._run(self._trim, self._compacted)

    async def _create(self, key: str, value: bytes) -> Revision:
        async with self._write_lock:
            self._check_open()
            if key in self._objects:
                raise KeyExists(key)
            return await self._write(EventType.ADDED, key, value, previous=None)

    async def _update(self, key: str, value: bytes, expected_revision: int | None) -> Revision:
        async with self._write_lock:
            current = self._checked(key, expected_revision)
            return await self._write(EventType.MODIFIED, key, value, previous=current.value)

    async def _delete(self, key: str, expected_revision: int | None) -> StoredObject:
        async with self._write_lock:
            current = self._checked(key, expected_revision)
            value = current.value
            revision = await self._write(EventType.DELETED, key, value, previous=value)
            return StoredObject(key=key, value=value, revision=revision)

    async def _write(
        self, kind: EventType, key: str, value: bytes, *, previous: bytes | None
    ) -> Revision:
        """Persist one checked write, then apply it in memory; the lock must be held."""
        revision = Revision(self._revision + 1)
        event = WatchEvent(type=kind, key=key, value=value, revision=revision, previous=previous)
        row = _Row(event=event, written_at=self._clock(), trim_to=self._compacted)
        await self._run(self._store, row)
        committed = self._commit(kind, key, value, previous=previous)
        assert committed == revision
        return committed

    async def _shielded(self, write: Coroutine[Any, Any, T]) -> T:
        """Run ``write`` to completion even if the caller is cancelled meanwhile."""
        task = asyncio.ensure_future(write)
        self._writes.add(task)
        task.add_done_callback(self._write_done)
        return await asyncio.shield(task)

    def _write_done(self, task: asyncio.Task[Any]) -> None:
        self._writes.discard(task)
        if not task.cancelled():
            # Mark the outcome as seen: a caller that was cancelled never reads it,
            # and a refused write (KeyExists, conflict) is not worth a report.
            task.exception()

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        """Run ``fn`` on the writer thread, the only thread that touches the connection."""
        loop = asyncio.get_running_loop()
        try:
            future = loop.run_in_executor(self._writer, fn, *args)
        except RuntimeError as exc:  # the executor was shut down by close()
            raise StorageUnavailable(f"{self.path} is closed") from exc
        return await future

    # The methods below run on the writer thread only.

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db: sqlite3.Connection | None = None
        try:
            db = sqlite3.connect(
                self.path,
                timeout=self._busy_timeout_seconds,
                check_same_thread=False,
                isolation_level=None,
            )
            self._prepare(db)
            self._load(db)
        except sqlite3.Error as exc:
            if db is not None:
                db.close()
            raise StorageUnavailable(_open_failure(self.path, exc)) from exc
        self._db = db

    @staticmethod
    def _prepare(db: sqlite3.Connection) -> None:
        """Set durability pragmas, check the file, create the schema, hold the write lock."""
        db.execute("PRAGMA locking_mode=EXCLUSIVE")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        # Taking the write lock now makes a second server fail at start, not later.
        db.execute("BEGIN IMMEDIATE")
        try:
            (verdict,) = db.execute("PRAGMA quick_check").fetchone()
            if verdict != "ok":
                raise sqlite3.DatabaseError(f"integrity check failed: {verdict}")
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            columns = {row[1] for row in db.execute("PRAGMA table_info(events)")}
            if "written_at" not in columns:  # files from before age-based retention
                db.execute("ALTER TABLE events ADD COLUMN written_at REAL NOT NULL DEFAULT 0")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _load(self, db: sqlite3.Connection) -> None:
        meta = dict(db.execute("SELECT name, value FROM meta").fetchall())
        self._revision = int(meta.get("revision", 0))
        self._compacted = self._persisted_compacted = int(meta.get("compacted", 0))
        rows = db.execute("SELECT key, value, revision FROM objects ORDER BY key")
        for key, value, revision in rows:
            self._objects[key] = StoredObject(key, bytes(value), Revision(revision))
        rows = db.execute(
            "SELECT revision, type, key, value, previous, written_at FROM events "
            "WHERE revision > ? ORDER BY revision",
            (self._compacted,),
        )
        for revision, kind, key, value, previous, written_at in rows:
            event = WatchEvent(
                type=EventType(kind),
                key=key,
                value=bytes(value),
                revision=Revision(revision),
                previous=None if previous is None else bytes(previous),
            )
            self._history.append(HistoryEntry(event=event, written_at=float(written_at)))
        if self._history:
            # Events before the first retained one may have been trimmed by a crash-time gap.
            first = self._history[0].event.revision
            self._compacted = max(self._compacted, first - 1)
        else:
            self._compacted = self._revision
        self._retain(self._clock())

    def _store(self, row: _Row) -> None:
        db = self._connection()
        event = row.event
        try:
            db.execute("BEGIN IMMEDIATE")
            if event.type is EventType.DELETED:
                db.execute("DELETE FROM objects WHERE key = ?", (event.key,))
            else:
                db.execute(
                    "INSERT OR REPLACE INTO objects (key, value, revision) VALUES (?, ?, ?)",
                    (event.key, event.value, event.revision),
                )
            db.execute(
                "INSERT INTO events (revision, type, key, value, previous, written_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    event.revision,
                    str(event.type),
                    event.key,
                    event.value,
                    event.previous,
                    row.written_at,
                ),
            )
            _set_meta(db, "revision", event.revision)
            self._trim_in_transaction(db, row.trim_to)
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            logger.warning(
                "storage write failed",
                extra={"path": str(self.path), "revision": event.revision, "error": str(exc)},
            )
            # TODO: no resync after a commit whose outcome is unknown (I/O error in COMMIT);
            # if it did land, later writes fail on the duplicate revision until a restart.
            raise StorageUnavailable(f"write to {self.path} failed: {exc}") from exc

    def _trim(self, compacted: int) -> None:
        db = self._connection()
        try:
            db.execute("BEGIN IMMEDIATE")
            self._trim_in_transaction(db, compacted)
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise StorageUnavailable(f"compaction of {self.path} failed: {exc}") from exc

    def _trim_in_transaction(self, db: sqlite3.Connection, compacted: int) -> None:
        """Drop events at or before ``compacted``; a transaction must be open."""
        if compacted <= self._persisted_compacted:
            return
        db.execute("DELETE FROM events WHERE revision <= ?", (compacted,))
        _set_meta(db, "compacted", compacted)
        # Set before COMMIT: if the commit fails the next trim is merely skipped,
        # and _load still ignores nothing it should keep.
        self._persisted_compacted = compacted

    def _close_db(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            raise StorageUnavailable(f"{self.path} is closed")
        return self._db


def _set_meta(db: sqlite3.Connection, name: str, value: int) -> None:
    db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", (name, value))


def _open_failure(path: Path, exc: sqlite3.Error) -> str:
    """Say what went wrong opening ``path`` and what the operator can do about it."""
    text = str(exc)
    if "locked" in text or "busy" in text:
        return (
            f"cannot open {path}: the database is locked ({text}); another apf server "
            "probably uses this data directory: stop it or choose another --data-dir"
        )
    if isinstance(exc, sqlite3.OperationalError) and "not a database" not in text:
        return f"cannot open {path}: {text}; check that the directory exists and is writable"
    return (
        f"{path} is corrupt or not an apf database ({text}); restore it from a backup, "
        "or move it away to start with an empty store"
    )
