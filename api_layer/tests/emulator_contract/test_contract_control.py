"""Contract tests: determinism (X06), stats, call log, reset, clock, behaviour and the control plane."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import NotFound
from databricks.sdk.errors import NotImplemented as SdkNotImplemented
from databricks.sdk.service.sharing import (
    AuthenticationType,
    PermissionsChange,
    SharedDataObject,
    SharedDataObjectUpdate,
    SharedDataObjectUpdateAction,
)

from dbrx_emulator.config import EmulatorConfig
from dbrx_emulator.testing import Emu, EmulatorServer

pytestmark = pytest.mark.contract

UC = "/api/2.1/unity-catalog"


# ---------------------------------------------------------------------------------------------- X06 determinism


def _script(server: EmulatorServer) -> list[bytes]:
    """A fixed call sequence; returns the raw response bodies with the server's own address masked."""
    headers = {"Authorization": f"Bearer {server.token}"}
    steps: list[tuple[str, str, dict[str, object] | None]] = [
        ("POST", f"{UC}/shares", {"name": "s1", "comment": "c"}),
        (
            "PATCH",
            f"{UC}/shares/s1",
            {"updates": [{"action": "ADD", "data_object": {"name": "main.sales.orders"}}]},
        ),
        ("POST", f"{UC}/recipients", {"name": "r1", "authentication_type": "TOKEN"}),
        ("POST", f"{UC}/recipients/r1/rotate-token", {"existing_token_expire_in_seconds": 60}),
        (
            "PATCH",
            f"{UC}/shares/s1/permissions",
            {"changes": [{"principal": "r1", "add": ["SELECT"]}]},
        ),
        ("POST", f"{UC}/catalogs", {"name": "c2"}),
        ("POST", f"{UC}/schemas", {"name": "s", "catalog_name": "c2"}),
        ("GET", f"{UC}/shares/s1?include_shared_data=true", None),
        ("GET", f"{UC}/recipients?max_results=0", None),
        ("GET", f"{UC}/tables/main.sales.orders", None),
        ("GET", f"{UC}/shares/missing", None),
        ("GET", "/api/2.0/preview/scim/v2/Me", None),
    ]
    bodies = []
    with httpx.Client(base_url=server.url, headers=headers, trust_env=False, timeout=5) as client:
        for method, path, body in steps:
            response = client.request(method, path, json=body)
            bodies.append(response.content.replace(server.url.encode(), b"<URL>"))
    return bodies


def test_x06_same_seed_and_calls_give_identical_bodies() -> None:
    config = EmulatorConfig(clock="manual", seed_file="minimal", random_seed=7, port=0)
    with EmulatorServer(config) as one, EmulatorServer(config) as two:
        first, second = _script(one), _script(two)
    assert first == second

    with EmulatorServer(config.model_copy(update={"random_seed": 8})) as other:
        third = _script(other)
    assert third[2] != first[2]  # recipient and token ids come from the seeded `ids` stream
    assert third[0] == first[0]  # no random part in a share


def test_x06_fault_rules_do_not_shift_generated_ids(emu: Emu, emu_client: WorkspaceClient) -> None:
    plain = emu_client.recipients.create("r1", AuthenticationType.TOKEN)
    emu.reset()
    emu.add_fault(operation="catalogs.get", kind="internal", rate=0.5)
    emu.set_latency(distribution="uniform", min_ms=0, max_ms=1)
    with_faults = emu_client.recipients.create("r1", AuthenticationType.TOKEN)
    assert (plain.id, plain.activation_url) == (with_faults.id, with_faults.activation_url)


# ---------------------------------------------------------------------------------------------- stats and call log


def test_stats_count_mutating_calls_and_statuses(emu: Emu, emu_client: WorkspaceClient) -> None:
    emu_client.shares.create("s1")
    emu_client.shares.get("s1")
    with pytest.raises(NotFound):
        emu_client.shares.get("s2")
    emu_client.recipients.create("r1", AuthenticationType.TOKEN)
    emu_client.recipients.rotate_token("r1", existing_token_expire_in_seconds=0)
    emu_client.shares.update_permissions(
        "s1", changes=[PermissionsChange(principal="r1", add=["SELECT"])]
    )
    emu_client.shares.delete("s1")

    stats = emu.stats()
    get = stats["operations"]["shares.get"]
    assert get == {
        "method": "GET",
        "path": f"{UC}/shares/{{name}}",
        "count": 2,
        "mutating": False,
        "statuses": {"200": 1, "404": 1},
        "faults": {},
    }
    assert stats["operations"]["recipients.rotate_token"]["mutating"] is True
    assert stats["mutating_total"] == emu.mutating_total() == 5
    assert stats["total"] == 8  # with the client's host-metadata probe
    assert stats["since"] == "2026-01-01T00:00:00.000Z"

    emu.reset_stats()
    assert emu.stats()["total"] == 0
    assert emu.calls() == []


def test_a_second_identical_read_pass_makes_no_mutating_calls(
    emu: Emu, emu_client: WorkspaceClient
) -> None:
    emu_client.shares.create("s1")
    emu.reset_stats()

    emu_client.shares.get("s1", include_shared_data=True)
    list(emu_client.shares.list_shares())

    assert emu.mutating_total() == 0
    assert emu.count("shares.get") == 1


def test_call_log_records_request_shapes(emu: Emu, emu_client: WorkspaceClient) -> None:
    emu_client.shares.create("s1")
    update = SharedDataObjectUpdate(
        action=SharedDataObjectUpdateAction.ADD,
        data_object=SharedDataObject(name="main.sales.orders"),
    )
    emu_client.shares.update("s1", updates=[update])

    (call,) = emu.calls("shares.update")
    assert call["method"] == "PATCH"
    assert call["path"] == f"{UC}/shares/s1"
    assert call["body"] == {
        "updates": [{"action": "ADD", "data_object": {"name": "main.sales.orders"}}]
    }
    assert call["status"] == 200
    assert call["applied"] is True
    assert call["at"] == "2026-01-01T00:00:00.000Z"
    assert "databricks-sdk-py/0.162.0" in call["headers"]["user_agent"]
    assert [c["operation"] for c in emu.calls("shares.*")] == ["shares.create", "shares.update"]
    first_seq = emu.calls()[0]["seq"]
    assert [c["operation"] for c in emu.calls(since_seq=first_seq + 1)] == ["shares.update"]
    assert emu.calls(method="POST")[0]["operation"] == "shares.create"


@pytest.mark.emulator_unserved_ok
def test_unserved_routes_answer_not_implemented(emu: Emu, emu_client: WorkspaceClient) -> None:
    """501 NOT_IMPLEMENTED, not a 404 a client would take for "object missing" (docs/EMULATOR.md §6)."""
    with pytest.raises(SdkNotImplemented) as caught:
        emu_client.api_client.do("POST", f"{UC}/catalogs/main/rename")
    assert not isinstance(caught.value, NotFound)
    assert caught.value.error_code == "NOT_IMPLEMENTED"
    assert str(caught.value) == f"The emulator does not implement 'POST {UC}/catalogs/main/rename'."
    response = httpx.get(f"{emu.url}/not/an/api", trust_env=False)
    assert response.status_code == 501
    assert response.json()["error_code"] == "NOT_IMPLEMENTED"
    assert emu.count("unknown") == 2


# ---------------------------------------------------------------------------------------------- reset, clock, behaviour


def test_reset_restores_state_and_clock_and_keeps_what_is_asked(
    emu: Emu, emu_client: WorkspaceClient
) -> None:
    emu_client.shares.create("s1")
    emu.advance(60_000)
    emu.add_fault(operation="catalogs.get", kind="internal")
    emu.set_behaviour(already_exists_status=409)

    emu.reset(keep_faults=True)

    assert [s.name for s in emu_client.shares.list_shares()] == []
    assert emu.now() == "2026-01-01T00:00:00.000Z"
    assert len(emu.faults()) == 1
    assert emu.behaviour()["already_exists_status"] == 400
    emu.reset()
    assert emu.faults() == []


def test_reset_reports_seed_problems_with_paths(emu: Emu) -> None:
    response = emu.control.post(
        "/reset",
        json={
            "seed": {
                "catalogs": [
                    {
                        "name": "c",
                        "schemas": [{"name": "s", "tables": [{"name": "t", "table_typ": "VIEW"}]}],
                    }
                ],
                "shares": [{"name": "sh", "grants": [{"principal": "ghost"}]}],
            }
        },
    )
    assert response.status_code == 400
    problems = response.json()["problems"]
    assert any(p.startswith("catalogs[0].schemas[0].tables[0].table_typ:") for p in problems)
    assert emu.control.get("/health").json()["seed"] == "minimal"  # the old state stays


def test_clock_advance_settle_and_errors(emu: Emu) -> None:
    assert emu.advance(1500) == emu.now_ms()
    moved = emu.control.post("/clock/advance", json={"to": "2026-01-02T00:00:00Z"}).json()
    assert moved["now"] == "2026-01-02T00:00:00.000Z"
    assert (
        emu.control.post("/clock/advance", json={"to": "2025-01-01T00:00:00Z"}).status_code == 400
    )
    assert (
        emu.control.post("/clock/advance", json={"ms": 1, "to": "2026-01-03T00:00:00Z"}).status_code
        == 400
    )
    assert emu.settle() == moved["now_ms"]  # nothing active: the clock does not move


def test_behaviour_patch_validates_and_merges(emu: Emu) -> None:
    merged = emu.set_behaviour(page_sizes={"uc": 7}, simulation={"step_ms": 50})
    assert merged["page_sizes"]["uc"] == 7
    assert merged["page_sizes"]["pipelines"] == 25
    assert merged["simulation"]["step_ms"] == 50
    response = emu.control.patch("/behaviour", json={"already_exists_status": 418})
    assert response.status_code == 400
    assert response.json()["problems"][0].startswith("already_exists_status")
    assert emu.behaviour()["already_exists_status"] == 400


def test_health_and_state(emu: Emu) -> None:
    health = emu.control.get("/health").json()
    assert health["ok"] is True
    assert health["clock"] == {
        "mode": "manual",
        "now": "2026-01-01T00:00:00.000Z",
        "now_ms": 1767225600000,
    }
    state = emu.state()
    assert [c["name"] for c in state["unity_catalog"]["catalogs"]] == ["main", "share_cat"]
    assert state["sharing"] == {"shares": [], "recipients": []}


def test_control_token_protects_the_control_plane() -> None:
    config = EmulatorConfig(clock="manual", seed_file="minimal", control_token="ctl", port=0)
    with EmulatorServer(config) as server:
        assert server.control.get("/health").status_code == 200
        anonymous = httpx.get(f"{server.url}/_emulator/health", trust_env=False)
        assert anonymous.status_code == 401


# ---------------------------------------------------------------------------------------------- CLI


def _start_cli(*args: str) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "NO_PROXY": "127.0.0.1", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "dbrx_emulator", "--port", "0", "--log-level", "warning", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    return process, line


@pytest.mark.slow
def test_cli_prints_the_url_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    process, line = _start_cli(
        "--seed-file", "minimal", "--clock", "manual", "--token", "t1", "--latency-ms", "1"
    )
    try:
        assert line.startswith("DBRX_EMULATOR_URL=http://127.0.0.1:")
        url = line.split("=", 1)[1]
        health = httpx.get(f"{url}/_emulator/health", trust_env=False, timeout=5).json()
        assert health["clock"]["mode"] == "manual"
        shares = httpx.get(
            f"{url}{UC}/shares", headers={"Authorization": "Bearer t1"}, trust_env=False, timeout=5
        )
        assert shares.json() == {"shares": []}
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            returncode = process.wait(timeout=10)
        finally:
            if process.poll() is None:
                process.kill()
    assert returncode == 0


def test_cli_refuses_non_loopback_and_bad_seeds(tmp_path: Path) -> None:
    refused = subprocess.run(
        [sys.executable, "-m", "dbrx_emulator", "--host", "0.0.0.0", "--port", "0"],  # noqa: S104
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert refused.returncode == 2
    assert "--allow-non-loopback" in refused.stderr

    bad_seed = tmp_path / "seed.yaml"
    bad_seed.write_text("catalogs:\n  - name: c\n    colour: red\n")
    started = time.monotonic()
    rejected = subprocess.run(
        [sys.executable, "-m", "dbrx_emulator", "--port", "0", "--seed-file", str(bad_seed)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert rejected.returncode == 2
    assert "catalogs[0].colour" in rejected.stderr
    assert time.monotonic() - started < 30
