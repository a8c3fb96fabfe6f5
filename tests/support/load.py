"""The reference e2e's uniform-QPS load, with the official asyncio client.

Each of ``concurrency`` virtual clients ticks at ``qps`` and starts one
``GET /version`` per tick without waiting for the previous one (as the Go
test starts a goroutine per tick). Only requests finished before the load
duration ends count as completed, whatever their status.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path

from kubernetes.aio import client as aio_client, config as aio_config


@dataclass
class LoadResult:
    completed: int = 0
    ok: int = 0
    rejected: int = 0
    statuses: dict[int, int] = field(default_factory=dict)


async def make_api(
    kubeconfig: Path, *, user: str, groups: tuple[str, ...]
) -> aio_client.ApiClient:
    configuration = aio_client.Configuration()
    await aio_config.load_kube_config(
        config_file=str(kubeconfig), client_configuration=configuration
    )
    configuration.connection_pool_maxsize = 200
    api = aio_client.ApiClient(configuration)
    api.set_default_header("Impersonate-User", user)
    for group in groups:
        api.set_default_header("Impersonate-Group", group)
    return api


async def _one_request(api: aio_client.ApiClient, result: LoadResult, deadline: float) -> None:
    response = await aio_client.VersionApi(api).get_code_without_preload_content()
    status = response.status
    await response.read()
    if time.monotonic() <= deadline:
        result.completed += 1
        result.statuses[status] = result.statuses.get(status, 0) + 1
        result.ok += status == 200
        result.rejected += status == 429


async def _ticker(
    api: aio_client.ApiClient, qps: float, result: LoadResult, deadline: float
) -> None:
    interval = 1.0 / qps
    tasks: list[asyncio.Task[None]] = []
    next_tick = time.monotonic() + interval
    while next_tick <= deadline:
        await asyncio.sleep(max(0.0, next_tick - time.monotonic()))
        tasks.append(asyncio.ensure_future(_one_request(api, result, deadline)))
        next_tick += interval
    await asyncio.gather(*tasks, return_exceptions=True)


async def uniform_qps_load(
    kubeconfig: Path, *, user: str, concurrency: int, qps: float, seconds: float
) -> LoadResult:
    """Run ``concurrency`` tickers at ``qps`` each for ``seconds`` as ``user``."""
    api = await make_api(kubeconfig, user=user, groups=("system:authenticated",))
    result = LoadResult()
    deadline = time.monotonic() + seconds
    try:
        await asyncio.gather(*(_ticker(api, qps, result, deadline) for _ in range(concurrency)))
    finally:
        await api.close()
    return result
