"""`detect_drift` against the emulator: recorded vs live, managed fields only, reads only (docs/WORKFLOW.md §11)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.service.jobs import JobSettings, PipelineTask, Task
from databricks.sdk.service.pipelines import PipelineSpec
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
from fixtures.postgres import StoredPack

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


def provisioned(ctx: WorkflowContext, emu: Emu) -> tuple[str, StoredPack]:
    """The sample pack provisioned: its text and stored version."""
    text = sample_pack(emu.url)
    stored = store_yaml(ctx.pool, text)
    assert provision(ctx, stored).outcome.result == "COMPLETED"
    return text, stored


Keyed = dict[tuple[str, str], dict[str, Any]]


def plan_and_drift(
    ctx: WorkflowContext, emu: Emu, text: str, stored: StoredPack
) -> tuple[Keyed, Keyed]:
    """What a plan of the same pack would change and what drift finds, by (resource type, name); drift's items as
    the API serves them (JSON)."""
    plan = plan_pack(ctx, load_yaml(text), principal_id="user-1").body()
    body = detect_drift(ctx, emu.url, share_pack_id=stored.share_pack_id).body()
    changes = {(c["resource_type"], c["name"]): c for c in plan["changes"]}
    items = {(i["resource_type"], i["name"]): json.loads(json.dumps(i)) for i in body["items"]}
    return changes, items


def edit_pipeline_by_hand(ws: WorkspaceClient, name: str, **changes: Any) -> PipelineSpec:
    """Edit pipeline `name` as someone would in the workspace (a full edit with `changes`); its spec before."""
    (listed,) = [p for p in ws.pipelines.list_pipelines() if p.name == name]
    spec = ws.pipelines.get(listed.pipeline_id or "").spec
    assert spec is not None
    ws.api_client.do(
        "PUT",
        f"/api/2.0/pipelines/{listed.pipeline_id}",
        body={**spec.as_dict(), "id": listed.pipeline_id, **changes},
    )
    return spec


def reset_schedule_task(ws: WorkspaceClient, task: Callable[[Task], Task]) -> Task:
    """Replace the pipeline task of the sample pack's schedule job by `task(old)` by hand; the old task."""
    (listed,) = ws.jobs.list(name="sales_orders_pl_schedule", expand_tasks=True)
    assert listed.settings is not None
    (old,) = listed.settings.tasks or []
    assert old.pipeline_task is not None
    settings = {**listed.settings.as_dict(), "tasks": [task(old).as_dict()]}
    ws.jobs.reset(listed.job_id or 0, new_settings=JobSettings.from_dict(settings))
    return old


def test_a_changed_partition_filter_is_reported(orch_ctx: WorkflowContext, orch_emu: Emu) -> None:
    # The pack shares main.sales.orders with region = emea; a hand change to apac is drift as it is a plan change.
    _, stored = provisioned(orch_ctx, orch_emu)
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


SCHEDULE = ("schedule", "sales_orders_pl_schedule")
PIPELINE = ("pipeline", "sales_orders_pl")


def test_a_schedule_job_set_to_full_refresh_is_reported(
    orch_ctx: WorkflowContext, orch_emu: Emu
) -> None:
    # A full refresh on every scheduled run recomputes the target from the source (an SCD 2 history is lost): the
    # plan changes it back, so drift reports it.
    text, stored = provisioned(orch_ctx, orch_emu)
    reset_schedule_task(
        orch_emu.workspace_client(),
        lambda old: Task(
            task_key=old.task_key,
            pipeline_task=PipelineTask(
                pipeline_id=old.pipeline_task.pipeline_id if old.pipeline_task else "",
                full_refresh=True,
            ),
        ),
    )

    changes, items = plan_and_drift(orch_ctx, orch_emu, text, stored)

    assert changes[SCHEDULE]["action"] == "update"
    assert items[SCHEDULE]["differences"] == [
        {"field": "full_refresh", "recorded": False, "live": True}
    ]


def test_a_schedule_task_renamed_by_hand_is_reported(
    orch_ctx: WorkflowContext, orch_emu: Emu
) -> None:
    # The plan reads and sets the task named by the configured `task_key`; a job that runs the pipeline under another
    # key gets that task back, so drift reads the same task.
    text, stored = provisioned(orch_ctx, orch_emu)
    old = reset_schedule_task(
        orch_emu.workspace_client(),
        lambda old: Task(task_key="by_hand", pipeline_task=old.pipeline_task),
    )
    assert old.task_key == orch_ctx.settings.databricks.schedules.task_key
    pipeline_id = old.pipeline_task.pipeline_id if old.pipeline_task else None

    changes, items = plan_and_drift(orch_ctx, orch_emu, text, stored)

    assert changes[SCHEDULE]["diff"] == {"tasks": {"from": None, "to": pipeline_id}}
    assert items[SCHEDULE]["differences"] == [
        {"field": "pipeline_id", "recorded": pipeline_id, "live": None}
    ]


def test_a_pipeline_library_changed_by_hand_is_reported(
    orch_ctx: WorkflowContext, orch_emu: Emu
) -> None:
    # The library is the code that writes the shared table: the plan sets it back, so drift reports it.
    text, stored = provisioned(orch_ctx, orch_emu)
    other = "/Workspace/Users/someone@example.com/loader.py"
    before = edit_pipeline_by_hand(
        orch_emu.workspace_client(), "sales_orders_pl", libraries=[{"file": {"path": other}}]
    )
    (library,) = before.libraries or []
    assert library.file is not None

    changes, items = plan_and_drift(orch_ctx, orch_emu, text, stored)

    assert set(changes[PIPELINE]["diff"]) == {"libraries"}
    assert items[PIPELINE]["differences"] == [
        {"field": "libraries", "recorded": [["file", library.file.path]], "live": [["file", other]]}
    ]


def test_a_pipeline_setting_changed_by_hand_is_reported(
    orch_ctx: WorkflowContext, orch_emu: Emu
) -> None:
    # `pipelines.delete_expr` and `root_path` come from the settings, not the row: the plan sets them back, so drift
    # compares them with what the current settings would set (docs/WORKFLOW.md §11).
    text, stored = provisioned(orch_ctx, orch_emu)
    untouched = detect_drift(orch_ctx, orch_emu.url, share_pack_id=stored.share_pack_id).body()
    assert untouched["summary"]["in_sync"] == untouched["summary"]["resources"] == 7
    ws = orch_emu.workspace_client()
    (listed,) = [p for p in ws.pipelines.list_pipelines() if p.name == "sales_orders_pl"]
    spec = ws.pipelines.get(listed.pipeline_id or "").spec
    assert spec is not None
    configuration = dict(spec.configuration or {})
    settings = orch_ctx.settings.databricks.pipelines
    assert configuration["pipelines.delete_expr"] == settings.delete_expr
    before = edit_pipeline_by_hand(
        ws,
        "sales_orders_pl",
        configuration={**configuration, "pipelines.delete_expr": "false"},
        root_path="/Workspace/Users/someone@example.com",
    )
    assert before.root_path == settings.root_path is None

    changes, items = plan_and_drift(orch_ctx, orch_emu, text, stored)

    wanted = {
        "pipelines.sequence_by": settings.sequence_by,
        "pipelines.delete_expr": settings.delete_expr,
    }
    diff = changes[PIPELINE]["diff"]
    assert diff["configuration"]["to"] == wanted
    assert diff["root_path"]["to"] is None
    assert set(diff) == {"configuration", "root_path"}
    assert [key for key, item in items.items() if item["state"] == "drifted"] == [PIPELINE]
    assert items[PIPELINE]["differences"] == [
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
