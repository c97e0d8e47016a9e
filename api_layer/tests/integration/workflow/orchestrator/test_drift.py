"""`detect_drift` against the emulator: recorded vs live, managed fields only, reads only (docs/WORKFLOW.md §11)."""

from __future__ import annotations

import json
import uuid

import pytest
from databricks.sdk.service.jobs import JobSettings, PipelineTask, Task
from databricks.sdk.service.sharing import (
    IpAccessList,
    Partition,
    PartitionValue,
    PartitionValueOp,
    PermissionsChange,
    SharedDataObject,
    SharedDataObjectUpdate,
    SharedDataObjectUpdateAction,
)

from dbrx_api.errors import ForbiddenError
from dbrx_api.workflow.context import WorkflowContext
from dbrx_api.workflow.orchestrator.drift import detect_drift
from dbrx_api.workflow.orchestrator.plan import plan_pack
from dbrx_emulator.testing import Emu
from fixtures.orchestrator import load_yaml, provision, sample_pack, store_yaml

pytestmark = pytest.mark.integration


def test_a_changed_ip_list_and_a_deleted_pipeline_are_reported(
    orch_ctx: WorkflowContext, orch_emu: Emu
) -> None:
    stored = store_yaml(orch_ctx.pool, sample_pack(orch_emu.url))
    assert provision(orch_ctx, stored).outcome.result == "COMPLETED"
    clean = detect_drift(orch_ctx, orch_emu.url).body()
    assert clean["summary"] == {
        "resources": 7,  # 2 recipients, 2 shares, 2 pipelines, 1 schedule job
        "in_sync": 7,
        "drifted": 0,
        "missing": 0,
        "error": 0,
    }
    ws = orch_emu.workspace_client()
    ws.recipients.update(
        "acme_external",
        ip_access_list=IpAccessList(allowed_ip_addresses=["198.51.100.7", "192.0.2.0/24"]),
    )
    (items_pipeline,) = [
        p for p in ws.pipelines.list_pipelines() if p.name == "sales_order_items_pl"
    ]
    ws.pipelines.delete(items_pipeline.pipeline_id or "")
    orch_emu.reset_stats()

    report = detect_drift(orch_ctx, orch_emu.url)

    body = report.body()
    assert orch_emu.mutating_total() == 0
    assert body["summary"] == {"resources": 7, "in_sync": 5, "drifted": 1, "missing": 1, "error": 0}
    items = {(i["resource_type"], i["name"]): i for i in body["items"]}
    acme = items[("recipient", "acme_external")]
    assert acme["state"] == "drifted"
    assert acme["share_pack_id"] == str(stored.share_pack_id)
    assert acme["version"] == 1
    assert acme["differences"] == [
        {
            "field": "ip_access_list",
            "unexpected_in_workspace": ["192.0.2.0/24"],
            "missing_in_workspace": ["2001:db8:1234::/48", "203.0.113.0/24"],
        }
    ]
    assert items[("pipeline", "sales_order_items_pl")]["state"] == "missing"
    assert items[("schedule", "sales_orders_pl_schedule")]["state"] == "in_sync"
    assert "tokens" not in str(body)


def test_a_revoked_grant_and_a_removed_object_are_reported(
    orch_ctx: WorkflowContext, orch_emu: Emu
) -> None:
    stored = store_yaml(orch_ctx.pool, sample_pack(orch_emu.url))
    assert provision(orch_ctx, stored).outcome.result == "COMPLETED"
    ws = orch_emu.workspace_client()
    ws.shares.update_permissions(
        "sales_share", changes=[PermissionsChange(principal="acme_external", remove=["SELECT"])]
    )
    ws.shares.update(
        "sales_share",
        updates=[
            SharedDataObjectUpdate(
                action=SharedDataObjectUpdateAction.REMOVE,
                data_object=SharedDataObject(name="main.sales.order_items"),
            )
        ],
    )

    body = detect_drift(orch_ctx, orch_emu.url, share_pack_id=stored.share_pack_id).body()

    items = {(i["resource_type"], i["name"]): i for i in body["items"]}
    assert items[("share", "sales_share")]["differences"] == [
        {
            "field": "objects",
            "unexpected_in_workspace": [],
            "missing_in_workspace": ["main.sales.order_items"],
        },
        {
            "field": "recipients",
            "unexpected_in_workspace": [],
            "missing_in_workspace": ["acme_external"],
        },
    ]
    assert items[("share", "finance_share")]["state"] == "in_sync"


def test_drift_of_another_pack_examines_nothing(orch_ctx: WorkflowContext, orch_emu: Emu) -> None:
    stored = store_yaml(orch_ctx.pool, sample_pack(orch_emu.url))
    assert provision(orch_ctx, stored).outcome.result == "COMPLETED"
    orch_emu.reset_stats()

    body = detect_drift(orch_ctx, orch_emu.url, share_pack_id=uuid.uuid4()).body()

    assert body["items"] == []
    assert orch_emu.stats()["total"] == 0


def test_drift_of_a_workspace_outside_the_allowlist_is_refused(orch_ctx: WorkflowContext) -> None:
    with pytest.raises(ForbiddenError) as caught:
        detect_drift(orch_ctx, "https://adb-9.9.azuredatabricks.net")

    assert caught.value.code == "workspace_not_allowed"


def test_a_changed_partition_filter_is_reported(orch_ctx: WorkflowContext, orch_emu: Emu) -> None:
    # The pack shares main.sales.orders with region = emea; a hand change to apac is drift as it is a plan change.
    stored = store_yaml(orch_ctx.pool, sample_pack(orch_emu.url))
    assert provision(orch_ctx, stored).outcome.result == "COMPLETED"
    ws = orch_emu.workspace_client()
    ws.shares.update(
        "sales_share",
        updates=[
            SharedDataObjectUpdate(
                action=SharedDataObjectUpdateAction.UPDATE,
                data_object=SharedDataObject(
                    name="main.sales.orders",
                    partitions=[
                        Partition(
                            values=[
                                PartitionValue(
                                    name="region", op=PartitionValueOp.EQUAL, value="apac"
                                )
                            ]
                        )
                    ],
                ),
            )
        ],
    )

    body = detect_drift(orch_ctx, orch_emu.url, share_pack_id=stored.share_pack_id).body()

    items = {(i["resource_type"], i["name"]): i for i in body["items"]}
    assert items[("share", "sales_share")]["differences"] == [
        {
            "field": "objects.main.sales.orders.partitions",
            "recorded": [[{"name": "region", "op": "EQUAL", "value": "emea"}]],
            "live": [[{"name": "region", "op": "EQUAL", "value": "apac"}]],
        }
    ]


def test_a_schedule_job_set_to_full_refresh_is_reported(
    orch_ctx: WorkflowContext, orch_emu: Emu
) -> None:
    # A full refresh on every scheduled run recomputes the target from the source (an SCD 2 history is lost): the
    # plan changes it back, so drift reports it.
    text = sample_pack(orch_emu.url)
    stored = store_yaml(orch_ctx.pool, text)
    assert provision(orch_ctx, stored).outcome.result == "COMPLETED"
    ws = orch_emu.workspace_client()
    (listed,) = ws.jobs.list(name="sales_orders_pl_schedule", expand_tasks=True)
    (task,) = (listed.settings.tasks if listed.settings else None) or []
    assert task.pipeline_task is not None
    ws.jobs.update(
        listed.job_id or 0,
        new_settings=JobSettings(
            tasks=[
                Task(
                    task_key=task.task_key,
                    pipeline_task=PipelineTask(
                        pipeline_id=task.pipeline_task.pipeline_id, full_refresh=True
                    ),
                )
            ]
        ),
    )

    plan = plan_pack(orch_ctx, load_yaml(text), principal_id="user-1").body()
    body = detect_drift(orch_ctx, orch_emu.url, share_pack_id=stored.share_pack_id).body()

    (schedule,) = [c for c in plan["changes"] if c["resource_type"] == "schedule"]
    assert schedule["action"] == "update"
    items = {(i["resource_type"], i["name"]): i for i in body["items"]}
    assert items[("schedule", "sales_orders_pl_schedule")]["differences"] == [
        {"field": "full_refresh", "recorded": False, "live": True}
    ]


def test_a_schedule_task_renamed_by_hand_is_reported(
    orch_ctx: WorkflowContext, orch_emu: Emu
) -> None:
    # The plan reads and sets the task named by the configured `task_key`; a job that runs the pipeline under another
    # key gets that task back, so drift reads the same task.
    text = sample_pack(orch_emu.url)
    stored = store_yaml(orch_ctx.pool, text)
    assert provision(orch_ctx, stored).outcome.result == "COMPLETED"
    ws = orch_emu.workspace_client()
    (listed,) = ws.jobs.list(name="sales_orders_pl_schedule", expand_tasks=True)
    assert listed.settings is not None
    (task,) = listed.settings.tasks or []
    assert task.pipeline_task is not None
    assert task.task_key == orch_ctx.settings.databricks.schedules.task_key
    pipeline_id = task.pipeline_task.pipeline_id
    renamed = Task(task_key="by_hand", pipeline_task=PipelineTask(pipeline_id=pipeline_id))
    ws.jobs.reset(
        listed.job_id or 0,
        new_settings=JobSettings.from_dict(
            {**listed.settings.as_dict(), "tasks": [renamed.as_dict()]}
        ),
    )

    plan = plan_pack(orch_ctx, load_yaml(text), principal_id="user-1").body()
    body = detect_drift(orch_ctx, orch_emu.url, share_pack_id=stored.share_pack_id).body()

    (schedule,) = [c for c in plan["changes"] if c["resource_type"] == "schedule"]
    assert schedule["diff"] == {"tasks": {"from": None, "to": pipeline_id}}
    items = {(i["resource_type"], i["name"]): i for i in body["items"]}
    assert items[("schedule", "sales_orders_pl_schedule")]["differences"] == [
        {"field": "pipeline_id", "recorded": pipeline_id, "live": None}
    ]


def test_a_pipeline_library_changed_by_hand_is_reported(
    orch_ctx: WorkflowContext, orch_emu: Emu
) -> None:
    # The library is the code that writes the shared table: the plan sets it back, so drift reports it.
    text = sample_pack(orch_emu.url)
    stored = store_yaml(orch_ctx.pool, text)
    assert provision(orch_ctx, stored).outcome.result == "COMPLETED"
    ws = orch_emu.workspace_client()
    (listed,) = [p for p in ws.pipelines.list_pipelines() if p.name == "sales_orders_pl"]
    live = ws.pipelines.get(listed.pipeline_id or "")
    assert live.spec is not None
    (library,) = live.spec.libraries or []
    assert library.file is not None
    recorded_path = library.file.path
    other = "/Workspace/Users/someone@example.com/loader.py"
    ws.api_client.do(
        "PUT",
        f"/api/2.0/pipelines/{listed.pipeline_id}",
        body={
            **live.spec.as_dict(),
            "id": listed.pipeline_id,
            "libraries": [{"file": {"path": other}}],
        },
    )

    plan = plan_pack(orch_ctx, load_yaml(text), principal_id="user-1").body()
    body = detect_drift(orch_ctx, orch_emu.url, share_pack_id=stored.share_pack_id).body()

    (change,) = [
        c
        for c in plan["changes"]
        if c["resource_type"] == "pipeline" and c["name"] == "sales_orders_pl"
    ]
    assert set(change["diff"]) == {"libraries"}
    items = {(i["resource_type"], i["name"]): i for i in body["items"]}
    differences = json.loads(json.dumps(items[("pipeline", "sales_orders_pl")]["differences"]))
    assert differences == [
        {"field": "libraries", "recorded": [["file", recorded_path]], "live": [["file", other]]}
    ]


def test_a_pipeline_setting_changed_by_hand_is_reported(
    orch_ctx: WorkflowContext, orch_emu: Emu
) -> None:
    # `pipelines.delete_expr` and `root_path` come from the settings, not the row: the plan sets them back, so drift
    # compares them with what the current settings would set (docs/WORKFLOW.md §11).
    text = sample_pack(orch_emu.url)
    stored = store_yaml(orch_ctx.pool, text)
    assert provision(orch_ctx, stored).outcome.result == "COMPLETED"
    untouched = detect_drift(orch_ctx, orch_emu.url, share_pack_id=stored.share_pack_id).body()
    assert untouched["summary"]["in_sync"] == untouched["summary"]["resources"] == 7
    ws = orch_emu.workspace_client()
    (listed,) = [p for p in ws.pipelines.list_pipelines() if p.name == "sales_orders_pl"]
    live = ws.pipelines.get(listed.pipeline_id or "")
    assert live.spec is not None
    configuration = dict(live.spec.configuration or {})
    settings = orch_ctx.settings.databricks.pipelines
    assert configuration["pipelines.delete_expr"] == settings.delete_expr
    assert live.spec.root_path == settings.root_path is None
    by_hand = {**configuration, "pipelines.delete_expr": "false"}
    ws.api_client.do(
        "PUT",
        f"/api/2.0/pipelines/{listed.pipeline_id}",
        body={
            **live.spec.as_dict(),
            "id": listed.pipeline_id,
            "configuration": by_hand,
            "root_path": "/Workspace/Users/someone@example.com",
        },
    )

    plan = plan_pack(orch_ctx, load_yaml(text), principal_id="user-1").body()
    body = detect_drift(orch_ctx, orch_emu.url, share_pack_id=stored.share_pack_id).body()

    (change,) = [
        c
        for c in plan["changes"]
        if c["resource_type"] == "pipeline" and c["name"] == "sales_orders_pl"
    ]
    wanted = {
        "pipelines.sequence_by": settings.sequence_by,
        "pipelines.delete_expr": settings.delete_expr,
    }
    assert change["diff"]["configuration"]["to"] == wanted
    assert change["diff"]["root_path"]["to"] is None
    assert set(change["diff"]) == {"configuration", "root_path"}
    assert body["summary"]["drifted"] == 1
    items = {(i["resource_type"], i["name"]): i for i in body["items"]}
    differences = json.loads(json.dumps(items[("pipeline", "sales_orders_pl")]["differences"]))
    assert differences == [
        {
            "field": "root_path",
            "recorded": None,
            "live": "/Workspace/Users/someone@example.com",
        },
        {
            "field": "configuration",
            "recorded": wanted,
            "live": {**wanted, "pipelines.delete_expr": "false"},
        },
    ]
