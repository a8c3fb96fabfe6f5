"""The engine's compiled build: the same modules, compiled with mypyc, used when they match.

The engine runs for every request, and interpreting it costs several times what the
same code costs compiled. ``scripts/compile-engine`` compiles the modules in
``COMPILED_MODULES`` with mypyc (from the very same sources, nothing is rewritten)
into ``<venv>/apf-native/<digest>/``, where ``<digest>`` hashes the sources of the
engine and of the packages it imports. When ``apf.flowcontrol`` is imported, :func:`activate` puts
that directory in front of the package's search path only if its digest is the one
of the sources being run, so an edited source is never shadowed by a stale build:
the engine then simply runs interpreted until it is compiled again.

``APF_PURE_PYTHON=1`` keeps the engine interpreted even when a build matches.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

# The hot path of every request; the rest (dumps, the ensurer) stays interpreted.
COMPILED_MODULES = (
    "admission",
    "classifier",
    "clock",
    "concurrency",
    "controller",
    "digest",
    "metricfamily",
    "metrics",
    "queueset",
    "shuffleshard",
    "ticket",
    "workestimate",
)
# The packages of ``apf`` the engine may import (see the import contracts).
DEPENDENCY_LAYERS = ("flowcontrol", "registry", "storage", "api")
BUILDS_DIR = "apf-native"
PURE_PYTHON_ENV = "APF_PURE_PYTHON"


def package_root() -> Path:
    """The directory of the ``apf`` package whose sources are running."""
    return Path(__file__).resolve().parents[1]


def source_digest(root: Path) -> str:
    """A digest of the engine's sources and everything they import, and of the Python.

    The layer contract (import-linter) keeps the engine from importing the server
    or the CLI, so edits there never invalidate a build.
    """
    digest = hashlib.sha256(sys.version.encode())
    for layer in DEPENDENCY_LAYERS:
        for path in sorted((root / layer).rglob("*.py")):
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()[:24]


def build_dir(root: Path, prefix: str = sys.prefix) -> Path:
    """Where the compiled build of the sources under ``root`` lives (or would live)."""
    return Path(prefix) / BUILDS_DIR / source_digest(root)


def activate(
    package_path: list[str], *, root: Path | None = None, prefix: str = sys.prefix
) -> bool:
    """Prefer a matching compiled build for ``apf.flowcontrol``; True when one is used."""
    if os.environ.get(PURE_PYTHON_ENV) == "1":
        return False
    build = build_dir(root or package_root(), prefix)
    modules = build / "apf" / "flowcontrol"
    if not modules.is_dir():
        return False
    # mypyc puts the code shared by the modules in one top-level extension module.
    sys.path.append(str(build))
    package_path.insert(0, str(modules))
    return True
