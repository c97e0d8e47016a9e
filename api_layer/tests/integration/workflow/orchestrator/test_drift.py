"""`detect_drift` against the emulator: recorded vs live, managed fields only, reads only (docs/WORKFLOW.md §11)."""

from __future__ import annotations

import uuid

import pytest
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
from dbrx_emulator.testing import Emu
from fixtures.orchestrator import provision, sample_pack, store_yaml

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
