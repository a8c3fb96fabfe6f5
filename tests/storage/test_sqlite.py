"""SQLite-specific behaviour: restarts, durability under SIGKILL, unusable files."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from apf.storage.interface import Revision, StorageUnavailable, StoredObject
from apf.storage.sqlite import SqliteStorage

FS = "/flowcontrol.apiserver.k8s.io/flowschemas/"
WRITER = Path(__file__).with_name("durable_writer.py")


async def opened(data_dir: Path, **options: float) -> SqliteStorage:
    storage = SqliteStorage(data_dir, **options)  # type: ignore[arg-type]
    await storage.start()
    return storage


async def test_sqlite_restart_keeps_objects_revision_and_history(tmp_path: Path) -> None:
    first = await opened(tmp_path)
    await first.create(FS + "a", b"1")
    await first.create(FS + "b", b"2")
    await first.update(FS + "a", b"3", expected_revision=1)
    await first.delete(FS + "b", expected_revision=None)
    await first.close()

    second = await opened(tmp_path)
    listed = await second.list(FS)
    replayed = await anext(second.watch(FS, after_revision=2))
    revision = await second.create(FS + "c", b"4")
    await second.close()

    assert listed.items == [StoredObject(FS + "a", b"3", Revision(3))]
    assert listed.revision == 4
    assert (replayed.type, replayed.revision, replayed.previous) == ("MODIFIED", 3, b"1")
    assert revision == 5


async def test_sqlite_revision_survives_compaction_of_all_events(tmp_path: Path) -> None:
    first = await opened(tmp_path)
    for name in "abc":
        await first.create(FS + name, b"x")
    await first.delete(FS + "c", expected_revision=None)
    await first.compact(first.current_revision())
    await first.close()

    second = await opened(tmp_path)
    oldest = second.oldest_revision()
    revision = await second.create(FS + "d", b"y")
    await second.close()

    assert oldest == 4
    assert revision == 5


async def test_sqlite_history_trimmed_on_disk_by_retention(tmp_path: Path) -> None:
    first = await opened(tmp_path, history_limit=2, history_min_age_seconds=0.0)
    for name in "abcdef":
        await first.create(FS + name, b"x")
    await first.close()

    second = await opened(tmp_path, history_limit=100)
    stats = second.statistics()
    await second.close()

    assert stats.history_events <= 3
    assert stats.oldest_revision >= 3
    assert stats.revision == 6


async def test_sqlite_cancelled_write_still_completes(tmp_path: Path) -> None:
    storage = await opened(tmp_path)
    caller = asyncio.ensure_future(storage.create(FS + "a", b"1"))
    await asyncio.sleep(0)  # let the caller hand the write to the writer task

    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    revision = await storage.create(FS + "b", b"2")
    stored = await storage.get(FS + "a")
    await storage.close()

    assert stored is not None
    assert stored.revision == 1
    assert revision == 2


async def test_sqlite_start_fails_when_file_is_corrupt(tmp_path: Path) -> None:
    (tmp_path / "apf.db").write_bytes(b"this is not a database" * 300)
    storage = SqliteStorage(tmp_path)

    with pytest.raises(StorageUnavailable, match=r"corrupt or not an apf database.*move it away"):
        await storage.start()


async def test_sqlite_start_fails_when_another_server_holds_the_file(tmp_path: Path) -> None:
    holder = await opened(tmp_path)
    second = SqliteStorage(tmp_path, busy_timeout_seconds=0.05)

    with pytest.raises(StorageUnavailable, match=r"another apf server.*--data-dir"):
        await second.start()
    await holder.close()


async def test_sqlite_start_creates_missing_data_dir(tmp_path: Path) -> None:
    storage = await opened(tmp_path / "nested" / "dir")

    await storage.create(FS + "a", b"x")
    await storage.close()

    assert (tmp_path / "nested" / "dir" / "apf.db").is_file()


def acknowledged_writes(data_dir: Path, *, at_least: int) -> dict[str, int]:
    """Run the writer child, SIGKILL it after ``at_least`` acks, return every ack it printed."""
    child = subprocess.Popen(
        [sys.executable, str(WRITER), str(data_dir)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    acked: dict[str, int] = {}
    for line in child.stdout:
        key, revision = line.split()
        acked[key] = int(revision)
        if len(acked) >= at_least:
            child.send_signal(signal.SIGKILL)
            break
    # Lines written before the kill landed are acknowledged too.
    remaining, _ = child.communicate(timeout=30)
    for line in remaining.splitlines():
        if line.count(" ") == 1:
            key, revision = line.split()
            acked[key] = int(revision)
    assert child.returncode == -signal.SIGKILL
    return acked


async def test_sqlite_acknowledged_writes_survive_sigkill(tmp_path: Path) -> None:
    acked = acknowledged_writes(tmp_path, at_least=200)

    storage = await opened(tmp_path)
    stored = {obj.key: obj.revision for obj in (await storage.list("/durability/")).items}
    next_revision = await storage.create("/durability/after", b"x")
    await storage.close()

    missing = {key: rev for key, rev in acked.items() if stored.get(key) != rev}
    assert missing == {}
    assert next_revision > max(acked.values())
    assert len(acked) >= 200


async def test_sqlite_opens_files_written_before_event_timestamps(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "apf.db")
    db.executescript(
        """
        CREATE TABLE objects (key TEXT PRIMARY KEY, value BLOB NOT NULL,
                              revision INTEGER NOT NULL);
        CREATE TABLE events (revision INTEGER PRIMARY KEY, type TEXT NOT NULL,
                             key TEXT NOT NULL, value BLOB NOT NULL, previous BLOB);
        CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
        INSERT INTO objects VALUES ('/k', x'31', 1);
        INSERT INTO events VALUES (1, 'ADDED', '/k', x'31', NULL);
        INSERT INTO meta VALUES ('revision', 1);
        """
    )
    db.close()

    storage = await opened(tmp_path)
    replayed = await anext(storage.watch("/", after_revision=0))
    revision = await storage.update("/k", b"2", expected_revision=1)
    await storage.close()

    assert (replayed.key, replayed.value, replayed.revision) == ("/k", b"1", 1)
    assert revision == 2


async def test_sqlite_reads_see_a_write_only_after_its_commit(tmp_path: Path) -> None:
    storage = await opened(tmp_path)
    writer = asyncio.ensure_future(storage.create(FS + "a", b"1"))
    await asyncio.sleep(0)  # the write is now on the writer thread

    during = (await storage.get(FS + "a"), storage.current_revision(), writer.done())
    revision = await writer
    after = await storage.get(FS + "a")
    await storage.close()

    assert during == (None, 0, False)
    assert after == StoredObject(FS + "a", b"1", revision)
