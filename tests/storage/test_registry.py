"""Choosing a backend by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from apf.storage.interface import Storage
from apf.storage.memory import MemoryStorage
from apf.storage.registry import open_storage
from apf.storage.sqlite import SqliteStorage


@pytest.mark.parametrize(
    ("name", "backend"),
    [
        pytest.param("memory", MemoryStorage, id="memory"),
        pytest.param("sqlite", SqliteStorage, id="sqlite"),
    ],
)
def test_open_storage_builds_backend_by_name(
    tmp_path: Path, name: str, backend: type[MemoryStorage]
) -> None:
    storage: Storage = open_storage(name, data_dir=tmp_path)

    assert type(storage) is backend


def test_open_storage_names_choices_when_unknown(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="choose one of: memory, sqlite"):
        open_storage("etcd3", data_dir=tmp_path)


def test_backends_satisfy_storage_protocol(tmp_path: Path) -> None:
    # The annotations are the check (mypy); the asserts keep the test honest at run time.
    backends: list[Storage] = [MemoryStorage(), SqliteStorage(tmp_path)]

    assert [b.current_revision() for b in backends] == [0, 0]
    assert [b.oldest_revision() for b in backends] == [0, 0]
