"""Typed access to FlowSchemas and PriorityLevelConfigurations in storage.

CONTRACT (implemented by the REST work; used by the HTTP handlers and by the
APF config controller). Objects are JSON-ready dicts in the hub version ``v1``
(``apiVersion``/``kind`` set, ``metadata.resourceVersion`` injected on read).
Every failure the client should see is an ``apf.api.errors.StatusError``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from apf.api.kinds import Kind
from apf.storage.interface import EventType, Storage

Object = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ObjectEvent:
    type: EventType
    object: Object
    previous: Object | None
    revision: int


@dataclass(frozen=True, slots=True)
class Preconditions:
    uid: str | None = None
    resource_version: str | None = None


class Store:
    """Kubernetes create/get/list/update/delete/watch semantics over a Storage."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    async def get(self, kind: Kind, name: str) -> Object:
        """The object, or StatusError 404."""
        raise NotImplementedError

    async def list(self, kind: Kind) -> tuple[list[Object], int]:
        """All objects sorted by name, and the revision they were read at."""
        raise NotImplementedError

    async def create(self, kind: Kind, obj: Object, *, dry_run: bool = False) -> Object:
        """Default, validate, set uid/creationTimestamp/generation=1, wipe status, store.

        Handles ``metadata.generateName``. Raises 409 AlreadyExists, 422 Invalid.
        """
        raise NotImplementedError

    async def update(
        self,
        kind: Kind,
        obj: Object,
        *,
        status: bool = False,
        dry_run: bool = False,
    ) -> Object:
        """PUT semantics for the main resource (``status=False``) or ``/status``.

        A non-empty ``metadata.resourceVersion`` is a precondition (409
        Conflict when stale); main-resource writes keep the stored status and
        bump ``generation`` iff the spec changed; status writes keep the stored
        metadata and spec. 404 when missing, 422 Invalid.
        """
        raise NotImplementedError

    async def delete(
        self,
        kind: Kind,
        name: str,
        *,
        preconditions: Preconditions | None = None,
        dry_run: bool = False,
    ) -> Object:
        """Remove and return the object (as last stored). 404, 409 on a failed precondition."""
        raise NotImplementedError

    def watch(self, kind: Kind, *, after_revision: int) -> AsyncIterator[ObjectEvent]:
        """Events with revision > ``after_revision``; StatusError 410 Expired when compacted."""
        raise NotImplementedError
