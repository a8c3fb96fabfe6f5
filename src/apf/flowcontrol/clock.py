"""Time for the engine: a real clock on the running event loop, and a fake one for tests.

The queue set never reads time or sleeps by itself; it asks its ``Clock``.
``FakeClock`` runs timers in time order only when the test advances it, so
fairness scenarios run in simulated time and prove that no real time passed.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Final, Protocol


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    def now(self) -> float:
        """Monotonic seconds."""
        ...

    def wall(self) -> datetime:
        """Aware UTC wall-clock time, for dumps and conditions."""
        ...

    def call_later(self, delay_seconds: float, callback: Callable[[], None]) -> TimerHandle:
        """Run ``callback`` (a plain function) once, ``delay_seconds`` from now."""
        ...


# Compiled, a module attribute is looked up on every use; a Final name is not.
_MONOTONIC: Final = time.monotonic


class RealClock:
    """``time.monotonic`` and the running loop's timers.

    asyncio's default loops measure time with ``time.monotonic`` too, so a
    deadline read from ``now`` and a timer set with ``call_later`` agree;
    ``now`` also works outside a running loop.
    """

    def now(self) -> float:
        return _MONOTONIC()

    def wall(self) -> datetime:
        return datetime.now(UTC)

    def call_later(self, delay_seconds: float, callback: Callable[[], None]) -> TimerHandle:
        return asyncio.get_running_loop().call_later(max(0.0, delay_seconds), callback)


class _FakeTimer:
    __slots__ = ("callback", "is_cancelled", "when")

    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.is_cancelled = False

    def cancel(self) -> None:
        self.is_cancelled = True


class FakeClock:
    """Simulated time: ``advance`` moves it forward and fires due timers in order."""

    EPOCH = datetime(2026, 1, 1, tzinfo=UTC)

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._timers: list[tuple[float, int, _FakeTimer]] = []
        self._sequence = itertools.count()

    def now(self) -> float:
        return self._now

    def wall(self) -> datetime:
        return self.EPOCH + timedelta(seconds=self._now)

    def call_later(self, delay_seconds: float, callback: Callable[[], None]) -> TimerHandle:
        timer = _FakeTimer(self._now + max(0.0, delay_seconds), callback)
        heapq.heappush(self._timers, (timer.when, next(self._sequence), timer))
        return timer

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, running every timer that falls due, in order."""
        target = self._now + seconds
        while self._timers and self._timers[0][0] <= target:
            when, _, timer = heapq.heappop(self._timers)
            if timer.is_cancelled:
                continue
            self._now = max(self._now, when)
            timer.callback()
        self._now = target

    @property
    def pending_timers(self) -> int:
        return sum(1 for _, _, t in self._timers if not t.is_cancelled)
