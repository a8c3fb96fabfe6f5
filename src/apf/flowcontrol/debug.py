"""Text dumps of the engine state for ``/debug/api_priority_and_fairness/*`` (spec §11).

Design: the controller turns queue-set snapshots into the plain rows below;
this module only formats them as Kubernetes does: cells joined by ``",\\t"``,
one line per row, aligned like Go's ``tabwriter`` with minimum width 8,
padding 1 and spaces. Times are RFC 3339 with trimmed nanoseconds, latencies
in Go duration syntax, virtual times and work as seat-seconds with 8 decimals.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

CELL_SEPARATOR = ",\t"
MIN_WIDTH = 8
PADDING = 1
# Seat-seconds are fixed point with this many units per seat-second.
SEAT_SECONDS_SCALE = 100_000_000
ZERO_TIME = "0001-01-01T00:00:00Z"

LEVEL_HEADERS = (
    "PriorityLevelName",
    "ActiveQueues",
    "IsIdle",
    "IsQuiescing",
    "WaitingRequests",
    "ExecutingRequests",
    "DispatchedRequests",
    "RejectedRequests",
    "TimedoutRequests",
    "CancelledRequests",
)
QUEUE_HEADERS = (
    "PriorityLevelName",
    "Index",
    "PendingRequests",
    "ExecutingRequests",
    "SeatsInUse",
    "NextDispatchR",
    "InitialSeatsSum",
    "MaxSeatsSum",
    "TotalWorkSum",
)
REQUEST_HEADERS = (
    "PriorityLevelName",
    "FlowSchemaName",
    "QueueIndex",
    "RequestIndexInQueue",
    "FlowDistingsher",  # sic: the wire header is misspelt
    "ArriveTime",
    "InitialSeats",
    "FinalSeats",
    "AdditionalLatency",
    "StartTime",
)
REQUEST_DETAIL_HEADERS = (
    "UserName",
    "Verb",
    "APIPath",
    "Namespace",
    "Name",
    "APIVersion",
    "Resource",
    "SubResource",
)


@dataclass(frozen=True, slots=True)
class LevelRow:
    name: str
    active_queues: int
    is_idle: bool
    is_quiescing: bool
    waiting: int
    executing: int
    dispatched: int
    rejected: int
    timed_out: int
    cancelled: int


@dataclass(frozen=True, slots=True)
class QueueRow:
    priority_level: str
    index: int
    pending: int
    executing: int
    seats_in_use: int
    next_dispatch_r: int  # fixed-point seat-seconds
    initial_seats_sum: int
    max_seats_sum: int
    total_work_sum: int  # fixed-point seat-seconds


@dataclass(frozen=True, slots=True)
class RequestDetails:
    user_name: str
    verb: str
    path: str
    namespace: str
    name: str
    api_group: str
    api_version: str
    resource: str
    subresource: str


@dataclass(frozen=True, slots=True)
class RequestRow:
    priority_level: str
    flow_schema: str
    queue_index: int
    index_in_queue: int
    distinguisher: str
    arrive_time: datetime | None
    initial_seats: int
    final_seats: int
    additional_latency_seconds: float
    start_time: datetime | None
    details: RequestDetails | None = None


def go_bool(value: bool) -> str:
    return "true" if value else "false"


def seat_seconds(value: int) -> str:
    """Fixed-point seat-seconds as ``<int>.<8 digits>ss``."""
    whole, fraction = divmod(value, SEAT_SECONDS_SCALE)
    return f"{whole}.{fraction:08d}ss"


def seat_seconds_from_float(value: float) -> int:
    """Seat-seconds as the fixed-point integer the dumps print."""
    return round(value * SEAT_SECONDS_SCALE)


def rfc3339_nano(moment: datetime | None) -> str:
    """UTC time with nanoseconds, trailing zeros trimmed; the zero time when unset."""
    if moment is None:
        return ZERO_TIME
    utc = moment.astimezone(UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond:
        text += "." + f"{utc.microsecond:06d}".rstrip("0")
    return text + "Z"


def go_duration(seconds: float) -> str:
    """A duration as Go's ``time.Duration.String`` writes it (``0s``, ``5ms``, ``1m30s``)."""
    nanos = round(seconds * 1_000_000_000)
    if nanos == 0:
        return "0s"
    sign = "-" if nanos < 0 else ""
    nanos = abs(nanos)
    if nanos < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if nanos >= size:
                return sign + _decimal(nanos, size) + unit
    hours, rest = divmod(nanos, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    text = _decimal(rest, 1_000_000_000) + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{text}"
    if minutes:
        return f"{sign}{minutes}m{text}"
    return sign + text


def _decimal(value: int, unit: int) -> str:
    whole, fraction = divmod(value, unit)
    if not fraction:
        return str(whole)
    digits = len(str(unit)) - 1
    return f"{whole}.{fraction:0{digits}d}".rstrip("0")


def tabulate(rows: Iterable[Sequence[str]]) -> str:
    """Join cells with ``",\\t"`` and align them as Go's tabwriter(8, 0, 1, ' ', 0) does.

    Every cell but a line's last ends with the separator and is padded to its
    column's width: the widest such cell plus one, at least 8.
    """
    lines = [[*(c + "," for c in row[:-1]), row[-1]] if row else [] for row in rows]
    widths: list[int] = []
    for cells in lines:
        for column, cell in enumerate(cells[:-1]):
            width = max(MIN_WIDTH, len(cell) + PADDING)
            if column == len(widths):
                widths.append(width)
            else:
                widths[column] = max(widths[column], width)
    out = []
    for cells in lines:
        aligned = [cell.ljust(widths[i]) for i, cell in enumerate(cells[:-1])]
        out.append("".join(aligned) + (cells[-1] if cells else "") + "\n")
    return "".join(out)


def dump_priority_levels(levels: Iterable[LevelRow]) -> str:
    """The ``dump_priority_levels`` text, levels sorted by name."""
    rows: list[Sequence[str]] = [LEVEL_HEADERS]
    rows.extend(
        (
            level.name,
            str(level.active_queues),
            go_bool(level.is_idle),
            go_bool(level.is_quiescing),
            str(level.waiting),
            str(level.executing),
            str(level.dispatched),
            str(level.rejected),
            str(level.timed_out),
            str(level.cancelled),
        )
        for level in sorted(levels, key=lambda row: row.name)
    )
    return tabulate(rows)


def dump_queues(queues: Iterable[QueueRow]) -> str:
    """The ``dump_queues`` text, in the order given."""
    rows: list[Sequence[str]] = [QUEUE_HEADERS]
    rows.extend(
        (
            q.priority_level,
            str(q.index),
            str(q.pending),
            str(q.executing),
            str(q.seats_in_use),
            seat_seconds(q.next_dispatch_r),
            str(q.initial_seats_sum),
            str(q.max_seats_sum),
            seat_seconds(q.total_work_sum),
        )
        for q in queues
    )
    return tabulate(rows)


def dump_requests(requests: Iterable[RequestRow], *, include_details: bool) -> str:
    """The ``dump_requests`` text, in the order given (waiting, then executing)."""
    header: tuple[str, ...] = REQUEST_HEADERS
    if include_details:
        header += REQUEST_DETAIL_HEADERS
    rows: list[Sequence[str]] = [header]
    rows.extend(_request_cells(r, include_details=include_details) for r in requests)
    return tabulate(rows)


def _request_cells(r: RequestRow, *, include_details: bool) -> tuple[str, ...]:
    cells: tuple[str, ...] = (
        r.priority_level,
        r.flow_schema,
        str(r.queue_index),
        str(r.index_in_queue),
        r.distinguisher,
        rfc3339_nano(r.arrive_time),
        str(r.initial_seats),
        str(r.final_seats),
        go_duration(r.additional_latency_seconds),
        rfc3339_nano(r.start_time),
    )
    if not include_details:
        return cells
    d = r.details or RequestDetails("", "", "", "", "", "", "", "", "")
    api_version = f"{d.api_group}/{d.api_version}" if d.api_group else d.api_version
    return (
        *cells,
        d.user_name,
        d.verb,
        d.path,
        d.namespace,
        d.name,
        api_version,
        d.resource,
        d.subresource,
    )
