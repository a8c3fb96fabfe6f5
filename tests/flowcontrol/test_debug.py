"""Debug dump formatting: headers, alignment, Go time and duration syntax."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from apf.flowcontrol.debug import (
    LevelRow,
    QueueRow,
    RequestDetails,
    RequestRow,
    dump_priority_levels,
    dump_queues,
    dump_requests,
    go_duration,
    rfc3339_nano,
    seat_seconds,
    tabulate,
)


def test_dump_priority_levels_header_and_sorted_rows() -> None:
    rows = [
        LevelRow("workload-low", 1, False, False, 2, 3, 10, 1, 0, 1),
        LevelRow("catch-all", 0, True, True, 0, 0, 0, 0, 0, 0),
    ]

    lines = dump_priority_levels(rows).splitlines()

    assert lines[0] == (
        "PriorityLevelName, ActiveQueues, IsIdle, IsQuiescing, WaitingRequests, "
        "ExecutingRequests, DispatchedRequests, RejectedRequests, TimedoutRequests, "
        "CancelledRequests"
    )
    assert [line.split(",")[0] for line in lines[1:]] == ["catch-all", "workload-low"]
    assert [cell.strip() for cell in lines[1].split(",")] == [
        "catch-all",
        "0",
        "true",
        "true",
        "0",
        "0",
        "0",
        "0",
        "0",
        "0",
    ]


def test_tabulate_pads_to_widest_cell_plus_one_with_minimum_eight() -> None:
    text = tabulate([("a", "bb", "c"), ("longer-cell", "x", "y")])

    assert text == "a,           bb,     c\nlonger-cell, x,      y\n"


def test_dump_queues_header_and_seat_seconds() -> None:
    row = QueueRow("system", 3, 2, 1, 4, 150_000_000, 2, 3, 600_000)

    lines = dump_queues([row]).splitlines()

    assert [c.strip() for c in lines[0].split(",")] == [
        "PriorityLevelName",
        "Index",
        "PendingRequests",
        "ExecutingRequests",
        "SeatsInUse",
        "NextDispatchR",
        "InitialSeatsSum",
        "MaxSeatsSum",
        "TotalWorkSum",
    ]
    cells = [c.strip() for c in lines[1].split(",")]
    assert cells == ["system", "3", "2", "1", "4", "1.50000000ss", "2", "3", "0.00600000ss"]


def test_dump_requests_with_details() -> None:
    arrive = datetime(2026, 1, 2, 3, 4, 5, 120000, tzinfo=UTC)
    details = RequestDetails(
        "alice", "list", "/apis/apps/v1/deployments", "", "", "apps", "v1", "deployments", ""
    )
    row = RequestRow(
        "global-default", "global-default", 5, 0, "alice", arrive, 1, 0, 0.0, None, details
    )

    lines = dump_requests([row], include_details=True).splitlines()

    header = [c.strip() for c in lines[0].split(",")]
    assert header[4] == "FlowDistingsher"
    assert header[9:] == [
        "StartTime",
        "UserName",
        "Verb",
        "APIPath",
        "Namespace",
        "Name",
        "APIVersion",
        "Resource",
        "SubResource",
    ]
    cells = [c.strip() for c in lines[1].split(",")]
    assert cells[5] == "2026-01-02T03:04:05.12Z"
    assert cells[8:] == [
        "0s",
        "0001-01-01T00:00:00Z",
        "alice",
        "list",
        "/apis/apps/v1/deployments",
        "",
        "",
        "apps/v1",
        "deployments",
        "",
    ]


def test_dump_requests_without_details_has_ten_columns() -> None:
    text = dump_requests([], include_details=False)

    assert text.count(",") == 9
    assert text.endswith("StartTime\n")


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        pytest.param(0.0, "0s", id="zero"),
        pytest.param(0.005, "5ms", id="millis"),
        pytest.param(0.0015, "1.5ms", id="fractional-millis"),
        pytest.param(0.0000005, "500ns", id="nanos"),
        pytest.param(0.000002, "2µs", id="micros"),
        pytest.param(1.5, "1.5s", id="seconds"),
        pytest.param(90.0, "1m30s", id="minutes"),
        pytest.param(3600.0, "1h0m0s", id="hours"),
    ],
)
def test_go_duration_matches_go_syntax(seconds: float, expected: str) -> None:
    assert go_duration(seconds) == expected


def test_rfc3339_nano_trims_zeros_and_formats_unset() -> None:
    whole = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

    assert rfc3339_nano(whole) == "2026-01-02T03:04:05Z"
    assert rfc3339_nano(None) == "0001-01-01T00:00:00Z"


def test_seat_seconds_pads_fraction() -> None:
    assert seat_seconds(1) == "0.00000001ss"
