"""Compile the APF engine with mypyc into this venv (see ``apf.flowcontrol.native``).

Usage: python scripts/compile_engine.py [--force]

Does nothing when a build of the current sources exists. Compiles in a scratch copy
of the package, so the source tree never holds extension modules that could shadow
an edited file; then moves the build into place in one rename and deletes builds of
older sources. Exit status 1 (and the engine stays interpreted) when compiling fails,
e.g. without a C compiler or the Python headers.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from apf.flowcontrol import native


def _compile(root: Path, scratch: Path) -> Path:
    """Compile the engine modules of a copy of ``root`` in ``scratch``; the staged build."""
    shutil.copytree(root, scratch / "apf", ignore=shutil.ignore_patterns("__pycache__"))
    sources = [f"apf/flowcontrol/{name}.py" for name in native.COMPILED_MODULES]
    subprocess.run(
        [sys.executable, "-m", "mypyc", *sources],
        cwd=scratch,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    stage = scratch / "stage"
    (stage / "apf" / "flowcontrol").mkdir(parents=True)
    for shared in scratch.glob("*__mypyc*.so"):
        shutil.move(shared, stage / shared.name)
    for module in (scratch / "apf" / "flowcontrol").glob("*.so"):
        shutil.move(module, stage / "apf" / "flowcontrol" / module.name)
    return stage


def main() -> int:
    root = native.package_root()
    target = native.build_dir(root)
    if target.is_dir() and "--force" not in sys.argv:
        print(f"compiled engine up to date: {target}")
        return 0
    started = time.monotonic()
    target.parent.mkdir(parents=True, exist_ok=True)
    # Scratch space beside the target, so the finished build moves in with one rename.
    with tempfile.TemporaryDirectory(prefix=".compiling-", dir=target.parent) as tmp:
        try:
            stage = _compile(root, Path(tmp))
        except (OSError, subprocess.CalledProcessError) as exc:
            print(f"compiling the engine failed ({exc}); it stays interpreted", file=sys.stderr)
            return 1
        try:
            stage.rename(target)
        except OSError:
            if not target.is_dir():
                raise
            # Another compile of the same sources finished first: its build is as good.
    for old in target.parent.iterdir():
        if old != target and not old.name.startswith(".compiling-"):
            shutil.rmtree(old, ignore_errors=True)
    print(f"compiled engine in {time.monotonic() - started:.0f} s: {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
