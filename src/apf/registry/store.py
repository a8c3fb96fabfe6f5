"""Typed access to FlowSchemas and PriorityLevelConfigurations in storage.

CONTRACT (implemented by the REST work; used by the HTTP handlers and by the
APF config controller). Objects are JSON-ready dicts in the hub version ``v1``
(``apiVersion``/``kind`` set, ``metadata.resourceVersion`` injected on read).
Every failure the client should see is an ``apf.api.errors.StatusError``.

Design: the stored bytes are the orjson encoding of the v1 object without
``metadata.resourceVersion``; the storage revision of the last write is that
object's resourceVersion. Writes are compare-and-swap on the revision read, and
an update without a client precondition retries on a lost race, as the
apiserver's guaranteed update does. Each write runs the Kubernetes strategy of
these kinds: defaulting, validation, status wiped on create, status kept on a
main-resource update, spec and metadata kept on a ``/status`` update, and
``generation`` bumped only when the spec changes.
"""

from __future__ import annotations

import copy
import logging
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson

from apf.api import errors
from apf.api.defaults import set_defaults
from apf.api.errors import CauseType, FieldError, StatusError
from apf.api.kinds import GROUP, PREFERRED_VERSION, Kind
from apf.api.validation import validate, validate_status
from apf.storage.interface import (
    EventType,
    KeyExists,
    KeyNotFound,
    RevisionCompacted,
    RevisionConflict,
    Storage,
    StorageUnavailable,
    StoredObject,
    WatchEvent,
)

Object = dict[str, Any]
T = TypeVar("T")

logger = logging.getLogger(__name__)

HUB_API_VERSION = f"{GROUP}/{PREFERRED_VERSION}"
CONFLICT_MESSAGE = (
    "the object has been modified; please apply your changes to the latest version and try again"
)
# The alphabet and length Kubernetes uses for generateName suffixes (no vowels, no
# look-alike characters, so generated names never spell words).
NAME_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
NAME_SUFFIX_LENGTH = 5
GENERATE_NAME_ATTEMPTS = 8
UPDATE_ATTEMPTS = 16


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
        stored = await _storage_call(kind, name, self.storage.get(kind.storage_key(name)))
        if stored is None:
            raise errors.not_found(GROUP, kind.plural, name)
        return decode(stored.value, stored.revision)

    async def list(self, kind: Kind) -> tuple[list[Object], int]:
        """All objects sorted by name, and the revision they were read at."""
        result = await _storage_call(kind, "", self.storage.list(kind.storage_key()))
        objects = [decode(item.value, item.revision) for item in result.items]
        objects.sort(key=lambda obj: str(obj["metadata"].get("name", "")))
        return objects, int(result.revision)

    async def create(self, kind: Kind, obj: Object, *, dry_run: bool = False) -> Object:
        """Default, validate, set uid/creationTimestamp/generation=1, wipe status, store.

        Handles ``metadata.generateName``. Raises 409 AlreadyExists, 422 Invalid.
        """
        new = _prepare_create(kind, obj)
        generate_name = str(new["metadata"].get("generateName") or "")
        use_generated = not new["metadata"].get("name") and bool(generate_name)
        for _ in range(GENERATE_NAME_ATTEMPTS if use_generated else 1):
            if use_generated:
                new["metadata"]["name"] = generate_name + _random_suffix()
            _validate_or_raise(kind, new, _create_problems(kind, new))
            key = kind.storage_key(new["metadata"]["name"])
            if dry_run:
                if await _storage_call(kind, "", self.storage.get(key)) is not None:
                    continue
                return copy.deepcopy(new)
            try:
                revision = await self.storage.create(key, encode(new))
            except KeyExists:
                continue
            except StorageUnavailable as exc:
                raise _unavailable(exc) from exc
            return _with_revision(new, revision)
        # NOTE: after GENERATE_NAME_ATTEMPTS collisions in a row we give up with 409
        # AlreadyExists; the client may retry, and gets a fresh suffix.
        raise errors.already_exists(GROUP, kind.plural, new["metadata"]["name"])

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
        metadata = obj.get("metadata") or {}
        name = str(metadata.get("name") or "")
        wanted_rv = str(metadata.get("resourceVersion") or "")
        for _ in range(UPDATE_ATTEMPTS):
            stored = await self._get_stored(kind, name)
            _check_update_preconditions(kind, name, metadata, stored, wanted_rv)
            old = decode(stored.value, stored.revision)
            new = _merge_update(kind, obj, old, status=status)
            if dry_run or new == orjson.loads(stored.value):
                return _with_revision(new, stored.revision)
            try:
                revision = await self.storage.update(
                    kind.storage_key(name), encode(new), expected_revision=stored.revision
                )
            except RevisionConflict:
                if wanted_rv:
                    raise errors.conflict(GROUP, kind.plural, name, CONFLICT_MESSAGE) from None
                continue
            except KeyNotFound:
                raise errors.not_found(GROUP, kind.plural, name) from None
            except StorageUnavailable as exc:
                raise _unavailable(exc) from exc
            return _with_revision(new, revision)
        raise errors.conflict(GROUP, kind.plural, name, CONFLICT_MESSAGE)

    async def delete(
        self,
        kind: Kind,
        name: str,
        *,
        preconditions: Preconditions | None = None,
        dry_run: bool = False,
    ) -> Object:
        """Remove and return the object (as last stored). 404, 409 on a failed precondition.

        Without a resourceVersion precondition a concurrent write does not fail the
        delete: it is retried on the newer object, as kube-apiserver does.
        """
        is_pinned = preconditions is not None and bool(preconditions.resource_version)
        for _ in range(UPDATE_ATTEMPTS):
            stored = await self._get_stored(kind, name)
            _check_delete_preconditions(kind, name, stored, preconditions)
            if dry_run:
                return decode(stored.value, stored.revision)
            try:
                deleted = await self.storage.delete(
                    kind.storage_key(name), expected_revision=stored.revision
                )
            except KeyNotFound:
                raise errors.not_found(GROUP, kind.plural, name) from None
            except RevisionConflict:
                if is_pinned:
                    raise errors.conflict(GROUP, kind.plural, name, CONFLICT_MESSAGE) from None
                continue
            except StorageUnavailable as exc:
                raise _unavailable(exc) from exc
            return decode(deleted.value, deleted.revision)
        raise errors.conflict(GROUP, kind.plural, name, CONFLICT_MESSAGE)

    def watch(self, kind: Kind, *, after_revision: int) -> AsyncIterator[ObjectEvent]:
        """Events with revision > ``after_revision``; StatusError 410 Expired when compacted."""
        return _watch(self.storage, kind, after_revision)

    async def _get_stored(self, kind: Kind, name: str) -> StoredObject:
        stored = await _storage_call(kind, name, self.storage.get(kind.storage_key(name)))
        if stored is None:
            raise errors.not_found(GROUP, kind.plural, name)
        return stored


def encode(obj: Object) -> bytes:
    """The stored form: the object without ``metadata.resourceVersion``."""
    metadata = obj.get("metadata")
    if isinstance(metadata, dict) and "resourceVersion" in metadata:
        obj = {**obj, "metadata": {k: v for k, v in metadata.items() if k != "resourceVersion"}}
    return orjson.dumps(obj)


def decode(value: bytes, revision: int) -> Object:
    """A stored object with ``metadata.resourceVersion`` set to ``revision``."""
    obj: Object = orjson.loads(value)
    obj.setdefault("metadata", {})["resourceVersion"] = str(revision)
    return obj


def now_rfc3339() -> str:
    """The current UTC time with second precision, as Kubernetes timestamps are written."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _random_suffix() -> str:
    return "".join(secrets.choice(NAME_SUFFIX_ALPHABET) for _ in range(NAME_SUFFIX_LENGTH))


def _with_revision(obj: Object, revision: int) -> Object:
    result = copy.deepcopy(obj)
    result["metadata"]["resourceVersion"] = str(revision)
    return result


def _prepare_create(kind: Kind, obj: Object) -> Object:
    """A copy of ``obj`` with the system fields a create sets, defaulted."""
    new = copy.deepcopy(obj)
    new["apiVersion"] = HUB_API_VERSION
    new["kind"] = kind.kind
    metadata = new.get("metadata")
    if not isinstance(metadata, dict):
        metadata = new["metadata"] = {}
    for system_field in ("namespace", "resourceVersion", "deletionTimestamp"):
        metadata.pop(system_field, None)
    metadata["uid"] = str(uuid.uuid4())
    metadata["creationTimestamp"] = now_rfc3339()
    metadata["generation"] = 1
    new["status"] = {}
    set_defaults(kind, new)
    return new


def _merge_update(kind: Kind, obj: Object, old: Object, *, status: bool) -> Object:
    """The object to store for a PUT of ``obj`` over ``old``, defaulted and validated."""
    if status:
        new = copy.deepcopy(old)
        new["status"] = copy.deepcopy(obj.get("status") or {})
        if "managedFields" in (obj.get("metadata") or {}):
            new["metadata"]["managedFields"] = copy.deepcopy(obj["metadata"]["managedFields"])
        new["metadata"].pop("resourceVersion", None)
        _validate_or_raise(kind, new, validate_status(kind, new, old))
        return new
    new = copy.deepcopy(obj)
    new["apiVersion"] = HUB_API_VERSION
    new["kind"] = kind.kind
    metadata = new.setdefault("metadata", {})
    metadata.pop("namespace", None)
    metadata.pop("resourceVersion", None)
    for immutable in ("uid", "creationTimestamp", "generation"):
        if immutable in old["metadata"]:
            metadata[immutable] = old["metadata"][immutable]
    new["status"] = copy.deepcopy(old.get("status") or {})
    set_defaults(kind, new)
    if new.get("spec") != old.get("spec"):
        metadata["generation"] = int(old["metadata"].get("generation") or 0) + 1
    _validate_or_raise(kind, new, validate(kind, new, old))
    return new


def _create_problems(kind: Kind, obj: Object) -> list[FieldError]:
    problems = validate(kind, obj, None)
    if not obj["metadata"].get("name") and not any(p.field == "metadata.name" for p in problems):
        problems.append(
            FieldError(CauseType.REQUIRED, "metadata.name", "name or generateName is required")
        )
    return problems


def _validate_or_raise(kind: Kind, obj: Object, problems: list[FieldError]) -> None:
    if problems:
        name = str((obj.get("metadata") or {}).get("name") or "")
        raise errors.invalid(GROUP, kind.kind, name, problems)


def _check_update_preconditions(
    kind: Kind, name: str, metadata: Object, stored: StoredObject, wanted_rv: str
) -> None:
    uid = str(metadata.get("uid") or "")
    if uid:
        stored_uid = str((orjson.loads(stored.value).get("metadata") or {}).get("uid") or "")
        if uid != stored_uid:
            why = (
                f"Precondition failed: UID in precondition: {uid}, "
                f"UID in object meta: {stored_uid}"
            )
            raise errors.conflict(GROUP, kind.plural, name, why)
    if wanted_rv and wanted_rv != str(stored.revision):
        raise errors.conflict(GROUP, kind.plural, name, CONFLICT_MESSAGE)


def _check_delete_preconditions(
    kind: Kind, name: str, stored: StoredObject, preconditions: Preconditions | None
) -> None:
    if preconditions is None:
        return
    if preconditions.uid:
        stored_uid = str((orjson.loads(stored.value).get("metadata") or {}).get("uid") or "")
        if preconditions.uid != stored_uid:
            why = (
                f"Precondition failed: UID in precondition: {preconditions.uid}, "
                f"UID in object meta: {stored_uid}"
            )
            raise errors.conflict(GROUP, kind.plural, name, why)
    wanted_rv = preconditions.resource_version
    if wanted_rv and wanted_rv != str(stored.revision):
        why = (
            f"Precondition failed: ResourceVersion in precondition: {wanted_rv}, "
            f"ResourceVersion in object meta: {stored.revision}"
        )
        raise errors.conflict(GROUP, kind.plural, name, why)


async def _storage_call(kind: Kind, name: str, call: Awaitable[T]) -> T:
    """Await a read and translate storage failures into Status errors."""
    try:
        return await call
    except KeyNotFound:
        raise errors.not_found(GROUP, kind.plural, name) from None
    except StorageUnavailable as exc:
        raise _unavailable(exc) from exc


def _unavailable(exc: Exception) -> StatusError:
    logger.warning("storage unavailable", extra={"error": str(exc)})
    return errors.service_unavailable(f"storage is unavailable: {exc}")


def too_old(requested: int, oldest: int) -> StatusError:
    """410 Expired for a watch or list from a compacted resourceVersion."""
    return errors.gone(f"too old resource version: {requested} ({oldest})")


async def _watch(storage: Storage, kind: Kind, after_revision: int) -> AsyncIterator[ObjectEvent]:
    events = storage.watch(kind.storage_key(), after_revision=after_revision)
    try:
        async for event in events:
            yield _object_event(event)
    except RevisionCompacted as exc:
        raise too_old(exc.requested, exc.oldest) from exc
    finally:
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()


def _object_event(event: WatchEvent) -> ObjectEvent:
    previous = None
    if event.previous is not None:
        previous = decode(event.previous, event.revision)
    return ObjectEvent(
        type=event.type,
        object=decode(event.value, event.revision),
        previous=previous,
        revision=int(event.revision),
    )
