"""Acknowledged writes survive SIGKILL; resourceVersions keep increasing across restarts."""

from __future__ import annotations

from pathlib import Path

from kubernetes import client as k8s_client

from tests.support.k8s import flowcontrol
from tests.support.server import ServerProcess


def _level(name: str) -> k8s_client.V1PriorityLevelConfiguration:
    return k8s_client.V1PriorityLevelConfiguration(
        metadata=k8s_client.V1ObjectMeta(name=name, labels={"durability": "yes"}),
        spec=k8s_client.V1PriorityLevelConfigurationSpec(
            type="Limited",
            limited=k8s_client.V1LimitedPriorityLevelConfiguration(
                nominal_concurrency_shares=3,
                limit_response=k8s_client.V1LimitResponse(type="Reject"),
            ),
        ),
    )


def test_acknowledged_objects_survive_kill_9(fresh_server_dir: Path) -> None:
    server = ServerProcess(data_dir=fresh_server_dir)
    server.start()
    try:
        fc = flowcontrol(server.api_client())
        acknowledged = {}
        for i in range(20):
            created = fc.create_priority_level_configuration(_level(f"durable-{i}"))
            acknowledged[created.metadata.name] = created.metadata.uid
        last_rv = int(fc.list_priority_level_configuration().metadata.resource_version)
        server.kill()

        server.start()
        fc = flowcontrol(server.api_client())
        stored = fc.list_priority_level_configuration(label_selector="durability=yes")
        assert {o.metadata.name: o.metadata.uid for o in stored.items} == acknowledged

        created = fc.create_priority_level_configuration(_level("durable-after-restart"))
        assert int(created.metadata.resource_version) > last_rv
    finally:
        server.stop()
