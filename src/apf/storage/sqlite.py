"""The embedded default backend: SQLite in WAL mode, one file in the data directory.

Design: the current objects and the recent history live in memory exactly as
in ``MemoryStorage`` (this class extends it), and SQLite is the durable
truth behind them. Every write runs, under one asyncio lock, on a dedicated
writer thread: the compare-and-swap is checked against the in-memory copy
(which only changes after a commit), then one transaction stores the object,
appends the event and advances the persisted revision. ``synchronous=FULL``
makes the commit durable before the call returns, so an acknowledged write
survives a crash or ``kill -9``. Only then is the in-memory copy updated and
watchers notified. Reads never touch the disk.

On start the objects, the revision and the last ``history_limit`` events are
loaded, so watches can resume from a revision seen before a restart. The
events table is trimmed as the history is.

Left out: multi-process access (the file is opened in exclusive locking
mode, so a second server on the same directory fails fast), and online
backup.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from apf.storage.interface import (
    EventType,
    KeyExists,
    Revision,
    StorageUnavailable,
    StoredObject,
    WatchEvent,
)
from apf.storage.memory import MemoryStorage

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (key TEXT PRIMARY KEY, value BLOB NOT NULL,
                                    revision INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS events (revision INTEGER PRIMARY KEY, type TEXT NOT NULL,
                                   key TEXT NOT NULL, value BLOB NOT NULL, previous BLOB);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class SqliteStorage(MemoryStorage):
    """Durable storage in ``data_dir/apf.db``."""

    def __init__(
        self,
        data_dir: Path,
        *,
        history_limit: int = 10_000,
        watcher_buffer: int = 1_000,
    ) -> None:
        super().__init__(history_limit=history_limit, watcher_buffer=watcher_buffer)
        self.path = Path(data_dir) / "apf.db"
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="apf-sqlite")
        self._db: sqlite3.Connection | None = None
        self._write_lock = asyncio.Lock()

    async def start(self) -> None:
        await self._run(self._open)

    async def close(self) -> None:
        await super().close()
        if self._db is not None:
            await self._run(self._db.close)
            self._db = None
        self._writer.shutdown(wait=True)

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        """Run ``fn`` on the writer thread, the only thread that touches the file."""
        return await asyncio.get_running_loop().run_in_executor(self._writer, fn, *args)

    def _open(self) -> None:
        try:
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA locking_mode=EXCLUSIVE")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.executescript(SCHEMA)
            self._load(db)
        except sqlite3.OperationalError as exc:
            raise StorageUnavailable(
                f"cannot open {self.path}: {exc}; is another apf server using this "
                "data directory? Stop it or choose another --data-dir"
            ) from exc
        except sqlite3.DatabaseError as exc:
            raise StorageUnavailable(
                f"{self.path} is not a usable database ({exc}); move it away to start empty"
            ) from exc
        self._db = db

    def _load(self, db: sqlite3.Connection) -> None:
        meta = dict(db.execute("SELECT name, value FROM meta").fetchall())
        self._revision = int(meta.get("revision", 0))
        self._compacted = int(meta.get("compacted", 0))
        for key, value, revision in db.execute("SELECT key, value, revision FROM objects"):
            self._objects[key] = StoredObject(
                key=key, value=bytes(value), revision=Revision(revision)
            )
        rows = db.execute(
            "SELECT revision, type, key, value, previous FROM events "
            "ORDER BY revision DESC LIMIT ?",
            (self._history_limit,),
        ).fetchall()
        for revision, kind, key, value, previous in reversed(rows):
            self._history.append(
                WatchEvent(
                    type=EventType(kind),
                    key=key,
                    value=bytes(value),
                    revision=Revision(revision),
                    previous=None if previous is None else bytes(previous),
                )
            )
        if self._history:
            self._compacted = max(self._compacted, self._history[0].revision - 1)

    async def create(self, key: str, value: bytes) -> Revision:
        async with self._write_lock:
            if key in self._objects:
                raise KeyExists(key)
            await self._persist(EventType.ADDED, key, value, None)
            return self._commit(EventType.ADDED, key, value, previous=None)

    async def update(self, key: str, value: bytes, *, expected_revision: int | None) -> Revision:
        async with self._write_lock:
            current = self._checked(key, expected_revision)
            await self._persist(EventType.MODIFIED, key, value, current.value)
            return self._commit(EventType.MODIFIED, key, value, previous=current.value)

    async def delete(self, key: str, *, expected_revision: int | None) -> StoredObject:
        async with self._write_lock:
            current = self._checked(key, expected_revision)
            await self._persist(EventType.DELETED, key, current.value, current.value)
            revision = self._commit(EventType.DELETED, key, current.value, previous=current.value)
            return StoredObject(key=key, value=current.value, revision=revision)

    async def compact(self, revision: int) -> None:
        async with self._write_lock:
            await super().compact(revision)
            await self._run(self._trim, self._compacted)

    async def _persist(
        self, kind: EventType, key: str, value: bytes, previous: bytes | None
    ) -> None:
        revision = self._revision + 1
        trim_to = 0
        if len(self._history) >= self._history_limit:
            trim_to = self._history[len(self._history) - self._history_limit].revision
        await self._run(self._write, kind, key, value, previous, revision, trim_to)

    def _write(
        self,
        kind: EventType,
        key: str,
        value: bytes,
        previous: bytes | None,
        revision: int,
        trim_to: int,
    ) -> None:
        db = self._connection()
        try:
            db.execute("BEGIN IMMEDIATE")
            if kind is EventType.DELETED:
                db.execute("DELETE FROM objects WHERE key = ?", (key,))
            else:
                db.execute(
                    "INSERT OR REPLACE INTO objects (key, value, revision) VALUES (?, ?, ?)",
                    (key, value, revision),
                )
            db.execute(
                "INSERT INTO events (revision, type, key, value, previous) VALUES (?, ?, ?, ?, ?)",
                (revision, str(kind), key, value, previous),
            )
            db.execute(
                "INSERT OR REPLACE INTO meta (name, value) VALUES ('revision', ?)", (revision,)
            )
            if trim_to:
                self._trim_in(db, trim_to)
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise StorageUnavailable(f"write to {self.path} failed: {exc}") from exc

    def _trim(self, compacted: int) -> None:
        db = self._connection()
        db.execute("BEGIN IMMEDIATE")
        self._trim_in(db, compacted)
        db.execute("COMMIT")

    @staticmethod
    def _trim_in(db: sqlite3.Connection, compacted: int) -> None:
        db.execute("DELETE FROM events WHERE revision <= ?", (compacted,))
        db.execute(
            "INSERT OR REPLACE INTO meta (name, value) VALUES ('compacted', ?)", (compacted,)
        )

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            raise StorageUnavailable(f"{self.path} is closed")
        return self._db
