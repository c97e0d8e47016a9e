"""Export of live resources as a share pack, and the round trip that is its oracle (docs/WORKFLOW.md §13).

export → fill the placeholders → validate → plan (no change) → apply (zero mutating calls) → export again (the same
document), in YAML and in Excel, against the emulator driven by the real databricks-sdk and real PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from databricks.sdk import WorkspaceClient
from databricks.sdk.service.sharing import (
    AuthenticationType,
    IpAccessList,
    PermissionsChange,
    SharedDataObject,
    SharedDataObjectDataObjectType,
    SharedDataObjectHistoryDataSharingStatus,
    SharedDataObjectUpdate,
    SharedDataObjectUpdateAction,
)

from dbrx_api.settings import UploadSettings
from dbrx_api.workflow.context import WorkflowContext
from dbrx_api.workflow.export import ExportRequest, ExportResult, export_workspace
from dbrx_api.workflow.models.errors import SharePackInvalid
from dbrx_api.workflow.models.pack import PLACEHOLDER
from dbrx_api.workflow.orchestrator.plan import plan_pack
from dbrx_api.workflow.sharepack import load_sharepack
from dbrx_emulator.testing import Emu
from fixtures.export import fill_workbook, filled, no_changes
from fixtures.orchestrator import (
    D2D_ORG,
    load_yaml,
    provision,
    sample_pack,
    second_version,
    store_yaml,
    views_pack,
)

pytestmark = pytest.mark.integration

JANE = {
    "requestor": ["jane.doe@example.com"],
    "project_name": "sales-insights",
    "business_line": "Retail Analytics",
}


def export(ctx: WorkflowContext, emu: Emu, **request: Any) -> ExportResult:
    return export_workspace(ctx, emu.url, ExportRequest(**request))


def test_export_of_an_applied_example_plans_no_change_and_exports_the_same_again(
    orch_ctx: WorkflowContext, orch_emu: Emu
) -> None:
    stored = store_yaml(orch_ctx.pool, sample_pack(orch_emu.url))
    assert provision(orch_ctx, stored).outcome.result == "COMPLETED"
    orch_emu.reset_stats()

    first = export(orch_ctx, orch_emu, shares=("sales_share", "finance_share"))

    assert first.mutating_calls == 0
    assert orch_emu.mutating_total() == 0
    text = first.yaml()
    assert "activation" not in text.lower()
    assert "bearer" not in text.lower()
    document = yaml.safe_load(text)
    assert document["metadata"]["strategy"] == "NEW"
    assert [r["name"] for r in document["recipient"]] == ["acme_external", "partner_analytics"]
    sales = next(s for s in document["share"] if s["name"] == "sales_share")
    assert [p["name_prefix"] for p in sales["pipelines"]] == [
        "sales_order_items_pl",
        "sales_orders_pl",
    ]
    # The token expiry is a fixed date live and days-from-provisioning in a pack: a located warning.
    assert any(
        w.code == "export_expiry_unmanaged" and w.loc == "recipient[0]" for w in first.warnings
    )

    # Every exported resource is the applied pack's: each says so, at its entry.
    managed = {w.loc for w in first.warnings if w.code == "export_managed_by_pack"}
    assert {"recipient[0]", "recipient[1]", "share[0]", "share[1]"} <= managed
    assert any(".pipelines[" in loc for loc in managed)
    assert all(
        "retail analytics/sales-insights/jane.doe@example.com" in w.msg
        for w in first.warnings
        if w.code == "export_managed_by_pack"
    )

    # Unfilled, the document is refused at each placeholder.
    with pytest.raises(SharePackInvalid) as refused:
        load_yaml(text)
    codes = {issue.type for issue in refused.value.issues}
    assert codes == {"placeholder_unfilled"}
    assert any(issue.loc == "metadata.servicenow" and issue.line for issue in refused.value.issues)

    # Filled as the pack that made the resources: the plan changes nothing.
    pack = load_yaml(filled(text, **JANE, strategy="UPDATE"))
    body = plan_pack(orch_ctx, pack, principal_id="user-1").body()
    no_changes(body)
    assert orch_emu.mutating_total() == 0

    # Export again: the same document, YAML and Excel.
    second = export(orch_ctx, orch_emu, shares=("finance_share", "sales_share"))
    assert second.yaml() == text
    assert second.xlsx() == first.xlsx()
    # The workbook holds the same pack: filled the same way, both front ends give one model.
    with pytest.raises(SharePackInvalid) as refused_xlsx:
        load_sharepack("pack.xlsx", first.xlsx(), UploadSettings(), allow_local_urls=True)
    assert {i.loc for i in refused_xlsx.value.issues} == {i.loc for i in refused.value.issues}
    assert all(i.cell for i in refused_xlsx.value.issues)
    from_yaml = load_yaml(text.replace(PLACEHOLDER, "owner@example.com"))
    from_xlsx = load_sharepack(
        "pack.xlsx", fill_workbook(first.xlsx()), UploadSettings(), allow_local_urls=True
    )
    assert from_xlsx.record_hash == from_yaml.record_hash


@pytest.mark.parametrize("example", ["second_version", "views"])
def test_other_example_packs_applied_then_exported_plan_no_change(
    orch_ctx: WorkflowContext, orch_emu: Emu, example: str
) -> None:
    if example == "views":
        text = views_pack(
            orch_emu.url,
            {
                "views_a": ["main.sales.v_orders"],
                "views_b": ["main.sales.v_orders"],
            },
            recipients=("bulk_partner", "other_partner"),
        )
        names: tuple[str, ...] = ("views_a", "views_b")
    else:
        text = second_version(orch_emu.url)
        names = ("sales_share", "finance_share")
    stored = store_yaml(orch_ctx.pool, text)
    assert provision(orch_ctx, stored).outcome.result == "COMPLETED"

    first = export(orch_ctx, orch_emu, shares=names)
    body = plan_pack(
        orch_ctx, load_yaml(filled(first.yaml(), **JANE, strategy="UPDATE")), principal_id="user-1"
    ).body()
    no_changes(body)
    again = export(orch_ctx, orch_emu, shares=names)
    assert again.yaml() == first.yaml()
    assert again.xlsx() == first.xlsx()


def by_hand(ws: WorkspaceClient) -> None:
    """Resources made without DeltaShare: two recipients, a share of a view and a schema, grants."""
    ws.recipients.create(
        "hand_d2d",
        AuthenticationType.DATABRICKS,
        data_recipient_global_metastore_id=D2D_ORG,
        comment="made by hand",
    )
    ws.recipients.create(
        "hand_d2o",
        AuthenticationType.TOKEN,
        ip_access_list=IpAccessList(allowed_ip_addresses=["192.0.2.0/24", "198.51.100.7"]),
    )
    ws.shares.create("hand_share", comment="hand share")
    ws.shares.update(
        "hand_share",
        updates=[
            SharedDataObjectUpdate(
                action=SharedDataObjectUpdateAction.ADD,
                data_object=SharedDataObject(
                    name="main.sales.v_orders",
                    data_object_type=SharedDataObjectDataObjectType.VIEW,
                    shared_as="curated.v_orders",
                    history_data_sharing_status=SharedDataObjectHistoryDataSharingStatus.ENABLED,
                    comment="orders view",
                ),
            ),
            SharedDataObjectUpdate(
                action=SharedDataObjectUpdateAction.ADD,
                data_object=SharedDataObject(
                    name="main.finance", data_object_type=SharedDataObjectDataObjectType.SCHEMA
                ),
            ),
        ],
    )
    ws.shares.update_permissions(
        "hand_share",
        changes=[
            PermissionsChange(principal="hand_d2d", add=["SELECT"]),
            PermissionsChange(principal="hand_d2o", add=["SELECT"]),
        ],
    )


def test_new_pack_of_an_export_adopts_without_a_mutating_call(
    orch_ctx: WorkflowContext, orch_emu: Emu
) -> None:
    by_hand(orch_emu.workspace_client())
    first = export(orch_ctx, orch_emu, shares=("hand_share",))
    text = filled(first.yaml())
    body = plan_pack(orch_ctx, load_yaml(text), principal_id="user-1").body()
    no_changes(body)
    adopted = {(c["resource_type"], c["name"]) for c in body["changes"] if c["action"] == "adopt"}
    assert adopted == {
        ("recipient", "hand_d2d"),
        ("recipient", "hand_d2o"),
        ("share", "hand_share"),
    }

    # The workbook form, filled in its cells, plans the same: no change.
    workbook = load_sharepack(
        "pack.xlsx", fill_workbook(first.xlsx()), UploadSettings(), allow_local_urls=True
    )
    no_changes(plan_pack(orch_ctx, workbook, principal_id="user-1").body())

    orch_emu.reset_stats()
    stored = store_yaml(orch_ctx.pool, text)
    assert provision(orch_ctx, stored).outcome.result == "COMPLETED"
    assert orch_emu.mutating_total() == 0
    again = export(orch_ctx, orch_emu, shares=("hand_share",))
    assert again.yaml() == first.yaml()
    assert again.xlsx() == first.xlsx()
