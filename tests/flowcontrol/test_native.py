"""The compiled engine is used only when it was built from the very sources being run."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

import apf.flowcontrol
from apf.flowcontrol import native, queueset


def _package(root: Path) -> Path:
    for layer in (*native.DEPENDENCY_LAYERS, "server"):
        (root / layer).mkdir(parents=True)
        (root / layer / "module.py").write_text(f"NAME = {layer!r}\n")
    return root


def _build(root: Path, prefix: Path) -> Path:
    modules = native.build_dir(root, str(prefix)) / "apf" / "flowcontrol"
    modules.mkdir(parents=True)
    return modules


def test_digest_follows_engine_and_its_imports_but_not_the_server(tmp_path: Path) -> None:
    root = _package(tmp_path / "apf")
    first = native.source_digest(root)

    (root / "server" / "module.py").write_text("NAME = 'edited'\n")
    after_server_edit = native.source_digest(root)
    (root / "api" / "module.py").write_text("NAME = 'edited'\n")
    after_api_edit = native.source_digest(root)

    assert after_server_edit == first
    assert after_api_edit != first


def test_matching_build_goes_first_on_the_package_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(native.PURE_PYTHON_ENV, raising=False)
    monkeypatch.setattr(sys, "path", list(sys.path))
    root = _package(tmp_path / "apf")
    modules = _build(root, tmp_path / "venv")
    package_path = ["/src/apf/flowcontrol"]

    used = native.activate(package_path, root=root, prefix=str(tmp_path / "venv"))

    assert used
    assert package_path == [str(modules), "/src/apf/flowcontrol"]
    assert sys.path[-1] == str(modules.parents[1])


def test_build_of_older_sources_is_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(native.PURE_PYTHON_ENV, raising=False)
    root = _package(tmp_path / "apf")
    _build(root, tmp_path / "venv")
    (root / "flowcontrol" / "module.py").write_text("NAME = 'edited'\n")
    package_path = ["/src/apf/flowcontrol"]

    used = native.activate(package_path, root=root, prefix=str(tmp_path / "venv"))

    assert not used
    assert package_path == ["/src/apf/flowcontrol"]


def test_pure_python_switch_wins_over_a_matching_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(native.PURE_PYTHON_ENV, "1")
    root = _package(tmp_path / "apf")
    _build(root, tmp_path / "venv")
    package_path: list[str] = []

    assert not native.activate(package_path, root=root, prefix=str(tmp_path / "venv"))
    assert package_path == []


def test_running_engine_is_compiled_exactly_when_a_matching_build_exists() -> None:
    built = native.build_dir(native.package_root()).is_dir()
    wanted = built and os.environ.get(native.PURE_PYTHON_ENV) != "1"

    assert wanted == apf.flowcontrol.COMPILED
    assert Path(queueset.__file__).suffix == (".so" if wanted else ".py")
