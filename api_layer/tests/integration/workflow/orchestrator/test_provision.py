"""`run_provisioning` end to end: real PostgreSQL, the emulator, the real SDK (docs/WORKFLOW.md §9, I2, I9)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.service.sharing import AuthenticationType, PermissionsChange
from psycopg import sql

from dbrx_api.workflow.context import WorkflowContext
from dbrx_api.workflow.db.connection import Pool
from dbrx_api.workflow.db.repositories import (
    pipelines,
    provisioning_steps,
    recipients,
    shares,
    version_status,
)
from dbrx_api.workflow.orchestrator.provision import run_provisioning
from dbrx_api.workflow.queue.consumer import Consumer
from dbrx_api.workflow.queue.messages import WorkMessage
from dbrx_emulator.testing import Emu
from fixtures.orchestrator import (
    D2D_ORG,
    LIBRARY_PATH,
    provision,
    requeue,
    sample_pack,
    store_yaml,
    views_pack,
)
from fixtures.postgres import StoredPack

pytestmark = pytest.mark.integration

SCD2_TABLES = ("recipients", "shares", "pipelines")


def versions(pool: Pool) -> dict[str, int]:
    """Rows (= versions) of each recorded-resource SCD2 table."""
    counts: dict[str, int] = {}
    with pool.connection() as conn:
        for table in SCD2_TABLES:
            query = sql.SQL("SELECT count(*) AS n FROM deltashare.{}").format(sql.Identifier(table))
            row = conn.execute(query).fetchone()
            assert row is not None
            counts[table] = int(row["n"])
    return counts


def share_objects(ws: WorkspaceClient, name: str) -> dict[str, Any]:
    info = ws.shares.get(name, include_shared_data=True)
    return {obj.name: obj for obj in info.objects or []}


def grantees(ws: WorkspaceClient, name: str) -> set[str]:
    response = ws.shares.share_permissions(name)
    return {a.principal or "" for a in response.privilege_assignments or []}


def jobs_named(ws: WorkspaceClient, name: str) -> list[Any]:
    return list(ws.jobs.list(name=name, expand_tasks=True))


def pipeline_named(ws: WorkspaceClient, name: str) -> Any:
    (info,) = [
        p for p in ws.pipelines.list_pipelines(filter=f"name LIKE '{name}'") if p.name == name
    ]
    return ws.pipelines.get(info.pipeline_id or "")


def test_sample_pack_provisions_exactly_the_declared_state(
    orch_ctx: WorkflowContext, orch_emu: Emu
) -> None:
    stored = store_yaml(orch_ctx.pool, sample_pack(orch_emu.url))

    report = provision(orch_ctx, stored)

    assert report.outcome.result == "COMPLETED", report.outcome
    ws = orch_emu.workspace_client()
    # recipients: one D2D bound to its metastore, one D2O with its allowlist and T + 90 days expiry
    names = {r.name for r in ws.recipients.list()}
    assert names == {"partner_analytics", "acme_external"}
    partner = ws.recipients.get("partner_analytics")
    assert partner.authentication_type == AuthenticationType.DATABRICKS
    assert partner.data_recipient_global_metastore_id == D2D_ORG
    assert partner.comment == "Partner analytics metastore"
    acme = ws.recipients.get("acme_external")
    assert acme.authentication_type == AuthenticationType.TOKEN
    assert acme.ip_access_list is not None
    assert sorted(acme.ip_access_list.allowed_ip_addresses or []) == [
        "198.51.100.7",
        "2001:db8:1234::/48",
        "203.0.113.0/24",
    ]
    expected_expiry = report.claim.first_provisioned_at + timedelta(days=90)
    assert abs((acme.expiration_time or 0) / 1000 - expected_expiry.timestamp()) < 1
    # shares: exactly the declared objects (with their options) and grants
    assert {s.name for s in ws.shares.list_shares()} == {"sales_share", "finance_share"}
    sales = share_objects(ws, "sales_share")
    assert set(sales) == {"main.sales.orders", "main.sales.order_items", "main.sales.v_orders"}
    orders = sales["main.sales.orders"]
    assert orders.shared_as == "curated.orders"
    assert orders.history_data_sharing_status is not None
    assert orders.history_data_sharing_status.value == "ENABLED"
    assert orders.partitions is not None
    assert [v.value for v in orders.partitions[0].values or []] == ["emea"]
    assert sales["main.sales.v_orders"].comment == "Aggregated view"
    assert sales["main.sales.v_orders"].data_object_type is not None
    assert sales["main.sales.v_orders"].data_object_type.value == "VIEW"
    assert set(share_objects(ws, "finance_share")) == {"main.finance"}
    assert grantees(ws, "sales_share") == {"acme_external", "partner_analytics"}
    assert grantees(ws, "finance_share") == {"partner_analytics"}
    # pipelines: one triggered with its schedule job, one continuous without a job
    triggered = pipeline_named(ws, "sales_orders_pl")
    spec = triggered.spec
    assert spec is not None
    assert (spec.catalog, spec.schema, spec.continuous, spec.serverless) == (
        "share_cat",
        "sales_ext",
        False,
        True,
    )
    assert spec.configuration is not None
    assert spec.configuration["pipelines.source_table"] == "main.sales.orders"
    assert spec.configuration["pipelines.keys"] == "order_id"
    assert spec.tags == {
        "cost_center": "cc-1234",
        "confidential": "",
        "domain": "sales",
        "tier": "gold",
    }
    assert spec.libraries is not None
    assert spec.libraries[0].file is not None
    assert spec.libraries[0].file.path == LIBRARY_PATH
    assert spec.notifications is not None
    assert spec.notifications[0].email_recipients == ["retail-data@example.com"]
    continuous = pipeline_named(ws, "sales_order_items_pl")
    assert continuous.spec is not None
    assert continuous.spec.continuous is True
    (job,) = jobs_named(ws, "sales_orders_pl_schedule")
    assert job.settings.tasks[0].pipeline_task.pipeline_id == triggered.pipeline_id
    assert job.settings.schedule.quartz_cron_expression == "0 0 2 * * ?"
    assert job.settings.schedule.timezone_id == "Europe/London"
    assert jobs_named(ws, "sales_order_items_pl_schedule") == []
    # what was recorded: every resource created by this pack, in its workspace
    with orch_ctx.pool.connection() as conn:
        recorded_recipients = recipients.list_current(conn, share_pack_id=stored.share_pack_id)
        recorded_shares = shares.list_current(conn, share_pack_id=stored.share_pack_id)
        recorded_pipelines = pipelines.list_current(conn, share_pack_id=stored.share_pack_id)
        steps = provisioning_steps.list_for_run(conn, report.claim.run_id)
    assert {r.recipient_name for r in recorded_recipients} == {
        "partner_analytics",
        "acme_external",
    }
    assert all(r.created_by_pack for r in recorded_recipients)
    assert all(r.created_by_pack for r in recorded_shares)
    assert all(r.created_by_pack for r in recorded_pipelines)
    sales_row = next(r for r in recorded_shares if r.share_name == "sales_share")
    assert list(sales_row.recipients) == ["acme_external", "partner_analytics"]
    assert [a["name"] for a in sales_row.assets] == [
        "main.sales.order_items",
        "main.sales.orders",
        "main.sales.v_orders",
    ]
    orders_row = next(r for r in recorded_pipelines if r.pipeline_name == "sales_orders_pl")
    assert orders_row.databricks_pipeline_id == triggered.pipeline_id
    assert orders_row.schedule_job_id == job.job_id
    assert orders_row.schedule_job_created_by_pack is True
    assert {s.outcome for s in steps} <= {"SUCCEEDED", "NOOP"}
    assert [s.seq for s in steps] == sorted(s.seq for s in steps)
    assert report.outcome.summary is not None
    assert report.outcome.summary["created"] == 7  # 2 recipients, 2 shares, 2 pipelines, 1 job


def test_rerun_of_a_completed_version_makes_no_mutating_call_and_no_new_version(
    orch_ctx: WorkflowContext, orch_emu: Emu
) -> None:
    stored = store_yaml(orch_ctx.pool, sample_pack(orch_emu.url))
    assert provision(orch_ctx, stored).outcome.result == "COMPLETED"
    before = versions(orch_ctx.pool)
    orch_emu.reset_stats()

    requeue(orch_ctx.pool, stored)
    report = provision(orch_ctx, stored)

    assert report.outcome.result == "COMPLETED"
    assert orch_emu.mutating_total() == 0
    assert report.outcome.mutating_calls == 0
    assert versions(orch_ctx.pool) == before
    # reads by id only: no list call once every id is recorded (I8)
    operations = orch_emu.stats()["operations"]
    assert "pipelines.list_pipelines" not in operations
    assert "jobs.list" not in operations
    assert all(entry["count"] <= 2 for entry in operations.values())


def test_a_new_version_changing_one_asset_applies_exactly_that_change(
    orch_ctx: WorkflowContext, orch_emu: Emu
) -> None:
    first = store_yaml(orch_ctx.pool, sample_pack(orch_emu.url))
    assert provision(orch_ctx, first).outcome.result == "COMPLETED"
    before = versions(orch_ctx.pool)
    orch_emu.reset_stats()
    changed = sample_pack(orch_emu.url).replace(
        "comment: Aggregated view", "comment: Orders per region"
    )
    second = store_yaml(orch_ctx.pool, changed)
    assert second.version == 2

    report = provision(orch_ctx, second)

    assert report.outcome.result == "COMPLETED", report.outcome
    (call,) = orch_emu.calls(method="PATCH")
    assert orch_emu.mutating_total() == 1
    assert call["operation"] == "shares.update"
    assert [(u["action"], u["data_object"]["name"]) for u in call["body"]["updates"]] == [
        ("UPDATE", "main.sales.v_orders")
    ]
    ws = orch_emu.workspace_client()
    assert share_objects(ws, "sales_share")["main.sales.v_orders"].comment == "Orders per region"
    assert versions(orch_ctx.pool) == {**before, "shares": before["shares"] + 1}


def _delete_pack(url: str) -> str:
    text = sample_pack(url)
    metadata = text.split("\nrecipient:")[0].replace("strategy: UPDATE", "strategy: DELETE")
    return (
        metadata
        + "\nrecipient: [partner_analytics, acme_external, unknown_partner]"
        + "\nshare:\n  - finance_share\n  - name: sales_share\n    pipelines: [sales_orders_pl, not_mine_pl]\n"
    )


def test_delete_pack_removes_only_what_it_recorded(
    orch_ctx: WorkflowContext, orch_emu: Emu
) -> None:
    ws = orch_emu.workspace_client()
    # Existing before the pack: a look-alike share, and a pipeline whose name contains the pack's pipeline name.
    ws.shares.create("sales_share_archive", comment="not managed by the pack")
    lookalike = ws.pipelines.create(
        name="sales_orders_pl_backup",
        catalog="share_cat",
        schema="sales_ext",
        configuration={"pipelines.source_table": "main.sales.orders"},
    )
    stored = store_yaml(orch_ctx.pool, sample_pack(orch_emu.url))
    assert provision(orch_ctx, stored).outcome.result == "COMPLETED"
    deletion = store_yaml(orch_ctx.pool, _delete_pack(orch_emu.url))
    assert deletion.share_pack_id == stored.share_pack_id

    report = provision(orch_ctx, deletion)

    assert report.outcome.result == "COMPLETED", report.outcome
    assert {s.name for s in ws.shares.list_shares()} == {"sales_share_archive"}
    assert list(ws.recipients.list()) == []
    assert {p.pipeline_id for p in ws.pipelines.list_pipelines()} == {lookalike.pipeline_id}
    assert list(ws.jobs.list()) == []
    summary = report.outcome.summary or {}
    not_recorded = [w["msg"] for w in summary["warnings"] if w["type"] == "delete_not_recorded"]
    assert len(not_recorded) == 2
    assert any('"unknown_partner"' in msg for msg in not_recorded)
    assert any('"not_mine_pl"' in msg for msg in not_recorded)
    with orch_ctx.pool.connection() as conn:
        assert shares.list_current(conn, share_pack_id=stored.share_pack_id) == []
        assert recipients.list_current(conn, share_pack_id=stored.share_pack_id) == []
        assert pipelines.list_current(conn, share_pack_id=stored.share_pack_id) == []
        gone = shares.get_current(conn, orch_emu.url, "sales_share", include_deleted=True)
    assert gone is not None
    assert gone.is_deleted is True
    assert gone.change_reason == "deleted"

    # A re-run finds the rows deleted and makes no Databricks call at all.
    orch_emu.reset_stats()
    requeue(orch_ctx.pool, deletion)
    rerun = provision(orch_ctx, deletion)
    assert rerun.outcome.result == "COMPLETED"
    assert orch_emu.stats()["total"] == 0


def test_delete_releases_adopted_resources(orch_ctx: WorkflowContext, orch_emu: Emu) -> None:
    """An adopted recipient is the pack's until its DELETE, which releases it: left in place, no longer recorded
    (docs/WORKFLOW.md §9.8, I9); the recipient the pack created is deleted."""
    ws = orch_emu.workspace_client()
    ws.recipients.create(
        "partner_analytics",
        AuthenticationType.DATABRICKS,
        data_recipient_global_metastore_id=D2D_ORG,
        comment="created by hand",
    )
    stored = store_yaml(orch_ctx.pool, sample_pack(orch_emu.url))
    report = provision(orch_ctx, stored)
    assert report.outcome.result == "COMPLETED"
    summary = report.outcome.summary or {}
    assert next(w["msg"] for w in summary["warnings"] if w["type"] == "update_created_missing") == (
        'recipient "acme_external" does not exist; it will be created.'
    )
    with orch_ctx.pool.connection() as conn:
        adopted = recipients.get_current(conn, orch_emu.url, "partner_analytics")
    assert adopted is not None
    assert adopted.created_by_pack is False
    assert adopted.change_reason == "adopted"
    assert ws.recipients.get("partner_analytics").comment == "Partner analytics metastore"

    assert adopted.adopted is True

    deletion = store_yaml(orch_ctx.pool, _delete_pack(orch_emu.url))
    assert provision(orch_ctx, deletion).outcome.result == "COMPLETED"

    assert [r.name for r in ws.recipients.list()] == ["partner_analytics"]
    with orch_ctx.pool.connection() as conn:
        released = recipients.get_current(
            conn, orch_emu.url, "partner_analytics", include_deleted=True
        )
    assert released is not None
    assert released.is_deleted is True
    assert released.change_reason == "released"


def test_consumer_runs_run_provisioning_as_its_handler(
    orch_ctx: WorkflowContext, orch_emu: Emu
) -> None:
    stored: StoredPack = store_yaml(orch_ctx.pool, sample_pack(orch_emu.url))
    handler: Callable[..., Any] = partial(run_provisioning, orch_ctx)
    consumer = Consumer(
        pool=orch_ctx.pool,
        queue=orch_ctx.queue,
        handler=handler,
        settings=orch_ctx.settings.workflow,
        host="test",
    )
    orch_ctx.queue.send(WorkMessage(stored.share_pack_id, stored.version, 1).to_json())

    assert consumer.poll_once("test:1:1") == ["completed"]

    with orch_ctx.pool.connection() as conn:
        status = version_status.get(conn, stored.share_pack_id, stored.version)
    assert status is not None
    assert status.status == "COMPLETED"
    assert orch_emu.count("jobs.create") == 1


def test_delete_keeps_recreated_objects_other_packs_resources_and_still_granted_recipients(
    orch_ctx: WorkflowContext, orch_emu: Emu
) -> None:
    stored = store_yaml(orch_ctx.pool, sample_pack(orch_emu.url))
    assert provision(orch_ctx, stored).outcome.result == "COMPLETED"
    other = store_yaml(
        orch_ctx.pool,
        views_pack(
            orch_emu.url, {"other_share": ["main.sales.v_orders"]}, requestor="other@example.com"
        ),
    )
    assert other.share_pack_id != stored.share_pack_id
    assert provision(orch_ctx, other).outcome.result == "COMPLETED"
    ws = orch_emu.workspace_client()
    # finance_share is dropped and re-created by someone else: not the object this pack recorded.
    ws.shares.delete("finance_share")
    ws.shares.create("finance_share", comment="re-created by hand")
    ws.shares.update_permissions(
        "finance_share", changes=[PermissionsChange(principal="partner_analytics", add=["SELECT"])]
    )
    text = _delete_pack(orch_emu.url).replace(
        "  - finance_share\n", "  - finance_share\n  - other_share\n"
    )
    deletion = store_yaml(orch_ctx.pool, text)

    report = provision(orch_ctx, deletion)

    assert report.outcome.result == "COMPLETED", report.outcome
    warnings = {w["type"]: w["msg"] for w in (report.outcome.summary or {})["warnings"]}
    assert "re-created" in warnings["delete_identity_mismatch"]
    assert '"partner_analytics"' in warnings["recipient_still_granted"]
    assert any(
        w["type"] == "delete_not_recorded" and '"other_share"' in w["msg"]
        for w in (report.outcome.summary or {})["warnings"]
    )
    assert {s.name for s in ws.shares.list_shares()} == {"finance_share", "other_share"}
    assert {r.name for r in ws.recipients.list()} == {"partner_analytics", "bulk_partner"}
