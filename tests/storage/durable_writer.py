"""Child process for the durability test: write objects forever, acknowledging each one.

Usage: ``python durable_writer.py DATA_DIR``. After every ``create`` returns,
one line ``<key> <revision>`` is written and flushed to stdout; the parent
kills this process with SIGKILL at some point and checks that every
acknowledged write survived.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from apf.storage.sqlite import SqliteStorage


async def write_forever(data_dir: Path) -> None:
    """Create objects one after another until killed."""
    storage = SqliteStorage(data_dir)
    await storage.start()
    index = 0
    while True:
        key = f"/durability/{index:08}"
        revision = await storage.create(key, key.encode() * 20)
        sys.stdout.write(f"{key} {revision}\n")
        sys.stdout.flush()
        index += 1


if __name__ == "__main__":
    asyncio.run(write_forever(Path(sys.argv[1])))
