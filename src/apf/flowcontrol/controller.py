"""The APF engine: consumes the flowcontrol configuration and admits requests (spec §5-§9, §12).

Design: the controller keeps a copy of every FlowSchema and priority level
object, refreshed by one watch per kind through the ``Store``. Any change
schedules one digestion of the whole configuration, which builds new state
off to the side (good levels, the classifier, limits) and swaps it in at
once, in one synchronous step of the event loop, so a request is always
classified against one consistent configuration:

1. Levels whose union is inconsistent or whose queuing parameters the dealer
   rejects are skipped as broken; missing ``exempt``/``catch-all`` levels
   are imagined from the built-in ones (no UID).
2. FlowSchemas whose level is missing or broken dangle and do not match;
   the rest are sorted, with the built-in ``exempt`` schema put first and the
   built-in ``catch-all`` last when no real one is usable.
3. A level that disappeared while busy keeps its queue set, quiescing until
   idle; its requests are served, never dropped, and it keeps its share.
4. Static limits are recomputed, then one readjustment runs (and again every
   10 s from the clock).

Each admitted request keeps a reference to the queue set it went through,
so finishing it never depends on the configuration of the moment.
``Dangling`` conditions are written afterwards, by a background task, only
when they changed, at most six times a minute per schema.

Left out: the 8 h exponential backoff of Kubernetes after digestion errors
(digestion here cannot fail short of a bug); server-side apply for the
condition writes (a status PUT with a resourceVersion precondition instead).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import random
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from apf.api import bootstrap
from apf.api.errors import StatusError
from apf.api.kinds import FLOW_SCHEMA, GROUP, PRIORITY_LEVEL, Kind
from apf.flowcontrol import COMPILED, debug, ensurer
from apf.flowcontrol.admission import AdmitOptions, Pending, RejectReason
from apf.flowcontrol.classifier import (
    Classifier,
    FlowSchemaDigest,
    Route,
    digest_flow_schema,
    flow_distinguisher,
    flow_hash,
)
from apf.flowcontrol.clock import Clock, TimerHandle
from apf.flowcontrol.concurrency import (
    DemandSmoother,
    LevelConfig,
    LevelLimits,
    LevelReadjustInput,
    readjust,
    static_limits,
)
from apf.flowcontrol.digest import RequestDigest, RequestInfo, UserInfo
from apf.flowcontrol.metrics import LevelDemand, LevelLimitSeats, LevelObserver, Metrics
from apf.flowcontrol.queueset import (
    FlowHand,
    QueuedRequest,
    QueueSet,
    QueuingConfig,
    RequestState,
    RequestStats,
)
from apf.flowcontrol.shuffleshard import dealer_error
from apf.flowcontrol.ticket import AdmissionTicket, RetryAfter
from apf.flowcontrol.workestimate import (
    MUTATING_VERBS,
    WatchKey,
    WatchTracker,
    WorkEstimator,
)
from apf.registry.store import Store
from apf.storage.interface import StorageError

Object = dict[str, Any]

logger = logging.getLogger(__name__)

EXEMPT: Final = "exempt"
CATCH_ALL: Final = "catch-all"
READJUST_PERIOD_SECONDS: Final = 10.0
MAX_WAIT_SECONDS: Final = 60.0
FIELD_MANAGER: Final = "api-priority-and-fairness-config-consumer-v1"
DANGLING: Final = "Dangling"
# At most this many condition writes per schema in any rolling window.
STATUS_WRITES_PER_WINDOW: Final = 6
STATUS_WRITE_WINDOW_SECONDS: Final = 60.0
STATUS_RETRY_MIN_SECONDS: Final = 30.0
STATUS_RETRY_MAX_SECONDS: Final = 74.0
WATCH_RETRY_MIN_SECONDS: Final = 0.2
WATCH_RETRY_MAX_SECONDS: Final = 30.0


def wait_limit_seconds(timeout_seconds: float | None, request_timeout_seconds: float) -> float:
    """How long a request may wait in a queue: a quarter of its timeout, at most a minute."""
    timeout = request_timeout_seconds if timeout_seconds is None else timeout_seconds
    return min(max(timeout, 0.0) / 4, MAX_WAIT_SECONDS)


# --- priority level digestion -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LevelSpec:
    """A well-formed priority level, as the engine uses it."""

    name: str
    uid: str
    is_exempt: bool
    nominal_shares: int
    lendable_percent: int
    borrowing_limit_percent: int | None
    queuing: QueuingConfig | None  # None: exempt or Reject

    def level_config(self) -> LevelConfig:
        return LevelConfig(
            name=self.name,
            is_exempt=self.is_exempt,
            nominal_shares=self.nominal_shares,
            lendable_percent=self.lendable_percent,
            borrowing_limit_percent=None if self.is_exempt else self.borrowing_limit_percent,
            hand_size=None if self.queuing is None else self.queuing.hand_size,
        )


class BrokenLevel(ValueError):
    """A priority level object the engine cannot use."""


def digest_priority_level(obj: Mapping[str, Any]) -> LevelSpec:
    """The engine view of a v1 priority level; BrokenLevel says why it is unusable."""
    metadata = obj.get("metadata") or {}
    name = str(metadata.get("name") or "")
    spec = obj.get("spec") or {}
    level_type = spec.get("type")
    if (name == EXEMPT) != (level_type == "Exempt"):
        raise BrokenLevel("type must be Exempt if and only if the name is exempt")
    if level_type == "Exempt":
        if spec.get("limited") is not None:
            raise BrokenLevel("an Exempt level has no limited section")
        exempt = spec.get("exempt") or {}
        return LevelSpec(
            name=name,
            uid=str(metadata.get("uid") or ""),
            is_exempt=True,
            nominal_shares=int(exempt.get("nominalConcurrencyShares") or 0),
            lendable_percent=int(exempt.get("lendablePercent") or 0),
            borrowing_limit_percent=None,
            queuing=None,
        )
    limited = spec.get("limited")
    if level_type != "Limited" or not isinstance(limited, Mapping) or spec.get("exempt"):
        raise BrokenLevel("a Limited level needs its limited section and only that")
    borrowing = limited.get("borrowingLimitPercent")
    return LevelSpec(
        name=name,
        uid=str(metadata.get("uid") or ""),
        is_exempt=False,
        nominal_shares=int(limited.get("nominalConcurrencyShares") or 0),
        lendable_percent=int(limited.get("lendablePercent") or 0),
        borrowing_limit_percent=None if borrowing is None else int(borrowing),
        queuing=_queuing(limited.get("limitResponse") or {}),
    )


def _queuing(response: Mapping[str, Any]) -> QueuingConfig | None:
    queuing = response.get("queuing")
    if response.get("type") == "Reject":
        if queuing:
            raise BrokenLevel("a Reject level has no queuing")
        return None
    if response.get("type") != "Queue" or not isinstance(queuing, Mapping):
        raise BrokenLevel("a Queue level needs queuing parameters")
    config = QueuingConfig(
        queues=int(queuing.get("queues") or 0),
        hand_size=int(queuing.get("handSize") or 0),
        queue_length_limit=int(queuing.get("queueLengthLimit") or 0),
    )
    problem = dealer_error(config.queues, config.hand_size)
    if problem is not None:
        raise BrokenLevel(problem)
    if config.queue_length_limit <= 0:
        raise BrokenLevel("queueLengthLimit must be positive")
    return config


def _builtin(objects: tuple[Object, ...], name: str) -> Object:
    return next(o for o in objects if o["metadata"]["name"] == name)


# --- engine state -----------------------------------------------------------------------


class LevelState:
    """One priority level's live state; survives config changes while its name exists.

    ``current_limit`` is in seats; ``quiescing`` is true while the level is no
    longer configured but still has requests (no new ones are routed to it).
    """

    def __init__(
        self, spec: LevelSpec, queue_set: QueueSet, observer: LevelObserver, *, now: float
    ) -> None:
        self.spec = spec
        self.queue_set = queue_set
        self.observer = observer
        self.quiescing = False
        self.limits: LevelLimits | None = None
        self.max_seats = 0  # the limits' max seats (0 until limits are set)
        self.current_limit = 0
        self.smoother = DemandSmoother()
        self.retry_after = RetryAfter(now)
        self.dispatched = 0


@dataclass(frozen=True, slots=True)
class Digested:
    """One configuration generation, swapped in as a whole."""

    classifier: Classifier
    catch_all: FlowSchemaDigest
    levels: Mapping[str, LevelState]
    nominal_sum: int


@dataclass(slots=True)
class _StatusWrites:
    """Recent condition writes of one schema (clock seconds), oldest first."""

    times: deque[float] = dataclasses.field(default_factory=deque)
    retry: TimerHandle | None = None


class Controller:
    """Admits requests under the priority levels and FlowSchemas stored in ``store``."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        server_concurrency_limit: int,
        request_timeout_seconds: float = 60.0,
        run_ensurer: bool = False,
    ) -> None:
        if server_concurrency_limit <= 0:
            raise ValueError("server concurrency limit must be positive")
        self._store = store
        self._clock = clock
        self._server_limit = server_concurrency_limit
        self._request_timeout_seconds = request_timeout_seconds
        self._default_wait_seconds = wait_limit_seconds(None, request_timeout_seconds)
        self._run_ensurer = run_ensurer
        self.metrics = Metrics()
        self.metrics_registry = self.metrics.registry
        self.watches = WatchTracker()
        self._estimator = WorkEstimator(object_count=self._object_count, watches=self.watches)
        # Latest stored objects by kind and name, as the watches reported them.
        self._objects: dict[Kind, dict[str, Object]] = {FLOW_SCHEMA: {}, PRIORITY_LEVEL: {}}
        # The same dicts by object-count key, for the work estimator (never replaced).
        self._counted = {f"{k.plural}.{GROUP}": self._objects[k] for k in self._objects}
        # Storage revisions: newest event seen per kind, and newest one digested.
        self._seen_revision: dict[Kind, int] = {FLOW_SCHEMA: 0, PRIORITY_LEVEL: 0}
        self._digested_revision: dict[Kind, int] = {FLOW_SCHEMA: 0, PRIORITY_LEVEL: 0}
        self._synced = asyncio.Condition()
        # Every live level, configured or quiescing; the same dict ``_state`` snapshots.
        self._levels: dict[str, LevelState] = {}
        # The configuration requests are admitted against; None before start().
        self._state: Digested | None = None
        # True while a digestion is queued on the loop (coalesces bursts of events).
        self._digest_scheduled = False
        self._notify_task: asyncio.Task[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._readjust_timer: TimerHandle | None = None
        self._pending_status: set[str] = set()
        # Names of the stored levels the last digestion found usable.
        self._usable_levels: set[str] = set()
        self._status_writes: dict[str, _StatusWrites] = {}
        self._status_task: asyncio.Task[None] | None = None
        self._random = random.Random()
        self._running = False

    # --- lifecycle ---

    async def start(self) -> None:
        """Read and digest the configuration, then follow it; returns once digested."""
        self._running = True
        for kind in (PRIORITY_LEVEL, FLOW_SCHEMA):
            await self._relist(kind)
        self._digest()
        loop = asyncio.get_running_loop()
        for kind in (PRIORITY_LEVEL, FLOW_SCHEMA):
            self._tasks.append(loop.create_task(self._follow(kind)))
        if self._run_ensurer:
            self._tasks.append(loop.create_task(ensurer.run(self._store)))
        self._readjust_timer = self._clock.call_later(
            READJUST_PERIOD_SECONDS, self._on_readjust_timer
        )
        logger.info(
            "APF controller started",
            extra={
                "seats": self._server_limit,
                "engine": "compiled" if COMPILED else "interpreted",
            },
        )

    async def stop(self) -> None:
        """Stop following the configuration; admitted requests may still finish."""
        self._running = False
        if self._readjust_timer is not None:
            self._readjust_timer.cancel()
            self._readjust_timer = None
        for writes in self._status_writes.values():
            if writes.retry is not None:
                writes.retry.cancel()
        tasks = [*self._tasks, *([self._status_task] if self._status_task else [])]
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def wait_synced(self, kind: Kind, revision: int) -> None:
        """Wait until a change of ``kind`` at ``revision`` (or later) has been digested."""
        async with self._synced:
            await self._synced.wait_for(lambda: self._digested_revision[kind] >= revision)

    async def wait_status_writes(self) -> None:
        """Wait until the pending ``Dangling`` condition writes are done."""
        while self._status_task is not None and not self._status_task.done():
            await asyncio.shield(self._status_task)

    # --- following the configuration ---

    async def _relist(self, kind: Kind) -> None:
        objects, revision = await self._store.list(kind)
        current = self._objects[kind]
        current.clear()
        current.update((o["metadata"]["name"], o) for o in objects)
        self._seen_revision[kind] = max(self._seen_revision[kind], revision)

    async def _follow(self, kind: Kind) -> None:
        delay = WATCH_RETRY_MIN_SECONDS
        while self._running:
            try:
                async for event in self._store.watch(
                    kind, after_revision=self._seen_revision[kind]
                ):
                    self._apply_event(kind, event.type, event.object, event.revision)
                    delay = WATCH_RETRY_MIN_SECONDS
            except (StatusError, StorageError) as exc:
                logger.warning(
                    "configuration watch failed; relisting",
                    extra={"kind": kind.kind, "error": str(exc)},
                )
            # NOTE: a real-time pause between relists: storage trouble is not engine time.
            await asyncio.sleep(delay)
            delay = min(delay * 2, WATCH_RETRY_MAX_SECONDS)
            try:
                await self._relist(kind)
            except (StatusError, StorageError) as exc:
                logger.warning("configuration relist failed", extra={"error": str(exc)})
                continue
            self._schedule_digest()

    def _apply_event(self, kind: Kind, event_type: str, obj: Object, revision: int) -> None:
        name = obj["metadata"]["name"]
        if event_type == "DELETED":
            self._objects[kind].pop(name, None)
        else:
            self._objects[kind][name] = obj
        self._seen_revision[kind] = max(self._seen_revision[kind], revision)
        self._schedule_digest()

    def _schedule_digest(self) -> None:
        """Coalesce a burst of changes into one digestion on the next loop turn."""
        if self._digest_scheduled:
            return
        self._digest_scheduled = True
        asyncio.get_running_loop().call_soon(self._run_scheduled_digest)

    def _run_scheduled_digest(self) -> None:
        self._digest_scheduled = False
        try:
            self._digest()
        except Exception:
            logger.exception("configuration digestion failed; keeping the previous one")

    def _object_count(self, key: str) -> int | None:
        objects = self._counted.get(key)
        return None if objects is None else len(objects)

    # --- digestion ---

    def _digest(self) -> None:
        """Build the next configuration generation and swap it in."""
        seen = dict(self._seen_revision)

        # 1. Usable levels, then the built-in mandatory ones where missing.
        specs = self._good_levels()
        usable_names = set(specs)
        for builtin in bootstrap.MANDATORY_PRIORITY_LEVELS:
            if builtin["metadata"]["name"] not in specs:
                imagined = digest_priority_level(builtin)
                specs[imagined.name] = dataclasses.replace(imagined, uid="")

        # 2. Schemas: dangling ones out, built-in exempt first and catch-all last if missing.
        schemas, catch_all = self._usable_schemas(usable_names)

        # 3. Levels: reuse live ones, quiesce busy ones that went away.
        self._update_levels(specs)

        # 4. Limits over every live level, then swap and readjust.
        nominal_sum = self._apply_static_limits()
        self._state = Digested(
            classifier=Classifier(schemas, sort=False),
            catch_all=catch_all,
            levels=dict(self._levels),
            nominal_sum=nominal_sum,
        )
        self._readjust()
        self._usable_levels = usable_names
        self._queue_status_writes(usable_names)
        self._digested_revision = seen
        self._notify_task = asyncio.get_running_loop().create_task(self._notify_synced())
        logger.debug(
            "APF configuration digested",
            extra={"flow_schemas": len(schemas), "priority_levels": len(self._levels)},
        )

    async def _notify_synced(self) -> None:
        async with self._synced:
            self._synced.notify_all()

    def _good_levels(self) -> dict[str, LevelSpec]:
        specs: dict[str, LevelSpec] = {}
        for name, obj in sorted(self._objects[PRIORITY_LEVEL].items()):
            try:
                specs[name] = digest_priority_level(obj)
            except (BrokenLevel, TypeError, ValueError) as exc:
                logger.warning(
                    "broken priority level skipped",
                    extra={"priority_level": name, "error": str(exc)},
                )
        return specs

    def _usable_schemas(
        self, usable_levels: set[str]
    ) -> tuple[list[FlowSchemaDigest], FlowSchemaDigest]:
        schemas: list[FlowSchemaDigest] = []
        for obj in self._objects[FLOW_SCHEMA].values():
            fs = digest_flow_schema(obj)
            if fs.priority_level in usable_levels:
                schemas.append(fs)
        schemas.sort(key=lambda fs: fs.sort_key)
        names = {fs.name for fs in schemas}
        if EXEMPT not in names:
            schemas.insert(0, _imagined_schema(EXEMPT))
        catch_all = next((fs for fs in schemas if fs.name == CATCH_ALL), None)
        if catch_all is None:
            catch_all = _imagined_schema(CATCH_ALL)
            schemas.append(catch_all)
        return schemas, catch_all

    def _update_levels(self, specs: Mapping[str, LevelSpec]) -> None:
        now = self._clock.now()
        previous = self._levels
        self._levels = {}
        for name, spec in specs.items():
            state = previous.pop(name, None)
            if state is None or state.spec.is_exempt != spec.is_exempt:
                if state is not None:
                    self._retire(state)
                state = self._new_level(spec, now=now)
                logger.info("priority level added", extra={"priority_level": name})
            else:
                if state.quiescing:
                    logger.info("priority level revived", extra={"priority_level": name})
                state.spec, state.quiescing = spec, False
                state.queue_set.is_quiescing = False
                state.queue_set.reconfigure(
                    queuing=spec.queuing, concurrency_limit=state.current_limit
                )
            self._levels[name] = state
        for name, state in previous.items():
            if state.queue_set.is_idle:
                self.metrics.forget_level(name)
                logger.info("priority level removed", extra={"priority_level": name})
                continue
            if not state.quiescing:
                self._retire(state)
            self._levels[name] = state

    def _retire(self, state: LevelState) -> None:
        state.quiescing = True
        state.queue_set.quiesce()
        logger.info("priority level quiescing", extra={"priority_level": state.spec.name})

    def _new_level(self, spec: LevelSpec, *, now: float) -> LevelState:
        observer = LevelObserver(
            self.metrics,
            spec.name,
            call_later=self._clock.call_later,
            is_exempt=spec.is_exempt,
        )
        queue_set = QueueSet(
            spec.name,
            self._clock,
            queuing=spec.queuing,
            concurrency_limit=0,
            is_exempt=spec.is_exempt,
            observer=observer,
        )
        queue_set.on_idle = self._on_level_idle
        return LevelState(spec, queue_set, observer, now=now)

    def _on_level_idle(self) -> None:
        """A quiescing level went idle: the next digestion lets it go."""
        if self._running:
            self._schedule_digest()

    def _apply_static_limits(self) -> int:
        configs = [state.spec.level_config() for state in self._levels.values()]
        limits = static_limits(self._server_limit, configs)
        for name, state in self._levels.items():
            fresh = state.limits is None
            state.limits = limits[name]
            state.max_seats = state.limits.max_seats
            if fresh:
                # A new level starts from its nominal limit minus half of what it may lend.
                state.current_limit = state.limits.nominal - state.limits.lendable // 2
                state.queue_set.set_concurrency_limit(state.current_limit)
            self.metrics.set_level_limits(
                name,
                LevelLimitSeats(
                    nominal=state.limits.nominal,
                    lower=state.limits.minimum,
                    upper=state.limits.maximum,
                    current=state.current_limit,
                ),
            )
        return sum(limit.nominal for limit in limits.values())

    # --- readjustment ---

    def _on_readjust_timer(self) -> None:
        self._readjust_timer = None
        if not self._running:
            return
        try:
            self._readjust()
            if any(s.quiescing and s.queue_set.is_idle for s in self._levels.values()):
                self._schedule_digest()
        except Exception:
            logger.exception("seat readjustment failed; keeping the current limits")
        self._readjust_timer = self._clock.call_later(
            READJUST_PERIOD_SECONDS, self._on_readjust_timer
        )

    def _readjust(self) -> None:
        """Share the seats again according to each level's recent demand (spec §6)."""
        state = self._state
        if state is None:
            return
        inputs: dict[str, LevelReadjustInput] = {}
        demands = {}
        for name, level in self._levels.items():
            assert level.limits is not None
            demand = level.queue_set.take_seat_demand()
            smoothed = level.smoother.update(demand.average, demand.stdev)
            demands[name] = (demand, smoothed)
            inputs[name] = LevelReadjustInput(
                is_exempt=level.spec.is_exempt,
                limits=level.limits,
                high_watermark=demand.high_watermark,
                smoothed=smoothed,
            )
        current, fair_frac = readjust(inputs, state.nominal_sum)
        self.metrics.fair_frac.set(fair_frac)
        for name, level in self._levels.items():
            assert level.limits is not None
            level.current_limit = current.get(name, level.current_limit)
            level.queue_set.set_concurrency_limit(level.current_limit)
            self.metrics.current_r.labels(name).set(level.queue_set.current_r)
            demand, smoothed = demands[name]
            self.metrics.record_demand(
                name,
                LevelDemand(
                    high_watermark=demand.high_watermark,
                    average=demand.average,
                    stdev=demand.stdev,
                    smoothed=smoothed,
                    target=_target_seats(level, demand.high_watermark, smoothed),
                    current=level.current_limit,
                    nominal=level.limits.nominal,
                ),
            )

    # --- admission ---

    async def admit(self, digest: RequestDigest, options: AdmitOptions) -> AdmissionTicket:
        """Classify, estimate width, then dispatch, queue or reject (see ``Admitter``)."""
        result = self.admit_nowait(digest, options)
        if isinstance(result, PendingAdmission):
            return await result.wait()
        return result

    def admit_nowait(
        self, digest: RequestDigest, options: AdmitOptions
    ) -> AdmissionTicket | PendingAdmission:
        """``admit`` without suspending: a ticket, or the queued request to wait for."""
        return self.admit_request(
            digest.request_info, digest.user, options.received_at, options.timeout_seconds
        )

    def admit_request(
        self,
        info: RequestInfo,
        user: UserInfo,
        received_at: float,
        timeout_seconds: float | None,
    ) -> AdmissionTicket | PendingAdmission:
        """``admit_nowait`` from the request's parts (see ``Admitter``)."""
        state = self._state
        if state is None:
            raise RuntimeError("the APF controller has not been started")

        # 1. Classify. The route doubles as the request's digest, and remembers where its
        # requests go under this configuration generation.
        route = state.classifier.route(info, user)
        target = route.target
        if not isinstance(target, _Target) or target.spec is not target.level.spec:
            target = _target(state, route)
        fs, level, spec = target.flow_schema, target.level, target.spec

        # 2. Width and deadline.
        width = self._estimator.estimate(info, level_max_seats=level.max_seats)
        watch_count = None
        if info.verb in MUTATING_VERBS:
            watch_count = self._estimator.watch_count(info)
        level.observer.on_estimated(fs.name, width.max_seats, watch_count)
        wait = (
            self._default_wait_seconds
            if timeout_seconds is None
            else wait_limit_seconds(timeout_seconds, self._request_timeout_seconds)
        )

        # 3. Start; a queued request is handed back to be waited for.
        ticket = AdmissionTicket(
            level.queue_set,
            width,
            received_at + wait,
            target.distinguisher,
            route,
            flow_schema_uid=fs.uid,
            flow_schema_name=fs.name,
            priority_level_uid=spec.uid,
            priority_level_name=spec.name,
        )
        level.queue_set.start(ticket, hash_value=target.hash_value, hand=target)
        if ticket.state is RequestState.WAITING:
            return PendingAdmission(ticket, functools.partial(self._outcome, fs, level, ticket))
        return self._outcome(fs, level, ticket)

    def _outcome(
        self, fs: FlowSchemaDigest, level: LevelState, ticket: AdmissionTicket
    ) -> AdmissionTicket:
        """The ticket once its request was dispatched or rejected."""
        if ticket.state is RequestState.REJECTED:
            self._reject(fs, level, ticket)
            return ticket
        digest = ticket.descr
        if isinstance(digest, RequestDigest) and digest.request_info.verb == "watch":
            watch = self.watches.register(digest.request_info)
            ticket.on_finish = functools.partial(self.watches.unregister, watch)
        return ticket

    def _reject(self, fs: FlowSchemaDigest, level: LevelState, ticket: AdmissionTicket) -> None:
        reason = RejectReason(ticket.reject_reason or RejectReason.TIME_OUT)
        retry_after = level.retry_after.record_drop(self._clock.now())
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "request rejected",
                extra={
                    "flow_schema": fs.name,
                    "priority_level": level.spec.name,
                    "reason": reason,
                },
            )
        ticket.reject(reason, retry_after)

    def register_watch(self, info: RequestInfo) -> WatchKey | None:
        """Count a watch that this server runs outside ``admit`` (e.g. APF bypass)."""
        return self.watches.register(info)

    def unregister_watch(self, key: WatchKey | None) -> None:
        """Forget a watch counted by :meth:`register_watch`."""
        self.watches.unregister(key)

    # --- Dangling conditions ---

    def _queue_status_writes(self, usable_levels: set[str]) -> None:
        for name, obj in self._objects[FLOW_SCHEMA].items():
            if _dangling_condition_differs(obj, usable_levels):
                self._pending_status.add(name)
        if self._pending_status and self._running and self._status_task_idle():
            self._status_task = asyncio.get_running_loop().create_task(self._write_statuses())

    def _status_task_idle(self) -> bool:
        return self._status_task is None or self._status_task.done()

    async def _write_statuses(self) -> None:
        while self._pending_status:
            name = self._pending_status.pop()
            obj = self._objects[FLOW_SCHEMA].get(name)
            usable = self._usable_levels
            if obj is None or not _dangling_condition_differs(obj, usable):
                continue
            if not self._may_write_status(name):
                continue
            await self._write_status(obj, usable)

    def _may_write_status(self, name: str) -> bool:
        """Apply the write budget; when spent, retry after a random 30-74 s."""
        now = self._clock.now()
        writes = self._status_writes.setdefault(name, _StatusWrites())
        while writes.times and writes.times[0] <= now - STATUS_WRITE_WINDOW_SECONDS:
            writes.times.popleft()
        if len(writes.times) < STATUS_WRITES_PER_WINDOW:
            writes.times.append(now)
            return True
        if writes.retry is None:
            delay = self._random.uniform(STATUS_RETRY_MIN_SECONDS, STATUS_RETRY_MAX_SECONDS)
            writes.retry = self._clock.call_later(delay, lambda: self._retry_status(name))
            logger.warning("condition writes throttled", extra={"flow_schema": name})
        return False

    def _retry_status(self, name: str) -> None:
        self._status_writes[name].retry = None
        if self._running:
            self._schedule_digest()

    async def _write_status(self, obj: Object, usable_levels: set[str]) -> None:
        name = obj["metadata"]["name"]
        condition = dangling_condition(obj, usable_levels, now=self._clock.wall())
        update = {
            "apiVersion": obj.get("apiVersion"),
            "kind": FLOW_SCHEMA.kind,
            "metadata": {
                "name": name,
                "resourceVersion": obj["metadata"].get("resourceVersion", ""),
            },
            "status": {"conditions": _with_condition(obj, condition)},
        }
        try:
            await self._store.update(FLOW_SCHEMA, update, status=True)
        except StatusError as exc:
            if exc.code not in (404, 409):
                logger.warning(
                    "condition write failed",
                    extra={"flow_schema": name, "code": exc.code, "error": exc.message},
                )
            return
        logger.debug(
            "dangling condition written",
            extra={"flow_schema": name, "status": condition["status"]},
        )

    # --- dumps ---

    def dump_priority_levels(self) -> str:
        """The ``dump_priority_levels`` text."""
        rows: list[debug.LevelRow] = []
        for name, level in self._levels.items():
            stats = level.queue_set.statistics()
            rows.append(
                debug.LevelRow(
                    name=name,
                    active_queues=sum(1 for q in stats.queues if q.waiting),
                    is_idle=level.queue_set.is_idle,
                    is_quiescing=level.quiescing,
                    waiting=stats.waiting,
                    executing=stats.executing,
                    dispatched=stats.dispatched,
                    rejected=stats.rejected,
                    timed_out=stats.timed_out,
                    cancelled=stats.cancelled,
                )
            )
        return debug.dump_priority_levels(rows)

    def dump_queues(self) -> str:
        """The ``dump_queues`` text."""
        rows: list[debug.QueueRow] = []
        for name, level in self._levels.items():
            stats = level.queue_set.statistics()
            rows.extend(
                debug.QueueRow(
                    priority_level=name,
                    index=index,
                    pending=q.waiting,
                    executing=q.executing,
                    seats_in_use=q.seats_in_use,
                    next_dispatch_r=q.next_dispatch_r,
                    initial_seats_sum=q.initial_seats_sum,
                    max_seats_sum=q.max_seats_sum,
                    total_work_sum=q.total_work_sum,
                )
                for index, q in enumerate(stats.queues)
            )
        return debug.dump_queues(rows)

    def dump_requests(self, include_details: bool) -> str:
        """The ``dump_requests`` text (user and request columns when ``include_details``)."""
        rows: list[debug.RequestRow] = []
        for name, level in self._levels.items():
            stats = level.queue_set.statistics()
            rows.extend(
                _request_row(name, r, include_details=include_details) for r in stats.requests
            )
        return debug.dump_requests(rows, include_details=include_details)


def _target_seats(level: LevelState, high_watermark: int, smoothed: float) -> float:
    """The allocation target of a level as spec §6 step 3 defines it (its limit if exempt)."""
    assert level.limits is not None
    if level.spec.is_exempt:
        return float(level.current_limit)
    floor = max(level.limits.minimum, min(level.limits.nominal, high_watermark))
    return max(float(floor), smoothed)


class _Target(FlowHand):
    """Where a route's requests go: schema, level, flow and the flow's queues.

    See ``Route.target``; as a ``FlowHand`` it keeps the flow's queues too. The
    flow depends on the level's spec (its queue count), so a target is only
    used while the level still has the spec it was worked out for: a digestion
    that failed after reconfiguring the levels kept the old generation.
    """

    def __init__(
        self, fs: FlowSchemaDigest, level: LevelState, distinguisher: str, hash_value: int
    ) -> None:
        super().__init__()
        self.flow_schema: Final = fs
        self.level: Final = level
        self.spec: Final = level.spec
        self.distinguisher: Final = distinguisher
        self.hash_value: Final = hash_value


def _target(state: Digested, route: Route) -> _Target:
    """Where ``route`` leads under ``state``; the catch-all schema takes what nothing claims.

    Remembered on the route, which lives as long as the classifier of ``state``.
    """
    fs = route.flow_schema
    if fs is None:
        logger.warning("request matched no flow schema", extra={"user": route.user.name})
        fs = state.catch_all
    level = state.levels[fs.priority_level]
    queuing = level.spec.queuing
    distinguisher, hash_value = "", 0
    if queuing is not None and queuing.queues > 1:
        if route.flow_schema is fs:
            distinguisher, hash_value = route.distinguisher, route.hash_value
        else:
            distinguisher = flow_distinguisher(fs, route)
            hash_value = flow_hash(fs.name, distinguisher)
    target = _Target(fs, level, distinguisher, hash_value)
    if route.flow_schema is not None:
        # An unmatched route is worked out (and warned about) every time.
        route.target = target
    return target


class PendingAdmission(Pending):
    """A queued request: ``wait`` resolves to its ticket once dispatched or rejected."""

    __slots__ = ("_outcome", "request")

    def __init__(self, request: QueuedRequest, outcome: Callable[[], AdmissionTicket]) -> None:
        self.request = request
        self._outcome = outcome

    async def wait(self) -> AdmissionTicket:
        """Wait in the queue; cancelling removes the request (counted as a time-out)."""
        await self.request.wait()
        return self._outcome()


def _request_row(
    priority_level: str, r: RequestStats, *, include_details: bool
) -> debug.RequestRow:
    details = None
    if include_details and isinstance(r.descr, RequestDigest):
        info = r.descr.request_info
        details = debug.RequestDetails(
            user_name=r.descr.user.name,
            verb=info.verb,
            path=info.path,
            namespace=info.namespace,
            name=info.name,
            api_group=info.api_group,
            api_version=info.api_version,
            resource=info.resource,
            subresource=info.subresource,
        )
    return debug.RequestRow(
        priority_level=priority_level,
        flow_schema=r.flow_schema,
        queue_index=r.queue_index,
        index_in_queue=r.index_in_queue,
        distinguisher=r.distinguisher,
        arrive_time=r.arrival_wall,
        initial_seats=r.width.initial_seats,
        final_seats=r.width.final_seats,
        additional_latency_seconds=r.width.additional_latency_seconds,
        start_time=r.start_wall,
        details=details,
    )


def _imagined_schema(name: str) -> FlowSchemaDigest:
    fs = digest_flow_schema(_builtin(bootstrap.MANDATORY_FLOW_SCHEMAS, name))
    return dataclasses.replace(fs, uid="")


# --- Dangling condition -----------------------------------------------------------------


def desired_dangling(priority_level: str, *, exists: bool) -> tuple[str, str, str]:
    """Status, reason and message of the ``Dangling`` condition (spec §12)."""
    if exists:
        return (
            "False",
            "Found",
            f'This FlowSchema references the PriorityLevelConfiguration object named "'
            f'{priority_level}" and it exists',
        )
    return (
        "True",
        "NotFound",
        f'This FlowSchema references the PriorityLevelConfiguration object named "'
        f'{priority_level}" but there is no such object',
    )


def _current_condition(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for condition in (obj.get("status") or {}).get("conditions") or ():
        if condition.get("type") == DANGLING:
            return condition  # type: ignore[no-any-return]
    return None


def _dangling_condition_differs(obj: Mapping[str, Any], usable_levels: set[str]) -> bool:
    level = str(((obj.get("spec") or {}).get("priorityLevelConfiguration") or {}).get("name"))
    wanted = desired_dangling(level, exists=level in usable_levels)
    current = _current_condition(obj)
    if current is None:
        return True
    return (current.get("status"), current.get("reason"), current.get("message")) != wanted


def dangling_condition(obj: Mapping[str, Any], usable_levels: set[str], *, now: Any) -> Object:
    """The ``Dangling`` condition ``obj`` should carry, stamped ``now``."""
    level = str(((obj.get("spec") or {}).get("priorityLevelConfiguration") or {}).get("name"))
    status, reason, message = desired_dangling(level, exists=level in usable_levels)
    return {
        "type": DANGLING,
        "status": status,
        "lastTransitionTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "reason": reason,
        "message": message,
    }


def _with_condition(obj: Mapping[str, Any], condition: Object) -> list[Object]:
    others = [
        dict(c)
        for c in (obj.get("status") or {}).get("conditions") or ()
        if c.get("type") != DANGLING
    ]
    return [*others, condition]
