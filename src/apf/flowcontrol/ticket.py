"""The admission ticket a request carries from APF to the end of its handler.

Design: the ticket is the request's queue-set request itself (a subclass), so it
always finishes through the queue set that admitted it, never a lookup by level
name, even after the configuration changed or its level started to quiesce; and
one object is built per request instead of two. Finishing is idempotent: the
HTTP layer may call ``finish`` on a rejected ticket, and a watch calls
``initialized`` before ``finish``.
"""

from __future__ import annotations

from collections.abc import Callable

from apf.flowcontrol.admission import RejectReason
from apf.flowcontrol.queueset import QueuedRequest, QueueSet, WorkEstimate


class AdmissionTicket(QueuedRequest):
    """One request's admission; implements ``apf.flowcontrol.admission.Ticket``.

    Built for a queue set, then started there (``QueueSet.start``); it names
    the schema and the level it was admitted under (UIDs and names).
    """

    __slots__ = (
        "_finished",
        "_seats_released",
        "flow_schema_name",
        "flow_schema_uid",
        "on_finish",
        "priority_level_name",
        "priority_level_uid",
        "rejected",
        "retry_after_seconds",
    )

    def __init__(
        self,
        queue_set: QueueSet,
        width: WorkEstimate,
        deadline: float,
        distinguisher: str,
        descr: object,
        *,
        flow_schema_uid: str,
        flow_schema_name: str,
        priority_level_uid: str,
        priority_level_name: str,
    ) -> None:
        super().__init__(queue_set, width, deadline, flow_schema_name, distinguisher, descr, 0.0)
        self.flow_schema_uid = flow_schema_uid
        self.priority_level_uid = priority_level_uid
        self.flow_schema_name = flow_schema_name
        self.priority_level_name = priority_level_name
        # None when admitted; the reason and the level's Retry-After when answered 429.
        self.rejected: RejectReason | None = None
        self.retry_after_seconds = 0
        # Run once when finished (a watch leaves the watch count).
        self.on_finish: Callable[[], None] | None = None
        # True once the queue set was told the main phase is over.
        self._seats_released = False
        self._finished = False

    def reject(self, reason: RejectReason, retry_after_seconds: int) -> None:
        """The request is answered 429 (the queue set refused it or let it time out)."""
        self.rejected = reason
        self.retry_after_seconds = retry_after_seconds
        self._seats_released = True

    def initialized(self) -> None:
        """A watch sent its initial events: its seat-holding phase ends now."""
        self._release_seats()

    def finish(self) -> None:
        """The handler returned: end execution, once; later calls do nothing."""
        if self._finished:
            return
        self._finished = True
        self._release_seats()
        if self.on_finish is not None:
            callback, self.on_finish = self.on_finish, None
            callback()

    def _release_seats(self) -> None:
        if self._seats_released:
            return
        self._seats_released = True
        self._queue_set.finish_request(self)


class RetryAfter:
    """A level's adaptive Retry-After, in whole seconds (spec §9).

    Drops are counted per second of the engine clock. On the first drop of a
    new second the previous second joins the history (kept for at most
    ``min(2·value, 32)`` seconds) and the value adapts to the drops of the
    last ``value`` seconds: doubled (up to 32) when they reach ``3·value`` and
    the last increase is at least ``value`` seconds old, else lowered by one
    when they are fewer than ``value``.
    """

    MAX_SECONDS = 32

    def __init__(self, now: float) -> None:
        self.value = 1
        self._second = int(now)
        self._count = 0
        self._history: dict[int, int] = {}
        self._last_increase = int(now)

    def record_drop(self, now: float) -> int:
        """Count one rejection at ``now``; returns the Retry-After to send."""
        second = int(now)
        if second != self._second:
            self._roll(second)
        self._count += 1
        return self.value

    def _roll(self, second: int) -> None:
        if self._count:
            self._history[self._second] = self._count
        self._second, self._count = second, 0
        keep_seconds = min(2 * self.value, self.MAX_SECONDS)
        self._history = {s: n for s, n in self._history.items() if s >= second - keep_seconds}
        drops = sum(n for s, n in self._history.items() if second - self.value <= s < second)
        if second - self._last_increase >= self.value and drops >= 3 * self.value:
            self.value = min(2 * self.value, self.MAX_SECONDS)
            self._last_increase = second
        elif drops < self.value and self.value > 1:
            self.value -= 1
