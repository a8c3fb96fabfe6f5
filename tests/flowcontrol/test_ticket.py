"""Tickets and the adaptive Retry-After."""

from __future__ import annotations

from apf.flowcontrol.admission import RejectReason
from apf.flowcontrol.clock import FakeClock
from apf.flowcontrol.queueset import QueueSet, RequestState, WorkEstimate
from apf.flowcontrol.ticket import AdmissionTicket, RetryAfter


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


def _ticket(queue_set: QueueSet) -> AdmissionTicket:
    return AdmissionTicket(
        queue_set,
        WorkEstimate(initial_seats=1),
        60.0,
        "",
        None,
        flow_schema_uid="u1",
        flow_schema_name="fs",
        priority_level_uid="u2",
        priority_level_name="pl",
    )


def test_a_ticket_is_its_request_and_finishes_it_once() -> None:
    queue_set = QueueSet("pl", FakeClock(), queuing=None, concurrency_limit=1)
    ticket = _ticket(queue_set)

    queue_set.start(ticket, hash_value=0)
    started = ticket.state
    assert queue_set.executing == 1
    finished: list[str] = []
    ticket.on_finish = lambda: finished.append("done")

    ticket.initialized()
    assert queue_set.seats_in_use == 0
    ticket.finish()
    ticket.finish()

    assert (started, ticket.state) == (RequestState.EXECUTING, RequestState.FINISHED)
    assert (queue_set.executing, queue_set.dispatched_total, finished) == (0, 1, ["done"])
    assert (ticket.flow_schema_name, ticket.flow_schema, ticket.priority_level_uid) == (
        "fs",
        "fs",
        "u2",
    )


def test_a_rejected_ticket_finishes_harmlessly() -> None:
    queue_set = QueueSet("pl", FakeClock(), queuing=None, concurrency_limit=0)
    holder, refused = _ticket(queue_set), _ticket(queue_set)
    queue_set.start(holder, hash_value=0)  # a limit of 0 still admits one at a time
    queue_set.start(refused, hash_value=0)
    assert refused.state is RequestState.REJECTED
    refused.reject(RejectReason.CONCURRENCY_LIMIT, 3)

    refused.finish()
    refused.finish()

    assert refused.rejected == RejectReason.CONCURRENCY_LIMIT
    assert refused.retry_after_seconds == 3
    assert queue_set.executing == 1
    holder.finish()
    assert queue_set.executing == 0
