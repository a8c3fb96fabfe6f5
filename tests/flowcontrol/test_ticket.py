"""Tickets and the adaptive Retry-After."""

from __future__ import annotations

from apf.flowcontrol.admission import RejectReason
from apf.flowcontrol.ticket import RetryAfter, rejected_ticket


def drops(retry_after: RetryAfter, second: float, count: int) -> list[int]:
    return [retry_after.record_drop(second) for _ in range(count)]


def test_retry_after_starts_at_one() -> None:
    retry_after = RetryAfter(now=100.0)

    assert drops(retry_after, 100.2, 3) == [1, 1, 1]


def test_retry_after_doubles_after_a_busy_second() -> None:
    retry_after = RetryAfter(now=0.0)
    drops(retry_after, 0.5, 5)

    assert retry_after.record_drop(1.1) == 2


def test_retry_after_waits_its_own_length_before_doubling_again() -> None:
    retry_after = RetryAfter(now=0.0)
    drops(retry_after, 0.5, 5)
    drops(retry_after, 1.5, 1)

    assert retry_after.record_drop(2.5) == 2


def test_retry_after_steps_down_when_drops_stop() -> None:
    retry_after = RetryAfter(now=0.0)
    drops(retry_after, 0.5, 5)
    drops(retry_after, 1.5, 1)
    drops(retry_after, 2.5, 1)

    assert retry_after.record_drop(5.5) == 1


def test_retry_after_is_capped_at_32() -> None:
    retry_after = RetryAfter(now=0.0)
    value = 1
    for second in range(200):
        value = drops(retry_after, float(second), 200)[-1]

    assert value == 32


def test_rejected_ticket_finish_is_harmless() -> None:
    ticket = rejected_ticket(
        flow_schema_uid="u1",
        priority_level_uid="u2",
        flow_schema_name="fs",
        priority_level_name="pl",
        reason=RejectReason.QUEUE_FULL,
        retry_after_seconds=3,
    )

    ticket.finish()
    ticket.finish()

    assert ticket.rejected == RejectReason.QUEUE_FULL
    assert ticket.retry_after_seconds == 3
