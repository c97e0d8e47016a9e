"""The whole share-pack flow through HTTP: upload → in-process worker → Databricks (emulator) → status, history,
re-run without calls, plan and drift (issue 5 must-shows, at the API boundary)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from databricks.sdk import WorkspaceClient
from fastapi.testclient import TestClient

from fixtures.orchestrator import sample_pack

pytestmark = pytest.mark.integration

UPLOAD = "/workflow/sharepack/upload_and_validate"
FINAL = {"COMPLETED", "FAILED", "REJECTED", "SUPERSEDED", "PENDING_APPROVAL"}


def upload(client: TestClient, text: str) -> dict[str, Any]:
    response = client.post(
        UPLOAD, files={"file": ("sales.yaml", text.encode(), "application/x-yaml")}
    )
    assert response.status_code in (200, 202), response.text
    return dict(response.json())


def wait_final(client: TestClient, status_url: str, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        status = dict(client.get(status_url).json())
        if status["status"] in FINAL:
            return status
        assert time.monotonic() < deadline, (
            f"still {status['status']}: {status.get('status_detail')}"
        )
        time.sleep(0.1)


def plan(client: TestClient, text: str, **params: Any) -> dict[str, Any]:
    response = client.post(
        "/workflow/sharepack/plan",
        files={"file": ("sales.yaml", text.encode(), "application/x-yaml")},
        params=params,
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_upload_provisions_then_reruns_without_calls(
    workflow_api: Callable[..., TestClient], emu: Any, emu_client: WorkspaceClient
) -> None:
    client = workflow_api(inline=True)
    pack = sample_pack(emu.url)

    before = plan(client, pack)
    assert before["valid"] is True
    assert before["summary"]["create"] > 0
    assert before["summary"]["mutating_calls"] > 0
    assert emu.mutating_total() == 0  # planning changes nothing

    accepted = upload(client, pack)
    status = wait_final(client, accepted["status_url"])
    assert status["status"] == "COMPLETED", status
    assert status["latest_run"]["steps"]["failed"] == 0
    assert {r.name for r in emu_client.recipients.list()} >= {"partner_analytics", "acme_external"}
    objects = {
        o.name for o in emu_client.shares.get("sales_share", include_shared_data=True).objects or []
    }
    assert objects == {"main.sales.orders", "main.sales.order_items", "main.sales.v_orders"}
    grants = emu_client.shares.share_permissions("sales_share").privilege_assignments or []
    assert {g.principal for g in grants} == {"partner_analytics", "acme_external"}
    assert [p.name for p in emu_client.pipelines.list_pipelines() if p.name == "sales_orders_pl"]
    assert [
        j.settings.name for j in emu_client.jobs.list(name="sales_orders_pl_schedule") if j.settings
    ]

    after = plan(client, pack)
    assert after["summary"]["mutating_calls"] == 0
    assert {c["action"] for c in after["changes"]} <= {"no_op"}
    drift = client.get("/workflow/drift", params={"workspace": emu.url}).json()
    assert drift["summary"]["drifted"] == 0
    assert drift["summary"]["missing"] == 0
    assert drift["summary"]["resources"] > 0

    emu.reset_stats()
    rerun = upload(client, pack)
    assert rerun["rerun"] is True
    assert rerun["version"] == accepted["version"]
    assert wait_final(client, rerun["status_url"])["status"] == "COMPLETED"
    assert emu.mutating_total() == 0

    history = client.get(f"/workflow/sharepack/{accepted['share_pack_id']}/history").json()
    runs = history["versions"][0]["runs"]
    assert len(runs) == 2
    assert runs[1]["mutating_calls"] == 0
    assert all(step["outcome"] in {"SUCCEEDED", "NOOP"} for run in runs for step in run["steps"])


def test_drift_reports_a_changed_ip_list(
    workflow_api: Callable[..., TestClient], emu: Any, emu_client: WorkspaceClient
) -> None:
    from databricks.sdk.service.sharing import IpAccessList

    client = workflow_api(inline=True)
    accepted = upload(client, sample_pack(emu.url))
    assert wait_final(client, accepted["status_url"])["status"] == "COMPLETED"
    emu_client.recipients.update(
        "acme_external", ip_access_list=IpAccessList(allowed_ip_addresses=["192.0.2.0/24"])
    )
    drift = client.get("/workflow/drift", params={"workspace": emu.url}).json()
    drifted = [i for i in drift["items"] if i["state"] == "drifted"]
    assert [(i["resource_type"], i["name"]) for i in drifted] == [("recipient", "acme_external")]
    unlisted = client.get(
        "/workflow/drift", params={"workspace": "https://adb-9.9.azuredatabricks.net"}
    )
    assert (unlisted.status_code, unlisted.json()["code"]) == (403, "workspace_not_allowed")


def test_offline_plan_makes_no_call(workflow_api: Callable[..., TestClient], emu: Any) -> None:
    client = workflow_api()
    emu.reset_stats()
    body = plan(client, sample_pack(emu.url), offline=True)
    assert body["valid"] is True
    assert "changes" not in body or body["changes"] is None
    assert emu.stats()["total"] == 0
