"""The APF controller over a real Store on memory storage, with a fake clock."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from apf.api.kinds import FLOW_SCHEMA, PRIORITY_LEVEL, Kind
from apf.flowcontrol.admission import AdmitOptions, RejectReason
from apf.flowcontrol.clock import FakeClock
from apf.flowcontrol.controller import (
    Controller,
    LevelSpec,
    digest_priority_level,
    wait_limit_seconds,
)
from apf.flowcontrol.digest import RequestDigest, RequestInfo, UserInfo
from apf.flowcontrol.ensurer import ensure_once
from apf.flowcontrol.ticket import AdmissionTicket
from apf.registry.store import Store
from apf.storage.memory import MemoryStorage

Object = dict[str, Any]


def queue_level(name: str, *, shares: int = 10, queues: int = 1, length: int = 50) -> Object:
    hand = 1 if queues < 4 else 2
    return {
        "metadata": {"name": name},
        "spec": {
            "type": "Limited",
            "limited": {
                "nominalConcurrencyShares": shares,
                "lendablePercent": 0,
                "limitResponse": {
                    "type": "Queue",
                    "queuing": {"queues": queues, "handSize": hand, "queueLengthLimit": length},
                },
            },
        },
    }


def reject_level(name: str, *, shares: int = 10) -> Object:
    return {
        "metadata": {"name": name},
        "spec": {
            "type": "Limited",
            "limited": {
                "nominalConcurrencyShares": shares,
                "lendablePercent": 0,
                "limitResponse": {"type": "Reject"},
            },
        },
    }


def schema_for_user(name: str, user: str, level: str, *, precedence: int = 500) -> Object:
    return {
        "metadata": {"name": name},
        "spec": {
            "priorityLevelConfiguration": {"name": level},
            "matchingPrecedence": precedence,
            "distinguisherMethod": {"type": "ByUser"},
            "rules": [
                {
                    "subjects": [{"kind": "User", "user": {"name": user}}],
                    "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
                    "resourceRules": [
                        {
                            "verbs": ["*"],
                            "apiGroups": ["*"],
                            "resources": ["*"],
                            "clusterScope": True,
                            "namespaces": ["*"],
                        }
                    ],
                }
            ],
        },
    }


def request(user: str, *, path: str = "/version", groups: tuple[str, ...] = ()) -> RequestDigest:
    info = RequestInfo(is_resource_request=False, path=path, verb="get")
    return RequestDigest(info, UserInfo(name=user, groups=(*groups, "system:authenticated")))


def watch_request(user: str) -> RequestDigest:
    info = RequestInfo(
        is_resource_request=True,
        path="/apis/flowcontrol.apiserver.k8s.io/v1/flowschemas",
        verb="watch",
        api_group="flowcontrol.apiserver.k8s.io",
        api_version="v1",
        resource="flowschemas",
        query={"resourceVersion": "5"},
    )
    return RequestDigest(info, UserInfo(name=user, groups=("system:authenticated",)))


class Harness:
    """A started controller plus helpers to change its configuration and wait for it."""

    def __init__(self, store: Store, clock: FakeClock, controller: Controller) -> None:
        self.store = store
        self.clock = clock
        self.controller = controller

    async def create(self, kind: Kind, obj: Object) -> Object:
        created = await self.store.create(kind, obj)
        await self.synced(kind, created)
        return created

    async def delete(self, kind: Kind, name: str) -> None:
        await self.store.delete(kind, name)
        await self.controller.wait_synced(kind, self.store.storage.current_revision())

    async def synced(self, kind: Kind, obj: Object) -> None:
        await self.controller.wait_synced(kind, int(obj["metadata"]["resourceVersion"]))

    async def admit(self, digest: RequestDigest) -> AdmissionTicket:
        options = AdmitOptions(received_at=self.clock.now())
        return await self.controller.admit(digest, options)

    def start_admit(self, digest: RequestDigest) -> asyncio.Task[AdmissionTicket]:
        return asyncio.get_running_loop().create_task(self.admit(digest))

    def sample(self, name: str, **labels: str) -> float | None:
        value: float | None = self.controller.metrics_registry.get_sample_value(name, labels)
        return value


async def settle() -> None:
    """Let every ready task run until it blocks."""
    for _ in range(20):
        await asyncio.sleep(0)


async def make_harness(*, server_limit: int, bootstrap: bool) -> tuple[Harness, MemoryStorage]:
    storage = MemoryStorage()
    await storage.start()
    store = Store(storage)
    if bootstrap:
        await ensure_once(store)
    clock = FakeClock()
    controller = Controller(store, clock, server_concurrency_limit=server_limit)
    await controller.start()
    return Harness(store, clock, controller), storage


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    """Bootstrap configuration and 600 seats."""
    h, storage = await make_harness(server_limit=600, bootstrap=True)
    yield h
    await h.controller.stop()
    await storage.close()


@pytest.fixture
async def tiny() -> AsyncIterator[Harness]:
    """No stored configuration (built-in exempt and catch-all only) and 2 seats."""
    h, storage = await make_harness(server_limit=2, bootstrap=False)
    yield h
    await h.controller.stop()
    await storage.close()


# --- classification and admission ---------------------------------------------------------


async def test_controller_admits_masters_as_exempt_with_uids(harness: Harness) -> None:
    stored = await harness.store.get(FLOW_SCHEMA, "exempt")

    ticket = await harness.admit(request("root", groups=("system:masters",)))

    assert ticket.rejected is None
    assert ticket.priority_level_name == "exempt"
    assert ticket.flow_schema_uid == stored["metadata"]["uid"]
    ticket.finish()


async def test_controller_routes_ordinary_users_to_global_default(harness: Harness) -> None:
    ticket = await harness.admit(request("alice"))

    assert (ticket.flow_schema_name, ticket.priority_level_name) == (
        "global-default",
        "global-default",
    )
    ticket.finish()


async def test_controller_admits_from_the_request_parts_as_from_a_digest(
    harness: Harness,
) -> None:
    digest = request("alice")
    now = harness.clock.now()

    from_parts = harness.controller.admit_request(digest.request_info, digest.user, now, None)
    from_digest = harness.controller.admit_nowait(digest, AdmitOptions(received_at=now))

    assert isinstance(from_parts, AdmissionTicket)
    assert isinstance(from_digest, AdmissionTicket)
    for ticket in (from_parts, from_digest):
        assert (ticket.flow_schema_name, ticket.priority_level_name) == (
            "global-default",
            "global-default",
        )
        assert ticket.rejected is None
        ticket.finish()
    labels = {"priority_level": "global-default", "flow_schema": "global-default"}
    assert harness.sample("apiserver_flowcontrol_dispatched_requests_total", **labels) == 2.0
    assert harness.sample("apiserver_flowcontrol_current_executing_requests", **labels) == 0


async def test_controller_works_a_route_out_again_once_its_level_changed_spec(
    harness: Harness,
) -> None:
    digest = request("alice")
    (await harness.admit(digest)).finish()
    state = harness.controller._state
    assert state is not None
    route = state.classifier.route(digest.request_info, digest.user)
    first = route.target
    # What a digestion that fails after reconfiguring the levels leaves behind: the old
    # generation's routes, over levels with a new spec.
    level = harness.controller._levels["global-default"]
    level.spec = dataclasses.replace(level.spec)

    ticket = await harness.admit(digest)

    assert ticket.priority_level_name == "global-default"
    assert route.target is not first
    ticket.finish()


async def test_controller_imagines_builtins_with_empty_uids(tiny: Harness) -> None:
    ticket = await tiny.admit(request("alice"))

    assert ticket.flow_schema_name == "catch-all"
    assert (ticket.flow_schema_uid, ticket.priority_level_uid) == ("", "")
    ticket.finish()


async def test_controller_rejects_beyond_reject_level_limit(tiny: Harness) -> None:
    await tiny.create(PRIORITY_LEVEL, reject_level("tiny", shares=5))
    await tiny.create(FLOW_SCHEMA, schema_for_user("tiny", "bob", "tiny"))

    first = await tiny.admit(request("bob"))
    second = await tiny.admit(request("bob"))

    assert first.rejected is None
    assert second.rejected == RejectReason.CONCURRENCY_LIMIT
    assert second.retry_after_seconds == 1
    assert second.priority_level_name == "tiny"
    first.finish()
    second.finish()


async def test_controller_queues_then_dispatches_on_finish(tiny: Harness) -> None:
    await tiny.create(PRIORITY_LEVEL, queue_level("q", shares=5))
    await tiny.create(FLOW_SCHEMA, schema_for_user("q", "carol", "q"))
    first = await tiny.admit(request("carol"))

    waiting = tiny.start_admit(request("carol"))
    await settle()
    assert not waiting.done()
    first.finish()
    await settle()

    assert waiting.done()
    assert waiting.result().rejected is None
    waiting.result().finish()


async def test_controller_times_out_waiters_after_a_quarter_of_the_timeout(
    tiny: Harness,
) -> None:
    await tiny.create(PRIORITY_LEVEL, queue_level("q", shares=5))
    await tiny.create(FLOW_SCHEMA, schema_for_user("q", "carol", "q"))
    first = await tiny.admit(request("carol"))
    waiting = tiny.start_admit(request("carol"))
    await settle()

    tiny.clock.advance(14.9)
    await settle()
    assert not waiting.done()
    tiny.clock.advance(0.2)
    await settle()

    assert waiting.result().rejected == RejectReason.TIME_OUT
    first.finish()


async def test_controller_rejects_queue_full(tiny: Harness) -> None:
    await tiny.create(PRIORITY_LEVEL, queue_level("q", shares=5, length=1))
    await tiny.create(FLOW_SCHEMA, schema_for_user("q", "dave", "q"))
    first = await tiny.admit(request("dave"))
    waiting = tiny.start_admit(request("dave"))
    await settle()

    third = await tiny.admit(request("dave"))

    assert third.rejected == RejectReason.QUEUE_FULL
    assert tiny.sample(
        "apiserver_flowcontrol_rejected_requests_total",
        priority_level="q",
        flow_schema="q",
        reason="queue-full",
    ) == pytest.approx(1.0)
    first.finish()
    await settle()
    waiting.result().finish()


async def test_controller_retry_after_grows_under_sustained_rejection(tiny: Harness) -> None:
    await tiny.create(PRIORITY_LEVEL, reject_level("tiny", shares=5))
    await tiny.create(FLOW_SCHEMA, schema_for_user("tiny", "bob", "tiny"))
    holder = await tiny.admit(request("bob"))

    for _ in range(5):
        await tiny.admit(request("bob"))
    tiny.clock.advance(1.0)
    later = await tiny.admit(request("bob"))

    assert later.retry_after_seconds == 2
    holder.finish()


async def test_controller_cancelled_waiter_is_counted_as_time_out(tiny: Harness) -> None:
    await tiny.create(PRIORITY_LEVEL, queue_level("q", shares=5))
    await tiny.create(FLOW_SCHEMA, schema_for_user("q", "jo", "q"))
    first = await tiny.admit(request("jo"))
    waiting = tiny.start_admit(request("jo"))
    await settle()

    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting

    labels = {"priority_level": "q", "flow_schema": "q"}
    rejected = "apiserver_flowcontrol_rejected_requests_total"
    assert tiny.sample(rejected, **labels, reason="time-out") == 1
    first.finish()
    assert tiny.sample("apiserver_flowcontrol_current_executing_requests", **labels) == 0


async def test_controller_readjusts_limits_every_ten_seconds(harness: Harness) -> None:
    current = "apiserver_flowcontrol_current_limit_seats"
    before = harness.sample(current, priority_level="global-default")
    tickets = [await harness.admit(request(f"user-{i}")) for i in range(40)]

    harness.clock.advance(10.0)

    level = {"priority_level": "global-default"}
    assert harness.sample("apiserver_flowcontrol_demand_seats_average", **level) == 40
    assert harness.sample("apiserver_flowcontrol_demand_seats_high_watermark", **level) == 40
    assert harness.sample(current, **level) != before
    for ticket in tickets:
        ticket.finish()


# --- configuration changes ----------------------------------------------------------------


async def test_controller_keeps_serving_a_deleted_level_until_drained(tiny: Harness) -> None:
    await tiny.create(PRIORITY_LEVEL, queue_level("q", shares=5))
    await tiny.create(FLOW_SCHEMA, schema_for_user("q", "erin", "q"))
    first = await tiny.admit(request("erin"))
    waiting = tiny.start_admit(request("erin"))
    await settle()

    await tiny.delete(FLOW_SCHEMA, "q")
    await tiny.delete(PRIORITY_LEVEL, "q")
    levels = tiny.controller.dump_priority_levels().splitlines()
    row = next(line for line in levels if line.startswith("q,"))
    assert [c.strip() for c in row.split(",")][3] == "true"
    first.finish()
    await settle()
    second = waiting.result()
    assert (second.rejected, second.priority_level_name) == (None, "q")
    second.finish()
    tiny.clock.advance(10.0)
    await settle()

    remaining = tiny.controller.dump_priority_levels()
    assert not any(line.startswith("q,") for line in remaining.splitlines())


async def test_controller_revived_level_stops_quiescing(
    tiny: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    await tiny.create(PRIORITY_LEVEL, queue_level("q", shares=5))
    await tiny.create(FLOW_SCHEMA, schema_for_user("q", "erin", "q"))
    busy = await tiny.admit(request("erin"))
    await tiny.delete(PRIORITY_LEVEL, "q")
    await tiny.create(PRIORITY_LEVEL, queue_level("q", shares=5))
    busy.finish()
    await settle()
    caplog.set_level(logging.DEBUG, logger="apf.flowcontrol.controller")

    for _ in range(5):
        ticket = await tiny.admit(request("erin"))
        assert ticket.priority_level_name == "q"
        ticket.finish()
        await settle()

    digested = [r for r in caplog.records if r.getMessage() == "APF configuration digested"]
    levels = tiny.controller.dump_priority_levels().splitlines()
    row = next(line for line in levels if line.startswith("q,"))
    assert digested == []  # a level that went idle is not retired again and again
    assert [c.strip() for c in row.split(",")][3] == "false"


async def test_controller_new_level_metrics_appear_after_digestion(tiny: Harness) -> None:
    await tiny.create(PRIORITY_LEVEL, reject_level("fresh", shares=5))

    nominal = tiny.sample("apiserver_flowcontrol_nominal_limit_seats", priority_level="fresh")

    assert nominal == pytest.approx(1.0)


async def test_controller_broken_level_is_skipped_and_its_schemas_dangle(tiny: Harness) -> None:
    await tiny.create(FLOW_SCHEMA, schema_for_user("lost", "frank", "nowhere"))

    ticket = await tiny.admit(request("frank"))

    assert ticket.flow_schema_name == "catch-all"
    ticket.finish()


# --- Dangling conditions ------------------------------------------------------------------


def dangling(obj: Object) -> tuple[str, str, str]:
    (condition,) = [c for c in obj["status"]["conditions"] if c["type"] == "Dangling"]
    return condition["status"], condition["reason"], condition["message"]


async def test_controller_writes_dangling_true_then_false_once_each(tiny: Harness) -> None:
    created = await tiny.create(FLOW_SCHEMA, schema_for_user("lost", "frank", "later"))
    await tiny.controller.wait_status_writes()

    stored = await tiny.store.get(FLOW_SCHEMA, "lost")
    assert dangling(stored) == (
        "True",
        "NotFound",
        'This FlowSchema references the PriorityLevelConfiguration object named "later" '
        "but there is no such object",
    )
    await tiny.synced(FLOW_SCHEMA, stored)
    await tiny.controller.wait_status_writes()
    assert (await tiny.store.get(FLOW_SCHEMA, "lost"))["metadata"]["resourceVersion"] == (
        stored["metadata"]["resourceVersion"]
    )

    await tiny.create(PRIORITY_LEVEL, reject_level("later"))
    await tiny.controller.wait_status_writes()
    found = await tiny.store.get(FLOW_SCHEMA, "lost")
    assert dangling(found)[:2] == ("False", "Found")
    assert created["metadata"]["uid"] == found["metadata"]["uid"]


async def test_controller_throttles_condition_writes_per_schema(tiny: Harness) -> None:
    await tiny.create(FLOW_SCHEMA, schema_for_user("flappy", "ivan", "flip"))
    await tiny.controller.wait_status_writes()
    for _ in range(2):
        await tiny.create(PRIORITY_LEVEL, reject_level("flip"))
        await tiny.controller.wait_status_writes()
        await tiny.delete(PRIORITY_LEVEL, "flip")
        await tiny.controller.wait_status_writes()
    await tiny.create(PRIORITY_LEVEL, reject_level("flip"))
    await tiny.controller.wait_status_writes()
    assert dangling(await tiny.store.get(FLOW_SCHEMA, "flappy"))[0] == "False"

    await tiny.delete(PRIORITY_LEVEL, "flip")
    await tiny.controller.wait_status_writes()
    assert dangling(await tiny.store.get(FLOW_SCHEMA, "flappy"))[0] == "False"
    tiny.clock.advance(75.0)
    await settle()
    await tiny.controller.wait_status_writes()

    assert dangling(await tiny.store.get(FLOW_SCHEMA, "flappy"))[0] == "True"


# --- watches, metrics, dumps --------------------------------------------------------------


async def test_controller_watch_releases_seats_when_initialized(tiny: Harness) -> None:
    await tiny.create(PRIORITY_LEVEL, reject_level("tiny", shares=5))
    await tiny.create(FLOW_SCHEMA, schema_for_user("tiny", "gina", "tiny"))
    watch = await tiny.admit(watch_request("gina"))
    assert tiny.controller.watches.total == 1

    watch.initialized()
    after = await tiny.admit(request("gina"))

    assert after.rejected is None
    watch.finish()
    after.finish()
    assert tiny.controller.watches.total == 0


async def test_controller_metrics_carry_level_and_schema_labels(harness: Harness) -> None:
    ticket = await harness.admit(request("alice"))
    ticket.finish()

    labels = {"priority_level": "global-default", "flow_schema": "global-default"}
    assert harness.sample("apiserver_flowcontrol_dispatched_requests_total", **labels) == 1.0
    assert harness.sample(
        "apiserver_flowcontrol_request_execution_seconds_count", **labels, type="regular"
    ) == pytest.approx(1.0)
    assert harness.sample(
        "apiserver_flowcontrol_nominal_limit_seats", priority_level="global-default"
    ) == pytest.approx(49.0)
    assert harness.sample("apiserver_flowcontrol_seat_fair_frac") is not None


async def test_controller_dump_requests_lists_waiting_requests(tiny: Harness) -> None:
    await tiny.create(PRIORITY_LEVEL, queue_level("q", shares=5, queues=4))
    await tiny.create(FLOW_SCHEMA, schema_for_user("q", "hana", "q"))
    first = await tiny.admit(request("hana"))
    waiting = tiny.start_admit(request("hana"))
    await settle()

    lines = tiny.controller.dump_requests(include_details=True).splitlines()

    assert lines[0].startswith("PriorityLevelName,")
    rows = [[c.strip() for c in line.split(",")] for line in lines[1:]]
    waiting_rows = [row for row in rows if row[3] != "-1"]
    assert [(r[0], r[1], r[3], r[4], r[10]) for r in waiting_rows] == [
        ("q", "q", "0", "hana", "hana")
    ]
    assert len(rows) == 2
    first.finish()
    await settle()
    waiting.result().finish()


async def test_controller_dump_queues_has_a_row_per_queue(tiny: Harness) -> None:
    await tiny.create(PRIORITY_LEVEL, queue_level("q4", shares=5, queues=4))

    lines = tiny.controller.dump_queues().splitlines()

    assert [line.split(",")[0] for line in lines[1:]].count("q4") == 4


# --- pure helpers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timeout", "expected"),
    [
        pytest.param(None, 15.0, id="default"),
        pytest.param(8.0, 2.0, id="short"),
        pytest.param(600.0, 60.0, id="capped"),
    ],
)
def test_wait_limit_seconds(timeout: float | None, expected: float) -> None:
    assert wait_limit_seconds(timeout, 60.0) == expected


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param({"type": "Limited"}, id="limited-missing"),
        pytest.param(
            {"type": "Limited", "limited": {"limitResponse": {"type": "Queue"}}},
            id="queue-without-queuing",
        ),
        pytest.param(
            {
                "type": "Limited",
                "limited": {
                    "limitResponse": {
                        "type": "Queue",
                        "queuing": {"queues": 2, "handSize": 3, "queueLengthLimit": 5},
                    }
                },
            },
            id="hand-larger-than-deck",
        ),
        pytest.param({"type": "Exempt"}, id="exempt-type-other-name"),
    ],
)
def test_digest_priority_level_rejects_broken_levels(spec: Object) -> None:
    with pytest.raises(ValueError, match=r".+"):
        digest_priority_level({"metadata": {"name": "x"}, "spec": spec})


def test_digest_priority_level_reads_queuing() -> None:
    spec = digest_priority_level(queue_level("q", shares=7, queues=4))

    assert isinstance(spec, LevelSpec)
    assert (spec.nominal_shares, spec.queuing is not None) == (7, True)
