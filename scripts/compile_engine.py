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


def _compile(root: Path, scratch: Path) -> tuple[Path, str]:
    """Compile a copy of ``root`` in ``scratch``: the staged build and the copy's digest."""
    copy = scratch / "apf"
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns("__pycache__"))
    sources = [f"apf/flowcontrol/{name}.py" for name in native.COMPILED_MODULES]
    done = subprocess.run(
        [sys.executable, "-m", "mypyc", *sources],
        cwd=scratch,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    if done.returncode != 0:
        last_lines = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise OSError(f"mypyc exited with {done.returncode}:\n{last_lines}")
    stage = scratch / "stage"
    (stage / "apf" / "flowcontrol").mkdir(parents=True)
    for shared in scratch.glob("*__mypyc*.so"):
        shutil.move(shared, stage / shared.name)
    for module in (copy / "flowcontrol").glob("*.so"):
        shutil.move(module, stage / "apf" / "flowcontrol" / module.name)
    # The copy is what was compiled, even if a source changed while this ran.
    return stage, native.source_digest(copy)


def _failure_mark(target: Path) -> Path:
    return target.with_name(f".failed-{target.name}")


def main() -> int:
    force = "--force" in sys.argv
    target = native.build_dir(native.package_root())
    if target.is_dir() and not force:
        print(f"compiled engine up to date: {target}")
        return 0
    if _failure_mark(target).exists() and not force:
        print(
            "an earlier compile of these sources failed; the engine stays interpreted "
            "(retry with: scripts/compile_engine.py --force)",
            file=sys.stderr,
        )
        return 1
    print("compiling the APF engine with mypyc (about a minute) ...", file=sys.stderr)
    started = time.monotonic()
    target.parent.mkdir(parents=True, exist_ok=True)
    # Scratch space beside the target, so the finished build moves in with one rename.
    with tempfile.TemporaryDirectory(prefix=".compiling-", dir=target.parent) as tmp:
        try:
            stage, digest = _compile(native.package_root(), Path(tmp))
        except OSError as exc:
            _failure_mark(target).touch()
            print(f"compiling the engine failed ({exc}); it stays interpreted", file=sys.stderr)
            return 1
        target = target.with_name(digest)
        if force:
            shutil.rmtree(target, ignore_errors=True)
        try:
            stage.rename(target)
        except OSError:
            if not target.is_dir():
                raise
            # Another compile of the same sources finished first: its build is as good.
    for old in target.parent.iterdir():
        # NOTE: builds of other sources go, so two compiles of different sources running
        # at once may remove each other's result; the loser's engine runs interpreted.
        if old == target or old.name.startswith(".compiling-"):
            continue
        if old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)
    print(f"compiled engine in {time.monotonic() - started:.0f} s: {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
