"""The bench's server helpers, on real servers where they need one."""

from __future__ import annotations

from pathlib import Path

from bench.servers import (
    Server,
    _flow_schemas,
    _has_dangling,
    copy_flow_schema_statuses,
    running,
    start_apf,
    wait_for_dangling_conditions,
)


def _conditions(server: Server) -> dict[str, list[tuple[str, str]]]:
    return {
        fs["metadata"]["name"]: [
            (c["type"], c["status"]) for c in fs.get("status", {}).get("conditions", [])
        ]
        for fs in _flow_schemas(server)
    }


def test_the_apf_off_server_gets_the_conditions_the_controller_wrote(tmp_path: Path) -> None:
    with (
        running(start_apf(tmp_path / "on", apf_enabled=True)) as on,
        running(start_apf(tmp_path / "off", apf_enabled=False)) as off,
    ):
        wait_for_dangling_conditions(on)
        before = _conditions(off)
        copy_flow_schema_statuses(on, off)
        after, expected = _conditions(off), _conditions(on)

    assert all(not conditions for conditions in before.values())
    assert after == expected
    assert all(("Dangling", "False") in conditions for conditions in after.values())


def test_only_a_dangling_condition_counts() -> None:
    dangling = {"type": "Dangling", "status": "False"}

    assert _has_dangling({"status": {"conditions": [{"type": "Other"}, dangling]}})
    assert not _has_dangling({"status": {"conditions": [{"type": "Other"}]}})
    assert not _has_dangling({"status": {}})
    assert not _has_dangling({})
