"""Fair queuing for one priority level: shuffle sharding, virtual time, seats.

Design (after kube-apiserver's queueset, re-derived from the spec):

* Each request has a width in seats (``WorkEstimate``). A level executes
  requests while the seats in use fit its concurrency limit; the rest wait in
  queues. A flow (FlowSchema + distinguisher) is hashed to a hand of queues and
  its request joins the hand's queue with the least waiting work.
* Fairness comes from virtual time R, measured in seat-seconds: R grows at the
  rate each active queue would be served if seats were shared equally among
  them. A queue's ``next_dispatch_r`` is the R at which its head may start;
  the dispatcher picks the head with the smallest virtual finish
  (``next_dispatch_r + work``). This is max-min fair under uneven demand
  (kubernetes issue 95979 was the earlier, merely even, allocation).
* Times are plain floats from the injected ``Clock`` (seconds), R is a float
  of seat-seconds: Python has no uint64 wrap-around, and a float keeps better
  than microsecond precision for centuries of R at the largest limits, so the
  reference's "epoch advance" is unnecessary here.

Every method is a plain ``def`` that changes state atomically; only
``QueuedRequest.wait`` suspends. Per request the cost is O(hand size) to pick
a queue (hands are cached per flow hash) plus O(log n) heap work:

* waiting requests' deadlines sit in one heap behind a single clock timer;
* queues with a waiting head sit in a heap keyed by ``next_dispatch_r`` plus
  the head's work, with stale entries skipped by a per-queue version. Where
  the reference scans all queues from ``robin_index + 1`` with a strict
  ``<``, we take the heap's minimum and break exact ties by the same
  round-robin offset, so the choice is identical;
* a request arriving when nothing waits and seats are free skips the queue
  round trip but gets the same accounting (``_start_at_once``).

A waiting request removed by cancellation or expiry is found in its queue in
O(queue length); queues are short (the length limit) so this stays cheap.

Left out: per-queue dumps of request UIDs; the epoch advance (see above).
"""

from __future__ import annotations

import asyncio
import enum
import functools
import heapq
import itertools
import logging
import math
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Final, Protocol

from apf.flowcontrol.clock import Clock, RealClock, TimerHandle
from apf.flowcontrol.shuffleshard import Dealer

logger = logging.getLogger(__name__)

# Estimated service time of one seat of initial work (the reference's G), seconds.
ESTIMATED_SERVICE_SECONDS: Final = 0.003
# Flows whose hands are remembered per queue set; the cache starts over when full.
MAX_CACHED_HANDS: Final = 4096


@dataclass(frozen=True, slots=True)
class QueuingConfig:
    queues: int
    hand_size: int
    queue_length_limit: int


@dataclass(frozen=True, slots=True)
class WorkEstimate:
    """Seats a request occupies: ``initial`` while it runs, ``final`` for a while after."""

    initial_seats: int = 1
    final_seats: int = 0
    additional_latency_seconds: float = 0.0
    # Derived once: the queue set reads them several times per request.
    max_seats: int = field(init=False, repr=False, compare=False)
    total_work: float = field(init=False, repr=False, compare=False)  # seat-seconds

    def __post_init__(self) -> None:
        object.__setattr__(self, "max_seats", max(self.initial_seats, self.final_seats))
        work = (
            self.initial_seats * ESTIMATED_SERVICE_SECONDS
            + self.final_seats * self.additional_latency_seconds
        )
        object.__setattr__(self, "total_work", work)


class RequestState(enum.StrEnum):
    WAITING = "waiting"
    EXECUTING = "executing"
    FINISHED = "finished"
    REJECTED = "rejected"


QUEUE_FULL: Final = "queue-full"
CONCURRENCY_LIMIT: Final = "concurrency-limit"
TIME_OUT: Final = "time-out"


class QueueSetObserver(Protocol):
    def on_enqueued(self, req: QueuedRequest, queue_length: int) -> None: ...
    def on_dispatched(self, req: QueuedRequest, wait_seconds: float) -> None: ...
    def on_rejected(self, req: QueuedRequest, reason: str, wait_seconds: float) -> None: ...
    def on_finished(self, req: QueuedRequest, execution_seconds: float) -> None: ...
    def on_no_accommodation(self, req: QueuedRequest) -> None: ...


class NativeObserver:
    """An observer compiled with the engine: the queue set calls its hooks directly.

    The hooks do nothing here. Under mypyc a call through the ``QueueSetObserver``
    protocol is a generic Python call (method lookup, argument parsing, boxed floats);
    a subclass of this class gets a direct call instead, five times per request.
    Any other observer is wrapped in a forwarder (see ``as_native_observer``).
    """

    def on_enqueued(self, req: QueuedRequest, queue_length: int) -> None:
        return None

    def on_dispatched(self, req: QueuedRequest, wait_seconds: float) -> None:
        return None

    def on_rejected(self, req: QueuedRequest, reason: str, wait_seconds: float) -> None:
        return None

    def on_finished(self, req: QueuedRequest, execution_seconds: float) -> None:
        return None

    def on_no_accommodation(self, req: QueuedRequest) -> None:
        return None


class _ForwardingObserver(NativeObserver):
    """Passes every hook on to an observer that is not a ``NativeObserver``."""

    def __init__(self, target: QueueSetObserver) -> None:
        self.target = target

    def on_enqueued(self, req: QueuedRequest, queue_length: int) -> None:
        self.target.on_enqueued(req, queue_length)

    def on_dispatched(self, req: QueuedRequest, wait_seconds: float) -> None:
        self.target.on_dispatched(req, wait_seconds)

    def on_rejected(self, req: QueuedRequest, reason: str, wait_seconds: float) -> None:
        self.target.on_rejected(req, reason, wait_seconds)

    def on_finished(self, req: QueuedRequest, execution_seconds: float) -> None:
        self.target.on_finished(req, execution_seconds)

    def on_no_accommodation(self, req: QueuedRequest) -> None:
        self.target.on_no_accommodation(req)


def as_native_observer(observer: QueueSetObserver | None) -> NativeObserver:
    """The observer itself when it is native, else a forwarder to it (no-op for None)."""
    if observer is None:
        return NativeObserver()
    if isinstance(observer, NativeObserver):
        return observer
    return _ForwardingObserver(observer)


class _Queue:
    """One FIFO of waiting requests plus the bookkeeping the dispatcher needs."""

    __slots__ = (
        "executing",
        "index",
        "initial_seats_sum",
        "max_seats_sum",
        "next_dispatch_r",
        "seats_in_use",
        "total_work_sum",
        "version",
        "waiting",
    )

    def __init__(self, index: int) -> None:
        self.index = index
        self.waiting: deque[QueuedRequest] = deque()
        # Requests of this queue in their main phase (lingering seats excluded).
        self.executing: set[QueuedRequest] = set()
        self.seats_in_use = 0  # incl. seats lingering for additional latency
        self.next_dispatch_r = 0.0  # seat-seconds
        # Bumped whenever the dispatch key (next_dispatch_r + head work) may change;
        # heap entries carrying an older version are stale.
        self.version = 0
        # Sums over ``waiting``.
        self.initial_seats_sum = 0
        self.max_seats_sum = 0
        self.total_work_sum = 0.0

    @property
    def is_active(self) -> bool:
        return bool(self.waiting or self.executing)


class QueuedRequest:
    """One request's life in a queue set; the engine owns it, callers read it."""

    __slots__ = (
        "_queue_set",
        "_waiter",
        "arrival",
        "arrival_r",
        "deadline",
        "descr",
        "distinguisher",
        "flow_schema",
        "queue",
        "queued",
        "queued_seats",
        "reject_reason",
        "start",
        "started",
        "state",
        "width",
    )

    def __init__(
        self,
        queue_set: QueueSet,
        width: WorkEstimate,
        deadline: float,
        flow_schema: str,
        distinguisher: str,
        descr: object,
        arrival: float,
    ) -> None:
        self._queue_set = queue_set
        self._waiter: asyncio.Future[None] | None = None
        self.state = RequestState.WAITING
        self.reject_reason: str | None = None
        self.queue: _Queue | None = None
        # True once it waited in a queue (a request started at once never did), and the
        # seats it was counted with there (dispatch may clamp its width afterwards).
        self.queued = False
        self.queued_seats = 0
        self.width = width
        self.deadline = deadline
        self.flow_schema = flow_schema
        self.distinguisher = distinguisher
        self.descr = descr
        self.arrival = arrival
        self.arrival_r = 0.0
        self.start = 0.0
        self.started = False

    # Wall-clock times are only read by the dumps, so they are derived from the
    # monotonic ones on demand instead of being taken on every request.
    @property
    def arrival_wall(self) -> datetime:
        return self._wall(self.arrival)

    @property
    def start_wall(self) -> datetime | None:
        return self._wall(self.start) if self.started else None

    def _wall(self, monotonic: float) -> datetime:
        clock = self._queue_set.clock
        return clock.wall() - timedelta(seconds=clock.now() - monotonic)

    @property
    def queue_index(self) -> int:
        return -1 if self.queue is None else self.queue.index

    async def wait(self) -> bool:
        """Wait until dispatched (True) or rejected (False).

        Cancelling the waiting task removes the request (counted as time-out); a
        request dispatched in the same instant is finished so its seats free up.
        """
        if self.state is RequestState.WAITING:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            except asyncio.CancelledError:
                self._queue_set._abandon(self)
                raise
        return self.state is RequestState.EXECUTING or self.state is RequestState.FINISHED

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


# Virtual times and work in snapshots are fixed-point seat-seconds, as the dumps print them.
SEAT_SECONDS_SCALE: Final = 100_000_000


def _fixed(seat_seconds: float) -> int:
    return round(seat_seconds * SEAT_SECONDS_SCALE)


@dataclass(frozen=True, slots=True)
class QueueStats:
    waiting: int
    executing: int
    seats_in_use: int
    next_dispatch_r: int  # fixed-point seat-seconds
    initial_seats_sum: int
    max_seats_sum: int
    total_work_sum: int  # fixed-point seat-seconds


@dataclass(frozen=True, slots=True)
class RequestStats:
    flow_schema: str
    distinguisher: str
    queue_index: int
    index_in_queue: int
    arrival_wall: datetime
    start_wall: datetime | None
    width: WorkEstimate
    descr: Any  # not ``object``: mypyc cannot compile a dataclass field of that type


@dataclass(frozen=True, slots=True)
class QueueSetStats:
    """A consistent snapshot for dumps and metrics."""

    waiting: int
    executing: int
    seats_in_use: int
    seats_waiting: int
    concurrency_limit: int
    current_r: float
    dispatched: int
    rejected: int
    timed_out: int
    cancelled: int
    queues: tuple[QueueStats, ...] = ()
    requests: tuple[RequestStats, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class SeatDemand:
    """Seats in use plus waiting, integrated over one readjustment period."""

    average: float
    stdev: float
    high_watermark: int
    seconds: float


class _DemandIntegrator:
    """Time-weighted mean, deviation and maximum of a step function of time."""

    def __init__(self, now: float) -> None:
        self.value = 0
        self.last = now
        self.start = now
        self.area = 0.0
        self.area_squares = 0.0
        self.high = 0

    def set(self, now: float, value: int) -> None:
        elapsed = now - self.last
        if elapsed > 0:
            self.area += self.value * elapsed
            self.area_squares += self.value * self.value * elapsed
            self.last = now
        self.value = value
        if value > self.high:
            self.high = value

    def take(self, now: float) -> SeatDemand:
        self.set(now, self.value)
        seconds = now - self.start
        if seconds > 0:
            average = self.area / seconds
            variance = self.area_squares / seconds - average * average
            stdev = math.sqrt(variance) if variance > 0 else 0.0
        else:
            average, stdev = float(self.value), 0.0
        demand = SeatDemand(average, stdev, self.high, seconds)
        self.start, self.area, self.area_squares, self.high = now, 0.0, 0.0, self.value
        return demand


class FlowHand:
    """One flow's hand of queues, kept by the caller between the flow's requests.

    The queue set fills it on first use and trusts it while the deal it came
    from stands: a request then finds its queues without a hash lookup, which
    on a loaded server (caches cold between requests) saves several misses.
    """

    def __init__(self) -> None:
        self.dealer: Dealer | None = None
        self.queues: list[_Queue] = []  # the hand, twice over (see QueueSet._shuffle_shard)


class QueueSet:
    """Admission for one priority level; see the module docstring."""

    def __init__(
        self,
        name: str,
        clock: Clock,
        *,
        queuing: QueuingConfig | None,
        concurrency_limit: int,
        is_exempt: bool = False,
        observer: QueueSetObserver | None = None,
    ) -> None:
        self.name = name
        self.clock = clock
        # Compiled, a call through the Clock protocol is a generic Python call; the
        # real clock's own class is called directly (twice per request).
        self._real_clock = clock if isinstance(clock, RealClock) else None
        self.is_exempt = is_exempt
        self.observer = as_native_observer(observer)
        self.limit = concurrency_limit  # seats, >= 0; may change at any time
        self.queuing: QueuingConfig | None = None
        self.desired_queues = 0  # queues new requests are dealt to; more may drain
        self.dealer: Dealer | None = None
        # Hands already dealt by ``dealer`` (each repeated twice), by flow hash; bounded,
        # emptied on a new deck.
        self.hands: dict[int, list[_Queue]] = {}
        self.queues: list[_Queue] = []
        # Queues with at least one waiting request: the only dispatch candidates.
        self.waiting_queues: set[_Queue] = set()
        # Candidates by dispatch key (seat-seconds), lazily invalidated by queue version.
        self.candidates: list[tuple[float, int, int, _Queue]] = []
        self.robin_index = -1  # index of the queue dispatched from last; -1 before any
        self.enqueues = 0  # shuffle-shard choices made; picks the hand's starting position
        self.is_quiescing = False
        # Totals over the whole set; each equals the sum of its per-queue counterparts
        # (plus queueless requests for executing/seats_in_use).
        self.waiting = 0  # requests
        self.seats_waiting = 0  # max seats of waiting requests
        self.executing = 0  # requests in their main phase
        self.seats_in_use = 0  # incl. lingering final seats
        self.queueless: set[QueuedRequest] = set()  # executing without a queue
        # Virtual time: R (seat-seconds) at real time ``last_sync``.
        self.current_r = 0.0
        self.last_sync = clock.now()
        self.active_queues = 0
        self.seats_requested = 0  # sum over queues of seats in use + waiting max seats
        # Waiting requests by deadline (lazy deletion) and the one timer for the earliest.
        self.deadlines: list[tuple[float, int, QueuedRequest]] = []
        self.deadline_timer: TimerHandle | None = None
        self.deadline_timer_at = math.inf
        self.sequence = itertools.count()
        self.demand = _DemandIntegrator(self.last_sync)
        self.dispatched_total = 0
        self.rejected_total = 0
        self.cancelled_total = 0
        # Called when a quiescing set becomes idle after a release (the owner retires it).
        self.on_idle: Callable[[], None] | None = None
        self.reconfigure(queuing=queuing, concurrency_limit=concurrency_limit)

    # --- configuration ---

    def reconfigure(self, *, queuing: QueuingConfig | None, concurrency_limit: int) -> None:
        """Apply a new queuing config; queued requests stay where they are."""
        self._sync_time()
        self.queuing = None if self.is_exempt else queuing
        self.desired_queues = self.queuing.queues if self.queuing is not None else 0
        if self.queuing is not None and self.queuing.queues > 0:
            self.dealer = Dealer(self.queuing.queues, self.queuing.hand_size)
            self.hands = {}
            while len(self.queues) < self.queuing.queues:
                self.queues.append(_Queue(len(self.queues)))
        else:
            self.dealer = None
        self._drop_surplus_queues()
        self.set_concurrency_limit(concurrency_limit)

    def set_concurrency_limit(self, limit: int) -> None:
        """Change the seat limit; raising it dispatches waiters, lowering never preempts."""
        self._sync_time()
        self.limit = max(0, limit)
        self._dispatch()

    def quiesce(self) -> None:
        """Mark the level as draining: the controller sends no more requests here."""
        self.is_quiescing = True

    @property
    def is_idle(self) -> bool:
        return self.waiting == 0 and self.executing == 0 and self.seats_in_use == 0

    # --- requests ---

    def start_request(
        self,
        *,
        hash_value: int,
        width: WorkEstimate,
        deadline: float,
        flow_schema: str,
        distinguisher: str,
        descr: object = None,
        hand: FlowHand | None = None,
    ) -> QueuedRequest:
        """Admit at once (EXECUTING), queue (WAITING) or refuse (REJECTED).

        ``hand``, kept by the caller for the flow of ``hash_value``, remembers the
        flow's queues between its requests.
        """
        req = QueuedRequest(self, width, deadline, flow_schema, distinguisher, descr, 0.0)
        self.start(req, hash_value=hash_value, hand=hand)
        return req

    def start(self, req: QueuedRequest, *, hash_value: int, hand: FlowHand | None = None) -> None:
        """``start_request`` for a request the caller built for this queue set.

        A subclass can so be the request and what its caller hands out for it
        (the controller's admission ticket), one object instead of two.
        """
        now = self._sync_time()
        req.arrival = now
        if self.is_exempt:
            self._execute(req)
            return
        if self.dealer is None:
            # Reject mode: no queues, dispatch now or refuse.
            if self._fits(req.width.max_seats):
                self._execute(req)
            else:
                self._reject(req, CONCURRENCY_LIMIT)
            return
        queue = self._shuffle_shard(hash_value, hand)
        assert self.queuing is not None
        if (
            self.seats_in_use >= self.limit
            and len(queue.waiting) >= self.queuing.queue_length_limit
        ):
            self._reject(req, QUEUE_FULL)
            return
        if self.waiting == 0 and req.deadline > now and self._can_start_now(req.width.max_seats):
            self._start_at_once(req, queue)
            return
        self._enqueue(req, queue)
        self._dispatch()

    def _can_start_now(self, seats: int) -> bool:
        """Whether the dispatch loop would take a request of ``seats`` as the only waiter."""
        if seats > self.limit:
            return self.executing == 0
        if self.seats_in_use + seats > self.limit:
            return False
        return seats > 0 or self.seats_in_use < self.limit or self.executing == 0

    def _start_at_once(self, req: QueuedRequest, queue: _Queue) -> None:
        """Enqueue and dispatch in one step: the same bookkeeping without the round trip."""
        if not queue.waiting and not queue.executing:
            queue.next_dispatch_r = self.current_r
        req.queue = queue
        req.arrival_r = self.current_r
        self.observer.on_enqueued(req, 1)
        self.robin_index = queue.index
        if req.width.final_seats > self.limit > 0:
            self._clamp_final_seats(req)
        queue.next_dispatch_r += req.width.total_work
        self._execute(req)

    def finish_request(self, req: QueuedRequest) -> None:
        """End the request's main phase; its final seats linger for the additional latency."""
        if req.state is not RequestState.EXECUTING:
            return
        now = self._sync_time()
        req.state = RequestState.FINISHED
        self.executing -= 1
        queue = req.queue
        width = req.width
        if queue is None:
            self.queueless.discard(req)
        else:
            queue.executing.discard(req)
            if not queue.executing and not queue.waiting:
                self.active_queues -= 1
            # Charge the queue for what the request really took instead of G.
            queue.next_dispatch_r -= width.initial_seats * (
                ESTIMATED_SERVICE_SECONDS - (now - req.start)
            )
            if queue.waiting:
                self._bound_next_dispatch(queue)
        self.observer.on_finished(req, now - req.start)
        if width.additional_latency_seconds > 0 and width.final_seats > 0:
            self.clock.call_later(
                width.additional_latency_seconds, functools.partial(self._linger_end, req)
            )
            # Lingering seats still count, but the order may have changed and a
            # too-wide head may now run alone.
            self._dispatch()
        else:
            self._release(req)

    def _linger_end(self, req: QueuedRequest) -> None:
        self._sync_time()
        self._release(req)

    def _release(self, req: QueuedRequest) -> None:
        """Give back the request's seats (time already synced) and dispatch into them."""
        seats = req.width.max_seats
        self.seats_in_use -= seats
        self.demand.set(self.last_sync, self.seats_in_use + self.seats_waiting)
        queue = req.queue
        if queue is not None:
            queue.seats_in_use -= seats
            self.seats_requested -= seats
            if queue.index >= self.desired_queues:
                self._drop_if_surplus(queue)
        if self.waiting:
            self._dispatch()
        if self.is_quiescing and self.on_idle is not None and self.is_idle:
            self.on_idle()

    def _abandon(self, req: QueuedRequest) -> None:
        """The waiting task was cancelled (client gone)."""
        if req.state is RequestState.WAITING:
            self._sync_time()
            self._dequeue_waiting(req)
            self._reject(req, TIME_OUT)
            self._dispatch()
        elif req.state is RequestState.EXECUTING:
            # Dispatched in the same instant: nobody will run it, so end it now.
            self.finish_request(req)

    # --- internals: virtual time ---

    def _sync_time(self) -> float:
        real = self._real_clock
        now = real.now() if real is not None else self.clock.now()
        elapsed = now - self.last_sync
        if elapsed > 0:
            if self.active_queues > 0:
                rate = min(self.seats_requested, self.limit) / self.active_queues
                self.current_r += elapsed * rate
            self.last_sync = now
        return now

    def _bound_next_dispatch(self, queue: _Queue) -> None:
        """Anti-windup: a queue's next dispatch is never before its head arrived."""
        if queue.waiting and queue.next_dispatch_r < queue.waiting[0].arrival_r:
            queue.next_dispatch_r = queue.waiting[0].arrival_r
        self._rekey(queue)

    def _rekey(self, queue: _Queue) -> None:
        """Record the queue's new dispatch key; older heap entries become stale."""
        queue.version += 1
        if not queue.waiting:
            return
        key = queue.next_dispatch_r + queue.waiting[0].width.total_work
        candidates = self.candidates
        heapq.heappush(candidates, (key, next(self.sequence), queue.version, queue))
        if len(candidates) > 4 * len(self.waiting_queues) + 64:
            self._rebuild_candidates()

    def _rebuild_candidates(self) -> None:
        self.candidates = [
            (q.next_dispatch_r + q.waiting[0].width.total_work, next(self.sequence), q.version, q)
            for q in self.waiting_queues
        ]
        heapq.heapify(self.candidates)

    # --- internals: queues ---

    def _shuffle_shard(self, hash_value: int, hand: FlowHand | None) -> _Queue:
        dealer = self.dealer
        assert dealer is not None
        if hand is not None and hand.dealer is dealer:
            doubled = hand.queues
        else:
            # The cache holds each hand twice over, so any rotation of it is one slice.
            cached = self.hands.get(hash_value)
            if cached is None:
                if len(self.hands) >= MAX_CACHED_HANDS:
                    self.hands.clear()
                cached = self.hands[hash_value] = [
                    self.queues[i] for i in dealer.deal(hash_value)
                ] * 2
            doubled = cached
            if hand is not None:
                hand.dealer, hand.queues = dealer, doubled
        size = len(doubled) >> 1
        offset = self.enqueues % size
        self.enqueues += 1
        if self.waiting == 0:
            return doubled[offset]  # every queue is empty: the first one looked at wins
        best, best_work = doubled[offset], math.inf
        for queue in doubled[offset : offset + size]:
            if queue.total_work_sum < best_work:
                best, best_work = queue, queue.total_work_sum
        return best

    def _enqueue(self, req: QueuedRequest, queue: _Queue) -> None:
        if not queue.waiting and not queue.executing:
            queue.next_dispatch_r = self.current_r
            self.active_queues += 1
        req.queue = queue
        req.queued = True
        req.queued_seats = req.width.max_seats
        req.arrival_r = self.current_r
        width = req.width
        queue.waiting.append(req)
        self.waiting_queues.add(queue)
        if len(queue.waiting) == 1:
            self._rekey(queue)
        queue.initial_seats_sum += width.initial_seats
        queue.max_seats_sum += width.max_seats
        queue.total_work_sum += width.total_work
        self.seats_requested += width.max_seats
        self.waiting += 1
        self.seats_waiting += width.max_seats
        self.demand.set(self.last_sync, self.seats_in_use + self.seats_waiting)
        heapq.heappush(self.deadlines, (req.deadline, next(self.sequence), req))
        self._arm_deadline_timer()
        self.observer.on_enqueued(req, len(queue.waiting))

    def _dequeue_waiting(self, req: QueuedRequest, *, rekey: bool = True) -> None:
        """Take a waiting request out of its queue (head or not).

        ``rekey=False`` leaves the queue's dispatch key to the caller, which is
        about to change it again.
        """
        queue = req.queue
        assert queue is not None
        if queue.waiting and queue.waiting[0] is req:
            queue.waiting.popleft()
        else:
            queue.waiting.remove(req)
        width = req.width
        queue.initial_seats_sum -= width.initial_seats
        queue.max_seats_sum -= width.max_seats
        queue.total_work_sum -= width.total_work
        if not queue.waiting:
            self.waiting_queues.discard(queue)
            queue.total_work_sum = 0.0  # no float residue: an empty queue has no work
        self.seats_requested -= width.max_seats
        self.waiting -= 1
        self.seats_waiting -= width.max_seats
        self.demand.set(self.last_sync, self.seats_in_use + self.seats_waiting)
        if not queue.waiting and not queue.executing:
            self.active_queues -= 1
        if rekey:
            self._bound_next_dispatch(queue)

    def _drop_surplus_queues(self) -> None:
        for queue in reversed(self.queues):
            self._drop_if_surplus(queue)

    def _drop_if_surplus(self, queue: _Queue) -> None:
        """Delete ``queue`` if it lies beyond the desired count and holds nothing.

        Only indexes at or past the desired count shift, so the queues that
        new requests are dealt to keep their identity.
        """
        if queue.index < self.desired_queues or queue.is_active or queue.seats_in_use:
            return
        if queue.index >= len(self.queues) or self.queues[queue.index] is not queue:
            return
        del self.queues[queue.index]
        for i in range(queue.index, len(self.queues)):
            self.queues[i].index = i
        if self.robin_index >= queue.index:
            self.robin_index -= 1

    # --- internals: dispatching ---

    def _fits(self, seats: int) -> bool:
        if self.is_exempt:
            return True
        if seats > self.limit:
            # Too wide for the level: runs alone once nothing else executes.
            return self.executing == 0
        return self.seats_in_use + seats <= self.limit

    def _dispatch(self) -> None:
        """Start waiting requests while seats allow (spec §7, dispatch loop)."""
        # ``executing == 0`` keeps a limit of 0 (or one full of lingering seats)
        # admitting one request at a time, as the accommodation rule allows.
        while self.waiting and (self.seats_in_use < self.limit or self.executing == 0):
            queue = self._next_queue()
            if queue is None:
                return
            head = queue.waiting[0]
            if head.deadline <= self.last_sync:
                self._dequeue_waiting(head)
                self._reject(head, TIME_OUT)
                continue
            if not self._fits(head.width.max_seats):
                self.observer.on_no_accommodation(head)
                return
            self.robin_index = queue.index
            self._dequeue_waiting(head, rekey=False)
            if queue.waiting and queue.next_dispatch_r < queue.waiting[0].arrival_r:
                queue.next_dispatch_r = queue.waiting[0].arrival_r  # anti-windup
            if head.width.final_seats > self.limit > 0:
                self._clamp_final_seats(head)
            queue.next_dispatch_r += head.width.total_work
            self._execute(head)
            self._rekey(queue)

    def _next_queue(self) -> _Queue | None:
        """The queue whose head finishes first in virtual time; ties go round-robin.

        Same answer as scanning every queue from ``robin_index + 1`` with a
        strict ``<``: the heap gives the smallest key, and among queues sharing
        it the one with the smallest offset from the robin index wins.
        """
        heap = self.candidates
        while heap and not _is_current(heap[0]):
            heapq.heappop(heap)
        if not heap:
            return None
        key = heap[0][0]
        # Another entry with the same key would be a child of the root (heap order).
        size = len(heap)
        if (size < 2 or heap[1][0] != key) and (size < 3 or heap[2][0] != key):
            return heap[0][3]
        # Entries sharing the smallest key form a subtree at the top of the heap (a
        # parent is never larger than its children): walk it, leaving the heap as is.
        count, start = len(self.queues), self.robin_index + 1
        best, best_offset = heap[0][3], count
        pending = [0]
        while pending:
            position = pending.pop()
            entry = heap[position]
            if entry[0] != key:
                continue
            if _is_current(entry):
                offset = (entry[3].index - start) % count
                if offset < best_offset:
                    best, best_offset = entry[3], offset
            pending.extend(c for c in (2 * position + 1, 2 * position + 2) if c < size)
        return best

    def _clamp_final_seats(self, req: QueuedRequest) -> None:
        """Cap a dequeued request's final seats at the limit, keeping its final work."""
        old = req.width
        final_work = old.final_seats * old.additional_latency_seconds
        req.width = replace(
            old, final_seats=self.limit, additional_latency_seconds=final_work / self.limit
        )

    def _execute(self, req: QueuedRequest) -> None:
        now = self.last_sync
        req.state = RequestState.EXECUTING
        req.start = now
        req.started = True
        seats = req.width.max_seats
        self.executing += 1
        self.seats_in_use += seats
        self.demand.set(now, self.seats_in_use + self.seats_waiting)
        queue = req.queue
        if queue is None:
            self.queueless.add(req)
        else:
            if not queue.waiting and not queue.executing:
                self.active_queues += 1
            queue.executing.add(req)
            queue.seats_in_use += seats
            self.seats_requested += seats
        self.dispatched_total += 1
        self.observer.on_dispatched(req, now - req.arrival)
        if req._waiter is not None:
            req._wake()

    def _reject(self, req: QueuedRequest, reason: str) -> None:
        queue = req.queue
        req.state = RequestState.REJECTED
        req.reject_reason = reason
        req.queue = None
        if reason == TIME_OUT:
            self.cancelled_total += 1
        else:
            self.rejected_total += 1
        wait = self.last_sync - req.arrival if queue is not None else 0.0
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "request rejected",
                extra={
                    "priority_level": self.name,
                    "flow_schema": req.flow_schema,
                    "reason": reason,
                    "wait_seconds": wait,
                },
            )
        self.observer.on_rejected(req, reason, wait)
        req._wake()
        if queue is not None:
            self._drop_if_surplus(queue)

    # --- internals: deadlines ---

    def _arm_deadline_timer(self) -> None:
        while self.deadlines and self.deadlines[0][2].state is not RequestState.WAITING:
            heapq.heappop(self.deadlines)
        if not self.deadlines:
            return
        earliest = self.deadlines[0][0]
        if earliest >= self.deadline_timer_at:
            return
        if self.deadline_timer is not None:
            self.deadline_timer.cancel()
        self.deadline_timer_at = earliest
        self.deadline_timer = self.clock.call_later(
            earliest - self.clock.now(), self._on_deadline_timer
        )

    def _on_deadline_timer(self) -> None:
        self.deadline_timer, self.deadline_timer_at = None, math.inf
        now = self._sync_time()
        while self.deadlines and self.deadlines[0][0] <= now:
            _, _, req = heapq.heappop(self.deadlines)
            if req.state is RequestState.WAITING:
                self._dequeue_waiting(req)
                self._reject(req, TIME_OUT)
        self._arm_deadline_timer()
        self._dispatch()

    # --- internals: demand ---

    def take_seat_demand(self) -> SeatDemand:
        """Read and restart the period's seat demand (seats in use plus waiting)."""
        return self.demand.take(self._sync_time())

    # --- observation ---

    def statistics(self) -> QueueSetStats:
        """A snapshot of totals, queues and requests (waiting first, then executing)."""
        self._sync_time()
        return QueueSetStats(
            waiting=self.waiting,
            executing=self.executing,
            seats_in_use=self.seats_in_use,
            seats_waiting=self.seats_waiting,
            concurrency_limit=self.limit,
            current_r=self.current_r,
            dispatched=self.dispatched_total,
            rejected=self.rejected_total,
            timed_out=0,
            cancelled=self.cancelled_total,
            queues=tuple(
                QueueStats(
                    waiting=len(q.waiting),
                    executing=len(q.executing),
                    seats_in_use=q.seats_in_use,
                    next_dispatch_r=_fixed(q.next_dispatch_r),
                    initial_seats_sum=q.initial_seats_sum,
                    max_seats_sum=q.max_seats_sum,
                    total_work_sum=_fixed(q.total_work_sum),
                )
                for q in self.queues
            ),
            requests=tuple(self._request_rows()),
        )

    def _request_rows(self) -> Iterator[RequestStats]:
        for queue in self.queues:
            for position, req in enumerate(queue.waiting):
                yield _row(req, queue.index, position)
        for queue in self.queues:
            for req in queue.executing:
                yield _row(req, queue.index, -1)
        for req in self.queueless:
            yield _row(req, -1, -1)


def _is_current(entry: tuple[float, int, int, _Queue]) -> bool:
    queue = entry[3]
    return entry[2] == queue.version and bool(queue.waiting)


def _row(req: QueuedRequest, queue_index: int, position: int) -> RequestStats:
    return RequestStats(
        flow_schema=req.flow_schema,
        distinguisher=req.distinguisher,
        queue_index=queue_index,
        index_in_queue=position,
        arrival_wall=req.arrival_wall,
        start_wall=req.start_wall,
        width=req.width,
        descr=req.descr,
    )
