"""Build a real APF engine in simulated time for the in-process benchmarks.

``make_controller`` stores a synthetic configuration (priority levels and FlowSchemas, one
user per schema) in memory storage and starts the real ``Controller`` on a ``FakeClock``.
``drive`` admits a request the way the server does, with ``admit_request``: a request the
engine dispatches at once gets its ticket there; a queued one gets a pending admission whose
``wait`` coroutine is stepped by hand up to its wait, which lets the benchmarks time
enqueueing, dispatch and finishing while leaving the waiting out.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from typing import Any

from apf.api.kinds import FLOW_SCHEMA, PRIORITY_LEVEL
from apf.flowcontrol.admission import AdmitOptions
from apf.flowcontrol.clock import FakeClock
from apf.flowcontrol.controller import Controller
from apf.flowcontrol.digest import RequestDigest, RequestInfo, UserInfo
from apf.flowcontrol.ticket import AdmissionTicket
from apf.registry.store import Store
from apf.storage.memory import MemoryStorage

Object = dict[str, Any]
AdmitCoroutine = Coroutine[Any, Any, AdmissionTicket]

# The server's seats with the default --max-requests-inflight 400 + mutating 200.
DEFAULT_SERVER_SEATS = 600
FLOW_SCHEMA_PATH = "/apis/flowcontrol.apiserver.k8s.io/v1/flowschemas"


def level_object(name: str, *, queues: int, hand_size: int, queue_length: int) -> Object:
    """A Limited priority level that queues, lending nothing."""
    return {
        "apiVersion": "flowcontrol.apiserver.k8s.io/v1",
        "kind": "PriorityLevelConfiguration",
        "metadata": {"name": name},
        "spec": {
            "type": "Limited",
            "limited": {
                "nominalConcurrencyShares": 30,
                "lendablePercent": 0,
                "limitResponse": {
                    "type": "Queue",
                    "queuing": {
                        "queues": queues,
                        "handSize": hand_size,
                        "queueLengthLimit": queue_length,
                    },
                },
            },
        },
    }


def schema_object(name: str, *, user: str, level: str, precedence: int) -> Object:
    """A FlowSchema sending one user's reads of flowschemas to ``level``, one flow per user."""
    return {
        "apiVersion": "flowcontrol.apiserver.k8s.io/v1",
        "kind": "FlowSchema",
        "metadata": {"name": name},
        "spec": {
            "priorityLevelConfiguration": {"name": level},
            "matchingPrecedence": precedence,
            "distinguisherMethod": {"type": "ByUser"},
            "rules": [
                {
                    "subjects": [{"kind": "User", "user": {"name": user}}],
                    "resourceRules": [
                        {
                            "verbs": ["get", "list"],
                            "apiGroups": ["flowcontrol.apiserver.k8s.io"],
                            "resources": ["flowschemas"],
                            "clusterScope": True,
                        }
                    ],
                }
            ],
        },
    }


def list_request(user: str) -> RequestDigest:
    """A cluster-scoped LIST of flowschemas by ``user``."""
    info = RequestInfo(
        is_resource_request=True,
        path=FLOW_SCHEMA_PATH,
        verb="list",
        api_prefix="apis",
        api_group="flowcontrol.apiserver.k8s.io",
        api_version="v1",
        resource="flowschemas",
        parts=("flowschemas",),
    )
    return RequestDigest(info, UserInfo(name=user, groups=("system:authenticated",)))


@dataclass(frozen=True, slots=True)
class EngineShape:
    """How big a synthetic configuration is."""

    flow_schemas: int
    priority_levels: int
    queues: int = 64
    hand_size: int = 6
    queue_length: int = 50


@dataclass
class Engine:
    """A started controller over memory storage, and one request per FlowSchema user."""

    controller: Controller
    clock: FakeClock
    storage: MemoryStorage
    requests: list[RequestDigest]
    options: AdmitOptions

    async def close(self) -> None:
        """Stop the controller and the storage."""
        await self.controller.stop()
        await self.storage.close()


async def make_controller(
    shape: EngineShape, *, server_seats: int = DEFAULT_SERVER_SEATS
) -> Engine:
    """Store the configuration ``shape`` describes and start a controller on it."""
    storage = MemoryStorage()
    await storage.start()
    store = Store(storage)
    for index in range(shape.priority_levels):
        level = level_object(
            f"bench-pl-{index}",
            queues=shape.queues,
            hand_size=shape.hand_size,
            queue_length=shape.queue_length,
        )
        await store.create(PRIORITY_LEVEL, level)
    users = [f"bench-user-{index}" for index in range(shape.flow_schemas)]
    for index, user in enumerate(users):
        schema = schema_object(
            f"bench-fs-{index}",
            user=user,
            level=f"bench-pl-{index % shape.priority_levels}",
            precedence=100 + index % 9000,
        )
        await store.create(FLOW_SCHEMA, schema)
    clock = FakeClock()
    controller = Controller(store, clock, server_concurrency_limit=server_seats)
    await controller.start()
    options = AdmitOptions(received_at=clock.now())
    return Engine(controller, clock, storage, [list_request(user) for user in users], options)


@dataclass
class Step:
    """One admission: the ticket, or the pending admission's wait stepped by hand."""

    coroutine: AdmitCoroutine | None = None
    ticket: AdmissionTicket | None = None
    awaited: Any = None

    def advance(self) -> bool:
        """Run until the coroutine returns (True) or waits again (False)."""
        if self.coroutine is None:
            return True
        try:
            self.awaited = self.coroutine.send(None)
        except StopIteration as stop:
            self.ticket = stop.value
            return True
        return False

    @property
    def is_ready(self) -> bool:
        """Whether what the coroutine waits on has completed (it may resume now)."""
        done = getattr(self.awaited, "done", None)
        return bool(done()) if callable(done) else False

    def cancel(self) -> None:
        """Cancel a coroutine still waiting, as a client going away would (the engine
        removes the request from its queue)."""
        if self.ticket is not None or self.coroutine is None:
            return
        with contextlib.suppress(asyncio.CancelledError, StopIteration):
            self.coroutine.throw(asyncio.CancelledError())
        self.coroutine.close()


def drive(engine: Engine, digest: RequestDigest) -> Step:
    """Admit ``digest``: its ticket at once, or its wait run up to where it suspends."""
    options = engine.options
    result = engine.controller.admit_request(
        digest.request_info, digest.user, options.received_at, options.timeout_seconds
    )
    if isinstance(result, AdmissionTicket):
        return Step(ticket=result)
    step = Step(coroutine=result.wait())
    step.advance()
    return step


def cycle(items: list[RequestDigest], count: int) -> Iterator[RequestDigest]:
    """``count`` items taken round-robin from ``items``."""
    for index in range(count):
        yield items[index % len(items)]
