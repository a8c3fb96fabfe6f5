"""Part 3 (end to end): the "drowned out" scenarios of Kubernetes' APF e2e, on a real server.

A high-QPS and a low-QPS client, each authenticated by its own bearer token, send
``GET /version`` to a real ``apf serve`` (APF on) on 127.0.0.1 for 10 s. Each virtual client
ticks at its rate and starts one request per tick without waiting for the previous one; the
high client runs twice the level's seats in virtual clients at 90 QPS each, the low client
half of them (at least one) at 4 QPS each.

- by priority: each user has its own FlowSchema and priority level (1 share, Reject);
- by fairness: both users share one FlowSchema (distinguished by user) and one level.

The figure is the low client's share of 2xx answers among the requests it sent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

import aiohttp

from bench.servers import HIGH_QPS_USER, LOW_QPS_USER, USER_TOKENS, Server

logger = logging.getLogger(__name__)

LOAD_SECONDS = 10.0
GRACE_SECONDS = 5.0
STEADY_TIMEOUT_SECONDS = 30.0
NOMINAL_METRIC = "apiserver_flowcontrol_nominal_limit_seats"
FLOWCONTROL = "/apis/flowcontrol.apiserver.k8s.io/v1"
HIGH_QPS, LOW_QPS = 90.0, 4.0
HIGH_MULTIPLIER, LOW_MULTIPLIER = 2.0, 0.5


@dataclass
class ClientTally:
    """What one load client sent and got back."""

    sent: int = 0
    ok: int = 0
    statuses: dict[str, int] = field(default_factory=dict)

    def ok_percent(self) -> float:
        """2xx answers as a percentage of the requests sent."""
        return 100.0 * self.ok / self.sent if self.sent else 0.0


def level_body(name: str) -> dict[str, object]:
    """A one-share priority level that rejects what it cannot run at once."""
    limited = {"nominalConcurrencyShares": 1, "limitResponse": {"type": "Reject"}}
    return {"metadata": {"name": name}, "spec": {"type": "Limited", "limited": limited}}


def schema_body(name: str, *, level: str, users: list[str], precedence: int) -> dict[str, object]:
    """A FlowSchema sending ``users``' non-resource requests to ``level``, one flow per user."""
    subjects = [{"kind": "User", "user": {"name": user}} for user in users]
    rule = {"subjects": subjects, "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}]}
    spec = {
        "priorityLevelConfiguration": {"name": level},
        "matchingPrecedence": precedence,
        "distinguisherMethod": {"type": "ByUser"},
        "rules": [rule],
    }
    return {"metadata": {"name": name}, "spec": spec}


def _create(server: Server, plural: str, body: dict[str, object]) -> None:
    status, text = server.request("POST", f"{FLOWCONTROL}/{plural}", body=body)
    if status != 201:
        raise RuntimeError(f"creating {plural} failed with {status}: {text[:300]!r}")


def nominal_seats(metrics_text: str, level: str) -> int | None:
    """The level's nominal seats in a /metrics exposition, None while absent."""
    needle = f'priority_level="{level}"'
    for line in metrics_text.splitlines():
        if line.startswith(NOMINAL_METRIC + "{") and needle in line:
            return int(float(line.rsplit(" ", 1)[1]))
    return None


def _wait_for_seats(server: Server, level: str) -> int:
    deadline = time.monotonic() + STEADY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        _, body = server.get("/metrics")
        seats = nominal_seats(body.decode(), level)
        if seats is not None:
            return seats
        time.sleep(0.2)
    raise RuntimeError(f"priority level {level} never appeared in /metrics")


async def _one(session: aiohttp.ClientSession, url: str, tally: ClientTally) -> None:
    tally.sent += 1
    try:
        async with session.get(url) as response:
            await response.read()
            key = str(response.status)
            tally.ok += 200 <= response.status < 300
    except (aiohttp.ClientError, TimeoutError) as exc:
        key = type(exc).__name__
    tally.statuses[key] = tally.statuses.get(key, 0) + 1


async def _ticker(
    session: aiohttp.ClientSession, url: str, qps: float, tally: ClientTally
) -> list[asyncio.Task[None]]:
    tasks: list[asyncio.Task[None]] = []
    interval = 1.0 / qps
    start = time.monotonic()
    for tick in range(int(LOAD_SECONDS * qps)):
        await asyncio.sleep(max(0.0, start + tick * interval - time.monotonic()))
        tasks.append(asyncio.ensure_future(_one(session, url, tally)))
    return tasks


async def _client(server: Server, user: str, *, clients: int, qps: float) -> ClientTally:
    tally = ClientTally()
    timeout = aiohttp.ClientTimeout(total=LOAD_SECONDS + GRACE_SECONDS)
    connector = aiohttp.TCPConnector(limit=400, ssl=server.ssl_context())
    headers = {"Authorization": f"Bearer {USER_TOKENS[user]}"}
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, headers=headers
    ) as session:
        url = server.url + "/version"
        batches = await asyncio.gather(
            *(_ticker(session, url, qps, tally) for _ in range(clients))
        )
        await asyncio.gather(*(task for batch in batches for task in batch))
    return tally


async def _load(server: Server, *, high_seats: int, low_seats: int) -> dict[str, float]:
    high_clients = max(1, int(high_seats * HIGH_MULTIPLIER))
    low_clients = max(1, int(low_seats * LOW_MULTIPLIER))
    high, low = await asyncio.gather(
        _client(server, HIGH_QPS_USER, clients=high_clients, qps=HIGH_QPS),
        _client(server, LOW_QPS_USER, clients=low_clients, qps=LOW_QPS),
    )
    if server.process.poll() is not None:
        raise RuntimeError(f"server exited with {server.process.poll()} during the load")
    logger.info("drowned-out load done", extra={"high": high.statuses, "low": low.statuses})
    return {
        "low_ok_percent": low.ok_percent(),
        "high_ok_percent": high.ok_percent(),
        "low_sent": float(low.sent),
        "high_sent": float(high.sent),
    }


def drowned_out_by_priority(server: Server) -> dict[str, float]:
    """Two users, two levels: the high-QPS user must not starve the low one."""
    for role, user, precedence in (("high", HIGH_QPS_USER, 999), ("low", LOW_QPS_USER, 1000)):
        _create(server, "prioritylevelconfigurations", level_body(f"bench-pl-{role}"))
        body = schema_body(
            f"bench-fs-{role}", level=f"bench-pl-{role}", users=[user], precedence=precedence
        )
        _create(server, "flowschemas", body)
    high_seats = _wait_for_seats(server, "bench-pl-high")
    low_seats = _wait_for_seats(server, "bench-pl-low")
    return asyncio.run(_load(server, high_seats=high_seats, low_seats=low_seats))


def drowned_out_by_fairness(server: Server) -> dict[str, float]:
    """Two users in one FlowSchema and level: fair queuing must protect the low one."""
    _create(server, "prioritylevelconfigurations", level_body("bench-pl-shared"))
    users = [HIGH_QPS_USER, LOW_QPS_USER]
    body = schema_body("bench-fs-shared", level="bench-pl-shared", users=users, precedence=998)
    _create(server, "flowschemas", body)
    seats = _wait_for_seats(server, "bench-pl-shared")
    return asyncio.run(_load(server, high_seats=seats, low_seats=seats))
