"""Fixtures for the storage tests: each backend built with test-sized options."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from apf.storage.memory import MemoryStorage
from apf.storage.sqlite import SqliteStorage


class FakeClock:
    """Wall-clock seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


Factory = Callable[..., Awaitable[MemoryStorage]]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["memory", "sqlite"])
async def make_storage(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[Factory]:
    """Build and start a backend; every one built is closed after the test."""
    opened: list[MemoryStorage] = []

    async def build(**options: int | float) -> MemoryStorage:
        storage: MemoryStorage
        if request.param == "memory":
            storage = MemoryStorage(clock=clock, **options)  # type: ignore[arg-type]
        else:
            storage = SqliteStorage(tmp_path, clock=clock, **options)  # type: ignore[arg-type]
        await storage.start()
        opened.append(storage)
        return storage

    yield build
    for storage in opened:
        await storage.close()


@pytest.fixture
async def storage(make_storage: Factory) -> MemoryStorage:
    return await make_storage()
