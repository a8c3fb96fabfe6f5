"""The admission ticket a request carries from APF to the end of its handler.

Design: a ticket holds the queue set and the queue-set request it was
admitted through, never a lookup by level name, so it can always be
finished even after the configuration changed or its level started to
quiesce. Finishing is idempotent: the HTTP layer may call ``finish`` on a
rejected ticket, and a watch calls ``initialized`` before ``finish``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from apf.flowcontrol.admission import RejectReason
from apf.flowcontrol.queueset import QueuedRequest, QueueSet

logger = logging.getLogger(__name__)


class AdmissionTicket:
    """One request's admission; implements ``apf.flowcontrol.admission.Ticket``.

    Built on every request, so the arguments are positional: the UIDs and
    names of the schema and the level, the rejection reason (None when
    admitted), the Retry-After, then what finishing needs.
    """

    __slots__ = (
        "_finished",
        "_on_finish",
        "_queue_set",
        "_request",
        "_seats_released",
        "flow_schema_name",
        "flow_schema_uid",
        "priority_level_name",
        "priority_level_uid",
        "rejected",
        "retry_after_seconds",
    )

    def __init__(
        self,
        flow_schema_uid: str,
        priority_level_uid: str,
        flow_schema_name: str,
        priority_level_name: str,
        rejected: RejectReason | None,
        retry_after_seconds: int,
        queue_set: QueueSet | None = None,
        request: QueuedRequest | None = None,
        on_finish: Callable[[], None] | None = None,
    ) -> None:
        self.flow_schema_uid = flow_schema_uid
        self.priority_level_uid = priority_level_uid
        self.flow_schema_name = flow_schema_name
        self.priority_level_name = priority_level_name
        self.rejected = rejected
        self.retry_after_seconds = retry_after_seconds
        self._queue_set = queue_set
        self._request = request
        self._on_finish = on_finish
        # True once the queue set was told the main phase is over.
        self._seats_released = request is None
        self._finished = False

    def initialized(self) -> None:
        """A watch sent its initial events: its seat-holding phase ends now."""
        self._release_seats()

    def finish(self) -> None:
        """The handler returned: end execution, once; later calls do nothing."""
        if self._finished:
            return
        self._finished = True
        if not self._seats_released:
            self._seats_released = True
            if self._queue_set is not None and self._request is not None:
                self._queue_set.finish_request(self._request)
        if self._on_finish is not None:
            callback, self._on_finish = self._on_finish, None
            callback()

    def _release_seats(self) -> None:
        if self._seats_released:
            return
        self._seats_released = True
        if self._queue_set is not None and self._request is not None:
            self._queue_set.finish_request(self._request)


def rejected_ticket(
    *,
    flow_schema_uid: str,
    priority_level_uid: str,
    flow_schema_name: str,
    priority_level_name: str,
    reason: RejectReason,
    retry_after_seconds: int,
) -> AdmissionTicket:
    """A ticket for a request answered 429."""
    return AdmissionTicket(
        flow_schema_uid,
        priority_level_uid,
        flow_schema_name,
        priority_level_name,
        reason,
        retry_after_seconds,
    )


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
