"""How many seats a request occupies, and for how long after its handler returns (spec §8).

Design: Kubernetes 1.29 estimators with a single cap of 10 seats. Lists are
charged by the number of objects they are expected to touch (100 objects per
seat), counted by the caller (the controller knows how many objects each
served resource holds). Watches cost one seat unless they replay the current
state (``sendInitialEvents=true``, or a legacy watch from resourceVersion
``""``/``"0"`` — the 1.35 fix), in which case they are charged like a list
from the watch cache. Mutations are charged one seat plus, when at least ten
watches will receive the change, a final phase of ``ceil(watches/10)`` seats
lasting 5 ms of work spread over those seats. The watch counts come from
:class:`WatchTracker`, fed as watches start and end.

Left out: the size-based list estimate and the per-resource staleness of
object counts (our counts are maintained live, never stale).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from apf.flowcontrol.digest import RequestInfo
from apf.flowcontrol.queueset import WorkEstimate

MINIMUM_SEATS: Final = 1
MAXIMUM_SEATS_LIMIT: Final = 10
OBJECTS_PER_SEAT: Final = 100
WATCHES_PER_SEAT: Final = 10
# Work each watch event adds per final seat, in seconds.
EVENT_ADDITIONAL_DURATION_SECONDS: Final = 0.005

MUTATING_VERBS: Final = frozenset({"create", "update", "patch", "delete"})

# Counts objects of a resource keyed ``resource`` (core) or ``resource.group``;
# None when the resource is unknown (e.g. served by another server).
ObjectCounter = Callable[[str], int | None]


# Estimates with only initial seats are immutable and few: built once, shared.
_SEATS: Final = tuple(WorkEstimate(initial_seats=n) for n in range(MAXIMUM_SEATS_LIMIT + 1))


def seats_estimate(seats: int) -> WorkEstimate:
    """The estimate of ``seats`` initial seats and no final phase."""
    return _SEATS[seats] if 0 <= seats <= MAXIMUM_SEATS_LIMIT else WorkEstimate(seats)


def resource_key(info: RequestInfo) -> str:
    """The object-count key of the request's resource."""
    return f"{info.resource}.{info.api_group}" if info.api_group else info.resource


def effective_max_seats(level_max_seats: int) -> int:
    """The level's max seats, unless unset or above the global cap."""
    if level_max_seats <= 0 or level_max_seats > MAXIMUM_SEATS_LIMIT:
        return MAXIMUM_SEATS_LIMIT
    return level_max_seats


# --- watch tracking ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WatchKey:
    """What a watch observes: a resource, optionally narrowed to a namespace and a name."""

    api_group: str
    resource: str
    namespace: str
    name: str


def watch_key(info: RequestInfo) -> WatchKey | None:
    """The key a watch is counted under, or None when it is not counted.

    A pods watch pinned to one node by a ``spec.nodeName`` field selector sees
    only that node's pods, so it does not count towards every pod write.
    """
    if info.resource == "pods" and _selects_node(info.query.get("fieldSelector", "")):
        return None
    return WatchKey(info.api_group, info.resource, info.namespace, info.name)


def _selects_node(field_selector: str) -> bool:
    for requirement in field_selector.split(","):
        field, op, value = requirement.partition("=")
        if op and field.strip() == "spec.nodeName" and value.strip().lstrip("=") != "":
            return True
    return False


class WatchTracker:
    """Counts running watches per (group, resource, namespace, name)."""

    def __init__(self) -> None:
        self._counts: Counter[WatchKey] = Counter()

    def register(self, info: RequestInfo) -> WatchKey | None:
        """Count a starting watch; returns the key to hand back to :meth:`unregister`."""
        key = watch_key(info)
        if key is not None:
            self._counts[key] += 1
        return key

    def unregister(self, key: WatchKey | None) -> None:
        """Forget one watch registered under ``key``."""
        if key is None:
            return
        self._counts[key] -= 1
        if self._counts[key] <= 0:
            del self._counts[key]

    def interested(self, info: RequestInfo) -> int:
        """Watches that will see a change to the object ``info`` writes."""
        group, resource = info.api_group, info.resource
        total = self._counts.get(WatchKey(group, resource, "", ""), 0)
        if info.namespace:
            total += self._counts.get(WatchKey(group, resource, info.namespace, ""), 0)
        if info.name:
            total += self._counts.get(WatchKey(group, resource, info.namespace, info.name), 0)
        return total

    @property
    def total(self) -> int:
        """All tracked watches."""
        return sum(self._counts.values())


# --- estimators -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ListOptions:
    limit: int
    resource_version: str
    resource_version_match: str
    continue_token: str
    has_selector: bool
    send_initial_events: bool


# What a list without query parameters asks for.
_NO_LIST_OPTIONS: Final = ListOptions(
    limit=0,
    resource_version="",
    resource_version_match="",
    continue_token="",
    has_selector=False,
    send_initial_events=False,
)


def parse_list_options(info: RequestInfo) -> ListOptions | None:
    """The list options the estimate depends on, or None when they do not parse."""
    query = info.query
    if not query:
        return _NO_LIST_OPTIONS
    try:
        limit = int(query.get("limit") or 0)
    except ValueError:
        return None
    send_initial = query.get("sendInitialEvents", "").lower()
    if send_initial not in ("", "true", "false"):
        return None
    return ListOptions(
        limit=limit,
        resource_version=query.get("resourceVersion", ""),
        resource_version_match=query.get("resourceVersionMatch", ""),
        continue_token=query.get("continue", ""),
        has_selector=bool(query.get("labelSelector") or query.get("fieldSelector")),
        send_initial_events=send_initial == "true",
    )


def lists_from_storage(options: ListOptions) -> bool:
    """Whether a list is served by storage rather than the watch cache (1.29 rules)."""
    match = options.resource_version_match
    if match == "Exact":
        return True
    if match == "NotOlderThan":
        return False
    if match:
        return True
    if options.continue_token:
        return True
    if options.limit > 0 and options.resource_version != "0":
        return True
    # Consistent reads (no resourceVersion) go to storage: 1.29 has no consistent
    # list from the cache.
    return options.resource_version == ""


class WorkEstimator:
    """Estimates seats for classified requests from object and watch counts."""

    def __init__(self, *, object_count: ObjectCounter, watches: WatchTracker) -> None:
        self._object_count = object_count
        self._watches = watches

    def estimate(self, info: RequestInfo, *, level_max_seats: int) -> WorkEstimate:
        """Dispatch on the verb to the list, watch or mutating estimator."""
        verb = info.verb
        if verb == "get":
            return _SEATS[MINIMUM_SEATS]  # the commonest request, answered first
        max_seats = effective_max_seats(level_max_seats)
        if verb == "list":
            return self.estimate_list(info, max_seats=max_seats)
        if verb == "watch":
            return self.estimate_watch(info, max_seats=max_seats)
        if verb in MUTATING_VERBS:
            return self.estimate_mutating(info, max_seats=max_seats)
        return _SEATS[MINIMUM_SEATS]

    def estimate_watch(self, info: RequestInfo, *, max_seats: int) -> WorkEstimate:
        """One seat, unless the watch first replays the current state (then as a list)."""
        options = parse_list_options(info)
        if options is None:
            return seats_estimate(max_seats)
        replays = options.send_initial_events or options.resource_version in ("", "0")
        if not replays:
            return _SEATS[MINIMUM_SEATS]
        return self._list_seats(info, options, from_cache=True, max_seats=max_seats)

    def estimate_list(self, info: RequestInfo, *, max_seats: int) -> WorkEstimate:
        """Seats for a list: objects expected to be processed, 100 per seat."""
        options = parse_list_options(info)
        if options is None:
            return seats_estimate(max_seats)
        if info.name:
            # 1.29: a list narrowed to one name touches one object.
            return _SEATS[MINIMUM_SEATS]
        # A list without options is a consistent read from storage (see lists_from_storage).
        from_cache = options is not _NO_LIST_OPTIONS and not lists_from_storage(options)
        return self._list_seats(info, options, from_cache=from_cache, max_seats=max_seats)

    def _list_seats(
        self, info: RequestInfo, options: ListOptions, *, from_cache: bool, max_seats: int
    ) -> WorkEstimate:
        count = self._object_count(resource_key(info))
        if count is None:
            return _SEATS[MINIMUM_SEATS]
        limit = options.limit if 0 < options.limit < count else count
        if from_cache:
            objects = count
        elif options.has_selector:
            objects = count + limit
        else:
            objects = 2 * limit
        seats = math.ceil(objects / OBJECTS_PER_SEAT)
        return seats_estimate(max(MINIMUM_SEATS, min(seats, max_seats)))

    def estimate_mutating(self, info: RequestInfo, *, max_seats: int) -> WorkEstimate:
        """One seat, plus a final phase when ten or more watches receive the change."""
        if info.resource == "serviceaccounts" and info.subresource == "token":
            return _SEATS[MINIMUM_SEATS]
        watch_count = self._watches.interested(info)
        return mutating_estimate(watch_count, max_seats=max_seats)

    def watch_count(self, info: RequestInfo) -> int | None:
        """The watch count the mutating estimator used, for ``watch_count_samples``."""
        if info.verb not in MUTATING_VERBS:
            return None
        if info.resource == "serviceaccounts" and info.subresource == "token":
            return None
        return self._watches.interested(info)


def mutating_estimate(watch_count: int, *, max_seats: int) -> WorkEstimate:
    """The mutating estimate for ``watch_count`` interested watches."""
    if watch_count < WATCHES_PER_SEAT:
        return _SEATS[MINIMUM_SEATS]
    final_seats = math.ceil(watch_count / WATCHES_PER_SEAT)
    final_work_seat_seconds = final_seats * EVENT_ADDITIONAL_DURATION_SECONDS
    final_seats = min(final_seats, max_seats)
    return WorkEstimate(
        initial_seats=MINIMUM_SEATS,
        final_seats=final_seats,
        additional_latency_seconds=final_work_seat_seconds / final_seats,
    )
