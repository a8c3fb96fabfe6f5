"""Watch streams: newline-delimited JSON events, as kube-apiserver's watch cache sends them.

A stream starts either with synthetic ``ADDED`` events for the current
matching objects (``resourceVersion`` unset or ``"0"``, or
``sendInitialEvents=true``) or directly from a revision, then relays storage
events. Selectors are applied per event with the previous object state, so an
object entering the selection is sent as ``ADDED`` and one leaving it as
``DELETED`` (the previous state, stamped with the event's revision).

Storage events are pumped by a task into a bounded queue so that waiting for
the next one can time out for a ``BOOKMARK`` without cancelling the storage
iterator. A watcher that falls behind (``WatcherTooSlow``) ends the stream; a
compacted start revision yields one ``ERROR`` event with a 410 ``Status``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from apf.api.errors import StatusError
from apf.api.kinds import Kind
from apf.registry.store import Object, ObjectEvent, Store
from apf.server.selectors import Selection
from apf.storage.interface import EventType, StorageError, WatcherTooSlow

logger = logging.getLogger(__name__)

INITIAL_EVENTS_END_ANNOTATION = "k8s.io/initial-events-end"
# Events buffered between the storage iterator and the socket before the pump waits.
QUEUE_SIZE = 256


@dataclass(frozen=True, slots=True)
class WatchPlan:
    """Where a watch starts and what it sends besides object events."""

    # Revision to stream after; None: send the current objects first, then stream.
    after_revision: int | None
    selection: Selection
    timeout_seconds: float
    allow_bookmarks: bool = False
    # Send a BOOKMARK annotated initial-events-end after the initial events.
    mark_initial_events_end: bool = False
    bookmark_interval_seconds: float = 60.0


# Renders an object (hub version v1) as the client asked: version, Table, metadata.
Render = Callable[[Object], Object]
# Builds the object of a BOOKMARK event at a resourceVersion, with or without the
# initial-events-end annotation.
BookmarkObject = Callable[[str, bool], Object]


@dataclass(frozen=True, slots=True)
class _End:
    """The pump's last item: the storage stream ended, or why it failed."""

    error: BaseException | None = None


async def stream_events(
    store: Store,
    kind: Kind,
    plan: WatchPlan,
    *,
    render: Render,
    bookmark: BookmarkObject,
    on_initialized: Callable[[], None] | None = None,
) -> AsyncIterator[bytes]:
    """Yield the encoded events of one watch until timeout, error or storage end."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + plan.timeout_seconds
    queue: asyncio.Queue[ObjectEvent | _End] = asyncio.Queue(QUEUE_SIZE)
    pump: asyncio.Task[None] | None = None
    try:
        # 1. Initial events, then tell APF the watch is set up.
        if plan.after_revision is None:
            objects, revision = await store.list(kind)
            for obj in objects:
                if plan.selection.matches(obj):
                    yield encode_event("ADDED", render(obj))
            if plan.mark_initial_events_end:
                yield encode_event("BOOKMARK", bookmark(str(revision), True))
        else:
            revision = plan.after_revision
        if on_initialized is not None:
            on_initialized()

        # 2. Relay storage events, with bookmarks while idle, until the deadline.
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "watch streaming",
                extra={"kind": kind.kind, "revision": revision, "seconds": plan.timeout_seconds},
            )
        pump = asyncio.ensure_future(_pump(store, kind, revision, queue))
        last_revision = revision
        while (remaining := deadline - loop.time()) > 0:
            wait = min(remaining, plan.bookmark_interval_seconds)
            item = await _next(queue, wait if plan.allow_bookmarks else remaining)
            if item is None:
                if plan.allow_bookmarks and loop.time() < deadline:
                    yield encode_event("BOOKMARK", bookmark(str(last_revision), False))
                continue
            if isinstance(item, _End):
                if item.error is not None:
                    async for chunk in _error_events(item.error):
                        yield chunk
                return
            last_revision = item.revision
            translated = translate(item, plan.selection)
            if translated is not None:
                yield encode_event(translated[0], render(translated[1]))
    except StatusError as exc:
        yield encode_event("ERROR", exc.to_status())
    finally:
        if pump is not None:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump


def translate(event: ObjectEvent, selection: Selection) -> tuple[str, Object] | None:
    """The event a selecting watcher sees for ``event``, or None when it sees nothing."""
    matches_now = selection.matches(event.object)
    if event.type is EventType.ADDED:
        return ("ADDED", event.object) if matches_now else None
    if event.type is EventType.DELETED:
        return ("DELETED", event.object) if matches_now else None
    matched_before = event.previous is not None and selection.matches(event.previous)
    if matches_now and matched_before:
        return "MODIFIED", event.object
    if matches_now:
        return "ADDED", event.object
    if matched_before and event.previous is not None:
        return "DELETED", event.previous
    return None


def encode_event(event_type: str, obj: Object) -> bytes:
    """One watch event on the wire: a JSON object and a newline."""
    return orjson.dumps({"type": event_type, "object": obj}) + b"\n"


async def _pump(
    store: Store, kind: Kind, revision: int, queue: asyncio.Queue[ObjectEvent | _End]
) -> None:
    events = store.watch(kind, after_revision=revision)
    try:
        async for event in events:
            await queue.put(event)
        await queue.put(_End())
    except asyncio.CancelledError:
        raise
    except (StatusError, StorageError) as exc:
        await queue.put(_End(exc))
    finally:
        aclose: Any = getattr(events, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(RuntimeError):
                await aclose()


async def _next(
    queue: asyncio.Queue[ObjectEvent | _End], timeout_seconds: float
) -> ObjectEvent | _End | None:
    """The next queued item, or None after ``timeout_seconds`` without one."""
    if not queue.empty():
        return queue.get_nowait()
    try:
        return await asyncio.wait_for(queue.get(), timeout=max(timeout_seconds, 0.0))
    except TimeoutError:
        return None


async def _error_events(error: BaseException) -> AsyncIterator[bytes]:
    if isinstance(error, StatusError):
        yield encode_event("ERROR", error.to_status())
    elif isinstance(error, WatcherTooSlow):
        # The client sees the stream end and rewatches from its last resourceVersion.
        logger.info("watcher too slow, closing stream")
    else:
        logger.warning("watch ended by storage error", extra={"error": str(error)})
