"""Fixtures shared by every test directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import ServerProcess, running_server


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One real server for the whole session (tests use unique object names)."""
    with running_server(tmp_path_factory.mktemp("apf-session")) as process:
        yield process


@pytest.fixture
def fresh_server_dir(tmp_path: Path) -> Path:
    """A data directory for a test that starts its own server."""
    return tmp_path / "apf"
