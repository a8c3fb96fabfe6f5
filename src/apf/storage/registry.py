"""Backends by name, imported lazily so an unused backend costs nothing."""

from __future__ import annotations

import importlib
from pathlib import Path

from apf.storage.interface import Storage

BACKENDS = {
    "sqlite": "apf.storage.sqlite:SqliteStorage",
    "memory": "apf.storage.memory:MemoryStorage",
}


def open_storage(name: str, *, data_dir: Path) -> Storage:
    """Build the backend called ``name``; ValueError names the choices when unknown."""
    target = BACKENDS.get(name)
    if target is None:
        choices = ", ".join(sorted(BACKENDS))
        raise ValueError(f"unknown storage backend {name!r}; choose one of: {choices}")
    module_name, _, class_name = target.partition(":")
    backend = getattr(importlib.import_module(module_name), class_name)
    storage: Storage = backend(data_dir=data_dir)
    return storage
