"""CONTRACT between the HTTP filter and the engine (implemented by the engine work).

The server builds a RequestDigest, awaits ``Controller.admit``, and on an
admitted ticket runs the handler and then calls ``ticket.finish()`` in a
``finally``. If the awaiting task is cancelled while the request is queued
(client went away), the engine removes it and counts a ``time-out``
rejection. A watch calls ``ticket.initialized()`` once its initial events are
sent, releasing its seats; ``finish()`` later only ends bookkeeping.
"""

from __future__ import annotations

import enum
from typing import Final, Protocol

from apf.flowcontrol.digest import RequestDigest, RequestInfo, UserInfo


class RejectReason(enum.StrEnum):
    QUEUE_FULL = "queue-full"
    CONCURRENCY_LIMIT = "concurrency-limit"
    TIME_OUT = "time-out"


class Ticket(Protocol):
    # UIDs of the matched objects ("" for built-in imagined ones): response headers.
    flow_schema_uid: str
    priority_level_uid: str
    flow_schema_name: str
    priority_level_name: str
    # None when admitted; else the request must be answered 429.
    rejected: RejectReason | None
    # The level's adaptive Retry-After, in seconds, for a rejection.
    retry_after_seconds: int

    def initialized(self) -> None:
        """A watch sent its initial events: release its seats now."""

    def finish(self) -> None:
        """The handler returned: end execution (seats may linger for additional latency)."""


class AdmitOptions:
    """When the request arrived and how long it may take.

    A plain class for the reason given on ``RequestDigest``: one per request.
    """

    __slots__ = ("received_at", "timeout_seconds")

    def __init__(self, received_at: float, timeout_seconds: float | None = None) -> None:
        # Monotonic clock reading when the request arrived (queue-wait deadline base).
        self.received_at: Final = received_at
        # Seconds until the request's own deadline (?timeout=), None for the server default.
        self.timeout_seconds: Final = timeout_seconds

    def __repr__(self) -> str:
        return (
            f"AdmitOptions(received_at={self.received_at!r},"
            f" timeout_seconds={self.timeout_seconds!r})"
        )


class Pending:
    """A queued admission.

    A plain base class rather than an ``abc.ABC``: the server tells it from a
    ticket with ``isinstance`` on every request, and ABC checks cost more.
    """

    __slots__ = ()

    async def wait(self) -> Ticket:
        """Wait in the queue; cancelling removes the request (counted as a time-out)."""
        raise NotImplementedError


class Admitter(Protocol):
    async def admit(self, digest: RequestDigest, options: AdmitOptions) -> Ticket:
        """Classify, estimate width, then dispatch, queue or reject."""
        ...

    def admit_nowait(self, digest: RequestDigest, options: AdmitOptions) -> Ticket | Pending:
        """The same without suspending: a ticket, or a pending admission to wait for.

        Most requests are dispatched or rejected at once; only a queued one needs
        a task (and a watch on the client connection) while it waits.
        """
        ...

    def admit_request(
        self,
        info: RequestInfo,
        user: UserInfo,
        received_at: float,
        timeout_seconds: float | None,
    ) -> Ticket | Pending:
        """``admit_nowait`` from the request's parts: the server's call.

        Building a digest and options in interpreted code and passing them costs
        more than the compiled engine's whole admission; it works from the parts.
        """
        ...
