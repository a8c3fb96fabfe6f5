"""Clocks: the fake one runs timers in time order; the real one uses the loop."""

import asyncio
from datetime import UTC, timedelta

from apf.flowcontrol.clock import FakeClock, RealClock


def test_fake_clock_fires_due_timers_in_time_order() -> None:
    clock = FakeClock(start=10.0)
    fired: list[tuple[str, float]] = []
    clock.call_later(3.0, lambda: fired.append(("c", clock.now())))
    clock.call_later(1.0, lambda: fired.append(("a", clock.now())))
    clock.call_later(2.0, lambda: fired.append(("b", clock.now())))

    clock.advance(2.5)

    assert fired == [("a", 11.0), ("b", 12.0)]
    assert clock.now() == 12.5
    assert clock.pending_timers == 1


def test_fake_clock_runs_timers_scheduled_by_timers_within_the_advance() -> None:
    clock = FakeClock()
    fired: list[float] = []

    def first() -> None:
        fired.append(clock.now())
        clock.call_later(1.0, lambda: fired.append(clock.now()))

    clock.call_later(1.0, first)

    clock.advance(5.0)

    assert fired == [1.0, 2.0]


def test_fake_clock_skips_cancelled_timers() -> None:
    clock = FakeClock()
    fired: list[str] = []
    handle = clock.call_later(1.0, lambda: fired.append("x"))
    handle.cancel()

    clock.advance(2.0)

    assert fired == []
    assert clock.pending_timers == 0


def test_fake_clock_keeps_same_time_timers_in_scheduling_order() -> None:
    clock = FakeClock()
    fired: list[int] = []
    for i in range(5):
        clock.call_later(1.0, lambda i=i: fired.append(i))  # type: ignore[misc]

    clock.advance(1.0)

    assert fired == [0, 1, 2, 3, 4]


def test_fake_clock_wall_follows_monotonic_time() -> None:
    clock = FakeClock()
    before = clock.wall()

    clock.advance(90.0)

    assert clock.wall() - before == timedelta(seconds=90)
    assert clock.wall().tzinfo is UTC


async def test_real_clock_runs_callback_on_the_running_loop() -> None:
    clock = RealClock()
    done: asyncio.Future[float] = asyncio.get_running_loop().create_future()

    clock.call_later(0.0, lambda: done.set_result(clock.now()))
    fired_at = await done

    assert fired_at >= 0.0
    assert clock.wall().tzinfo is UTC


async def test_real_clock_cancelled_timer_never_fires() -> None:
    clock = RealClock()
    fired: list[bool] = []
    handle = clock.call_later(0.0, lambda: fired.append(True))
    handle.cancel()
    marker: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    clock.call_later(0.0, lambda: marker.set_result(None))
    await marker

    assert fired == []
