"""Work estimation: list, watch and mutating estimators at the 1.29 level."""

from __future__ import annotations

import pytest

from apf.flowcontrol.digest import RequestInfo
from apf.flowcontrol.queueset import WorkEstimate
from apf.flowcontrol.workestimate import (
    WatchTracker,
    WorkEstimator,
    effective_max_seats,
    lists_from_storage,
    parse_list_options,
)

COUNTS = {"flowschemas.flowcontrol.apiserver.k8s.io": 950, "pods": 2500}


def info(
    verb: str,
    *,
    resource: str = "flowschemas",
    group: str = "flowcontrol.apiserver.k8s.io",
    namespace: str = "",
    name: str = "",
    subresource: str = "",
    **query: str,
) -> RequestInfo:
    return RequestInfo(
        is_resource_request=True,
        path="/x",
        verb=verb,
        api_group=group,
        api_version="v1",
        namespace=namespace,
        resource=resource,
        name=name,
        subresource=subresource,
        query=query,
    )


def estimator(tracker: WatchTracker | None = None) -> WorkEstimator:
    return WorkEstimator(object_count=COUNTS.get, watches=tracker or WatchTracker())


@pytest.mark.parametrize(
    ("request_info", "expected_seats"),
    [
        pytest.param(info("list"), 10, id="consistent-list-from-storage-2x-count-capped"),
        pytest.param(info("list", resourceVersion="0"), 10, id="cache-count-950"),
        pytest.param(info("list", limit="100"), 2, id="paged-from-storage-2x-limit"),
        pytest.param(
            info("list", limit="100", labelSelector="a=b"), 10, id="selector-count-plus-limit"
        ),
        pytest.param(info("list", name="one"), 1, id="named"),
        pytest.param(info("list", resource="unknown", group=""), 1, id="unknown-resource"),
        pytest.param(info("list", limit="x"), 10, id="bad-options-max"),
        pytest.param(info("get"), 1, id="get"),
        pytest.param(
            info("list", resource="pods", group="", resourceVersion="0", limit="10"),
            10,
            id="rv0-paged-from-cache",
        ),
    ],
)
def test_workestimate_list_seats(request_info: RequestInfo, expected_seats: int) -> None:
    width = estimator().estimate(request_info, level_max_seats=0)

    assert width == WorkEstimate(initial_seats=expected_seats)


def test_workestimate_list_respects_level_max_seats() -> None:
    width = estimator().estimate(info("list"), level_max_seats=4)

    assert width.initial_seats == 4


def test_workestimate_list_small_counts() -> None:
    counts = {"flowschemas.flowcontrol.apiserver.k8s.io": 150}
    small = WorkEstimator(object_count=counts.get, watches=WatchTracker())

    assert small.estimate(info("list", limit="50"), level_max_seats=0).initial_seats == 1
    assert small.estimate(info("list"), level_max_seats=0).initial_seats == 3


@pytest.mark.parametrize(
    ("request_info", "expected_seats"),
    [
        pytest.param(info("watch", resourceVersion="12"), 1, id="from-revision"),
        pytest.param(
            info("watch", resourceVersion="12", sendInitialEvents="true"),
            10,
            id="send-initial-events",
        ),
        pytest.param(info("watch"), 10, id="legacy-no-rv-replays"),
        pytest.param(info("watch", resourceVersion="0"), 10, id="legacy-rv0-replays"),
    ],
)
def test_workestimate_watch_seats(request_info: RequestInfo, expected_seats: int) -> None:
    width = estimator().estimate(request_info, level_max_seats=0)

    assert width.initial_seats == expected_seats


def test_workestimate_mutating_without_watchers_is_one_seat() -> None:
    width = estimator().estimate(info("create"), level_max_seats=0)

    assert width == WorkEstimate(initial_seats=1)


def test_workestimate_mutating_adds_final_seats_when_many_watchers() -> None:
    tracker = WatchTracker()
    for _ in range(25):
        tracker.register(info("watch"))

    width = estimator(tracker).estimate(info("update", name="x"), level_max_seats=0)

    assert width.initial_seats == 1
    assert width.final_seats == 3
    assert width.additional_latency_seconds == pytest.approx(0.005)


def test_workestimate_mutating_caps_final_seats_and_stretches_latency() -> None:
    tracker = WatchTracker()
    for _ in range(200):
        tracker.register(info("watch"))

    width = estimator(tracker).estimate(info("delete", name="x"), level_max_seats=4)

    assert width.final_seats == 4
    assert width.additional_latency_seconds == pytest.approx(20 * 0.005 / 4)


def test_workestimate_service_account_token_ignores_watchers() -> None:
    tracker = WatchTracker()
    token = info(
        "create",
        resource="serviceaccounts",
        group="",
        namespace="a",
        name="sa",
        subresource="token",
    )
    for _ in range(50):
        tracker.register(info("watch", resource="serviceaccounts", group=""))

    width = estimator(tracker).estimate(token, level_max_seats=0)

    assert width == WorkEstimate(initial_seats=1)


def test_watch_tracker_counts_interested_watches() -> None:
    tracker = WatchTracker()
    keys = [
        tracker.register(info("watch", resource="pods", group="")),
        tracker.register(info("watch", resource="pods", group="", namespace="a")),
        tracker.register(info("watch", resource="pods", group="", namespace="b")),
        tracker.register(info("watch", resource="pods", group="", namespace="a", name="p")),
        tracker.register(info("watch", resource="pods", group="", namespace="a", name="q")),
    ]

    write_p = info("update", resource="pods", group="", namespace="a", name="p")
    assert tracker.interested(write_p) == 3
    tracker.unregister(keys[1])
    assert tracker.interested(write_p) == 2
    assert tracker.total == 4


def test_watch_tracker_skips_pod_watches_pinned_to_a_node() -> None:
    tracker = WatchTracker()

    key = tracker.register(
        info("watch", resource="pods", group="", fieldSelector="spec.nodeName=n1")
    )

    assert key is None
    assert tracker.total == 0


def test_workestimate_effective_max_seats_caps_at_ten() -> None:
    assert [effective_max_seats(n) for n in (0, 3, 10, 37)] == [10, 3, 10, 10]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param({}, True, id="consistent"),
        pytest.param({"resourceVersion": "0"}, False, id="any"),
        pytest.param({"resourceVersion": "5"}, False, id="not-older-than"),
        pytest.param({"resourceVersion": "5", "resourceVersionMatch": "Exact"}, True, id="exact"),
        pytest.param({"resourceVersion": "0", "limit": "5"}, False, id="rv0-limit"),
        pytest.param({"resourceVersion": "5", "limit": "5"}, True, id="limit"),
        pytest.param({"resourceVersion": "5", "continue": "t"}, True, id="continue"),
    ],
)
def test_workestimate_list_source(query: dict[str, str], expected: bool) -> None:
    options = parse_list_options(info("list", **query))

    assert options is not None
    assert lists_from_storage(options) is expected
