"""Storage throughput: writes/s and reads/s for the SQLite and memory backends.

Run ``.venv/bin/python -m bench.bench_storage [--objects N]``. Each backend gets
a fresh store (SQLite in a temporary directory, with its real durability
settings, so every write waits for an fsync); the script creates N objects of
about 1 KiB one after another, then reads them back with ``get`` and lists the
whole prefix. Writes are sequential because that is how the API server issues
them per object; the figure is therefore dominated by fsync latency on SQLite.
Prints one line per measurement; no assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from apf.storage.memory import MemoryStorage
from apf.storage.sqlite import SqliteStorage

PREFIX = "/flowcontrol.apiserver.k8s.io/flowschemas/"
VALUE = b"x" * 1024
LISTS = 20


async def _measure(name: str, storage: MemoryStorage, objects: int) -> None:
    await storage.start()
    keys = [f"{PREFIX}bench-{index:06}" for index in range(objects)]

    started = time.perf_counter()
    for key in keys:
        await storage.create(key, VALUE)
    write_seconds = time.perf_counter() - started

    started = time.perf_counter()
    for key in keys:
        await storage.get(key)
    read_seconds = time.perf_counter() - started

    started = time.perf_counter()
    for _ in range(LISTS):
        await storage.list(PREFIX)
    list_seconds = time.perf_counter() - started
    await storage.close()

    print(f"{name:7} writes/s {objects / write_seconds:12.0f}")
    print(f"{name:7} reads/s  {objects / read_seconds:12.0f}")
    print(f"{name:7} lists/s  {LISTS / list_seconds:12.1f}  ({objects} objects each)")


async def _main(objects: int) -> None:
    await _measure("memory", MemoryStorage(), objects)
    with tempfile.TemporaryDirectory(prefix="apf-bench-") as data_dir:
        await _measure("sqlite", SqliteStorage(Path(data_dir)), objects)


def main() -> None:
    """Parse the object count and print the figures for both backends."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=2_000, help="objects to write and read")
    args = parser.parse_args()
    asyncio.run(_main(args.objects))


if __name__ == "__main__":
    main()
