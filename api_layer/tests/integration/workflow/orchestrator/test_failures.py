"""Failure classes and other paths of a run (docs/WORKFLOW.md §9.1, §9.5, §9.9) against the emulator."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.service.jobs import JobSettings, PipelineTask, Task
from databricks.sdk.service.sharing import AuthenticationType, IpAccessList, PermissionsChange

from dbrx_api.workflow.context import WorkflowContext
from dbrx_api.workflow.db.repositories import pipelines, provisioning_steps, shares, version_status
from dbrx_api.workflow.db.repositories.provisioning_steps import StepRecord
from dbrx_api.workflow.orchestrator.actions import AnyAction
from dbrx_api.workflow.orchestrator.plan import plan_pack
from dbrx_api.workflow.orchestrator.provision import run_provisioning
from dbrx_api.workflow.queue.run import RunControl
from dbrx_emulator.testing import Emu
from fixtures.orchestrator import (
    claim,
    commit,
    load_yaml,
    provision,
    refuse_second_share_creation,
    requeue,
    sample_pack,
    store_yaml,
)

pytestmark = pytest.mark.integration


def steps_of(ctx: WorkflowContext, run_id: Any) -> dict[str, StepRecord]:
    with ctx.pool.connection() as conn:
        return {s.step_key: s for s in provisioning_steps.list_for_run(conn, run_id)}


def just_before(
    key: str, act: Callable[[], object]
) -> tuple[Callable[[str, AnyAction], None], list[object]]:
    """A run hook doing `act` once, right before the Databricks call of action `key`: someone acting by hand after
    the live checks passed. The list holds what `act` returned once it ran."""
    done: list[object] = []

    def hook(point: str, action: AnyAction) -> None:
        if point == "before_call" and action.key == key and not done:
            done.append(act())

    return hook, done


def make_granted_share(ws: WorkspaceClient, share: str, grantee: str) -> str:
    """Make `share` by hand and grant SELECT on it to a new TOKEN recipient `grantee`."""
    ws.recipients.create(name=grantee, authentication_type=AuthenticationType.TOKEN)
    ws.shares.create(share)
    ws.shares.update_permissions(
        share, changes=[PermissionsChange(principal=grantee, add=["SELECT"])]
    )
    return share


def select_grantees(ws: WorkspaceClient, share: str) -> set[str]:
    """The principals holding SELECT on `share`."""
    return {
        assignment.principal or ""
        for assignment in ws.shares.share_permissions(share).privilege_assignments or []
        if "SELECT" in {p.value for p in assignment.privileges or []}
    }


def test_failed_live_checks_end_the_run_before_any_mutation(
    orch_ctx: WorkflowContext, orch_emu: Emu
) -> None:
    # main.sales.customers has no change data feed: an SCD 2 pipeline cannot read it.
    text = sample_pack(orch_emu.url).replace(
        "source_asset: main.sales.orders", "source_asset: main.sales.customers"
    )
    text = text.replace("- name: main.sales.orders\n", "- name: main.sales.customers\n")
    text = text.replace("key_columns: order_id", "key_columns: customer_id")
    stored = store_yaml(orch_ctx.pool, text)

    report = provision(orch_ctx, stored)

    assert report.outcome.result == "FAILED"
    assert report.outcome.error_code == "source_cdf_disabled"
    assert orch_emu.mutating_total() == 0
    steps = steps_of(orch_ctx, report.claim.run_id)
    assert [(s.action, s.outcome, s.error_code) for s in steps.values()] == [
        ("check", "FAILED", "source_cdf_disabled")
    ]
    with orch_ctx.pool.connection() as conn:
        status = version_status.get(conn, stored.share_pack_id, stored.version)
    assert status is not None
    assert status.status == "FAILED"
    assert (status.error or {}).get("code") == "source_cdf_disabled"


def test_a_non_retriable_failure_skips_dependants_and_lets_independent_actions_finish(
    make_orch_ctx: Any, orch_emu: Emu
) -> None:
    ctx = make_orch_ctx(reconcile_concurrency=1)
    stored = store_yaml(ctx.pool, sample_pack(orch_emu.url))
    # The second share creation (sales_share, canonical order) is refused.
    refuse_second_share_creation(orch_emu)

    report = provision(ctx, stored)

    assert report.outcome.result == "FAILED"
    assert report.outcome.error_step == "share:sales_share"
    assert report.outcome.error_code == "upstream_permission_denied"
    steps = steps_of(ctx, report.claim.run_id)
    assert steps["share:sales_share"].outcome == "FAILED"
    assert steps["share_objects:sales_share"].outcome == "SKIPPED"
    assert steps["share_grants:sales_share"].outcome == "SKIPPED"
    assert steps["share_grants:finance_share"].outcome == "SUCCEEDED"
    assert steps["pipeline:sales_orders_pl"].outcome == "SUCCEEDED"
    assert steps["schedule:sales_orders_pl_schedule"].outcome == "SUCCEEDED"
    summary = report.outcome.summary or {}
    assert summary["skipped_steps"] == ["share_grants:sales_share", "share_objects:sales_share"]
    # A re-run (identical re-upload) resumes: only what is missing is done.
    orch_emu.reset_stats()
    requeue(ctx.pool, stored)
    assert provision(ctx, stored).outcome.result == "COMPLETED"
    assert {c["operation"] for c in orch_emu.calls() if c["method"] != "GET"} == {
        "shares.create",
        "shares.update",
        "shares.update_permissions",
    }


def test_a_retriable_failure_stops_starting_actions_and_the_retry_completes(
    make_orch_ctx: Any, orch_emu: Emu
) -> None:
    ctx = make_orch_ctx(reconcile_concurrency=1)
    stored = store_yaml(ctx.pool, sample_pack(orch_emu.url))
    orch_emu.add_fault(operation="recipients.create", kind="internal", times=1)

    first = provision(ctx, stored)

    assert first.outcome.result == "RETRY"
    assert first.outcome.error_code == "upstream_error"
    assert orch_emu.mutating_total() == 1  # the failed call only: nothing else was started
    # The action that wrote its intent while the failing call held the only call slot never called.
    steps = steps_of(ctx, first.claim.run_id)
    outcomes = sorted(s.outcome for s in steps.values() if s.outcome != "NOOP")
    assert outcomes == ["FAILED", "SKIPPED"], steps
    waited = next(s for s in steps.values() if s.outcome == "SKIPPED")
    assert waited.error_code == "run_stopped"
    with ctx.pool.connection() as conn:
        status = version_status.get(conn, stored.share_pack_id, stored.version)
    assert status is not None
    assert status.status == "QUEUED"
    second = provision(ctx, stored)
    assert second.outcome.result == "COMPLETED", second.outcome


def test_cancellation_stops_before_the_next_mutation(
    orch_ctx: WorkflowContext, orch_emu: Emu
) -> None:
    stored = store_yaml(orch_ctx.pool, sample_pack(orch_emu.url))
    claimed = claim(orch_ctx.pool, stored)
    control = RunControl(claimed)

    mutations_at_cancel: list[int] = []

    def cancel_after_first(point: str, action: AnyAction) -> None:
        if point == "after_record" and not action.is_noop and not mutations_at_cancel:
            mutations_at_cancel.append(orch_emu.mutating_total())
            control.cancel("shutdown")

    outcome = run_provisioning(
        orch_ctx, stored.share_pack_id, stored.version, control, hook=cancel_after_first
    )

    assert outcome.result == "INTERRUPTED"
    # Only the calls holding one of the run's call slots when it was cancelled may still reach Databricks.
    slots = orch_ctx.settings.workflow.worker.reconcile_concurrency
    assert orch_emu.mutating_total() - mutations_at_cancel[0] <= slots
    commit(orch_ctx.pool, claimed, outcome)
    orch_emu.reset_stats()
    assert provision(orch_ctx, stored).outcome.result == "COMPLETED"
    assert orch_emu.mutating_total() > 0  # the cancelled run left work undone


def without_orders_pipeline(url: str) -> str:
    """The sample pack whose declarative sales_share no longer lists main.sales.orders nor its pipeline."""
    text = sample_pack(url)
    start = text.index("      - name_prefix: sales_orders_pl")
    end = text.index("      - name_prefix: sales_order_items_pl")
    text = text[:start] + text[end:]
    orders_asset = (
        "      - name: main.sales.orders\n        shared_as: curated.orders\n"
        "        history_data_sharing_status: ENABLED\n        partitions:\n"
        "          - values: [{name: region, op: EQUAL, value: emea}]\n"
    )
    assert text.count(orders_asset) == 1
    return text.replace(orders_asset, "")  # the asset leaves the share with its pipeline


def test_a_pipeline_dropped_from_a_declarative_share_is_deleted_with_its_job(
    orch_ctx: WorkflowContext, orch_emu: Emu
) -> None:
    first = store_yaml(orch_ctx.pool, sample_pack(orch_emu.url))
    assert provision(orch_ctx, first).outcome.result == "COMPLETED"
    text = without_orders_pipeline(orch_emu.url)
    plan = plan_pack(orch_ctx, load_yaml(text), principal_id="user-1").body()
    (deletion,) = [c for c in plan["changes"] if c["action"] == "delete"]
    assert deletion == {
        "seq": deletion["seq"],
        "action": "delete",
        "resource_type": "pipeline",
        "name": "sales_orders_pl",
        "reason": "pipeline no longer listed in sales_share",
        "destructive": True,
        "drops_tables": ["share_cat.sales_ext.orders"],
        "calls": 2,
    }
    second = store_yaml(orch_ctx.pool, text)

    report = provision(orch_ctx, second)

    assert report.outcome.result == "COMPLETED", report.outcome
    ws = orch_emu.workspace_client()
    assert {p.name for p in ws.pipelines.list_pipelines()} == {"sales_order_items_pl"}
    assert list(ws.jobs.list()) == []
    objects = ws.shares.get("sales_share", include_shared_data=True).objects or []
    assert {o.name for o in objects} == {"main.sales.order_items", "main.sales.v_orders"}
    with orch_ctx.pool.connection() as conn:
        row = pipelines.get_current(conn, orch_emu.url, "sales_orders_pl", include_deleted=True)
    assert row is not None
    assert row.is_deleted is True


def test_a_dropped_pipeline_keeps_its_recorded_job_when_the_job_runs_another_pipeline(
    orch_ctx: WorkflowContext, orch_emu: Emu
) -> None:
    # As a DELETE pack does (docs/WORKFLOW.md §9.8): the recorded job goes only while it runs this pipeline.
    first = store_yaml(orch_ctx.pool, sample_pack(orch_emu.url))
    assert provision(orch_ctx, first).outcome.result == "COMPLETED"
    ws = orch_emu.workspace_client()
    (items,) = [p for p in ws.pipelines.list_pipelines() if p.name == "sales_order_items_pl"]
    (job,) = ws.jobs.list(name="sales_orders_pl_schedule", expand_tasks=True)
    (task,) = (job.settings.tasks if job.settings else None) or []
    # Someone points the pack's job at another pipeline by hand.
    ws.jobs.update(
        job.job_id or 0,
        new_settings=JobSettings(
            tasks=[
                Task(
                    task_key=task.task_key,
                    pipeline_task=PipelineTask(pipeline_id=items.pipeline_id or ""),
                )
            ]
        ),
    )
    second = store_yaml(orch_ctx.pool, without_orders_pipeline(orch_emu.url))

    report = provision(orch_ctx, second)

    assert report.outcome.result == "COMPLETED", report.outcome
    assert {p.name for p in ws.pipelines.list_pipelines()} == {"sales_order_items_pl"}
    assert [j.job_id for j in ws.jobs.list()] == [job.job_id]


def test_a_missing_target_schema_is_created(orch_ctx: WorkflowContext, orch_emu: Emu) -> None:
    text = sample_pack(orch_emu.url).replace(
        "ext_schema_name: sales_ext", "ext_schema_name: partner_feeds"
    )
    stored = store_yaml(orch_ctx.pool, text)

    report = provision(orch_ctx, stored)

    assert report.outcome.result == "COMPLETED", report.outcome
    (call,) = orch_emu.calls("schemas.create")
    assert call["body"] == {
        "name": "partner_feeds",
        "catalog_name": "share_cat",
        "comment": "Created by DeltaShare",
    }
    steps = steps_of(orch_ctx, report.claim.run_id)
    assert steps["schema:share_cat.partner_feeds"].outcome == "SUCCEEDED"


def test_a_workspace_outside_the_allowlist_fails_without_any_request(
    orch_ctx: WorkflowContext, orch_emu: Emu
) -> None:
    text = sample_pack(orch_emu.url)
    loaded = load_yaml(text)
    assert loaded.model.metadata.workspace_url == orch_emu.url
    stored = store_yaml(orch_ctx.pool, text)
    # The allowlist changed after the upload: the emulator is not allowed any more.
    orch_ctx.settings.databricks.workspaces[0].url = "http://127.0.0.1:1"
    orch_ctx.clients = type(orch_ctx.clients)(orch_ctx.settings.databricks, local=True)

    report = provision(orch_ctx, stored)

    assert report.outcome.result == "FAILED"
    assert report.outcome.error_code == "workspace_not_allowed"
    assert orch_emu.stats()["total"] == 0


def test_a_pipeline_made_between_the_checks_and_its_create_is_not_adopted_across_scd_types(
    make_orch_ctx: Any, orch_emu: Emu
) -> None:
    ctx = make_orch_ctx(reconcile_concurrency=1)
    stored = store_yaml(ctx.pool, sample_pack(orch_emu.url))
    ws = orch_emu.workspace_client()
    # Same name and source as the pack's pipeline, SCD 1 where the pack says SCD 2.
    hook, made = just_before(
        "pipeline:sales_orders_pl",
        lambda: (
            ws.pipelines.create(
                name="sales_orders_pl",
                catalog="share_cat",
                schema="sales_ext",
                configuration={
                    "pipelines.source_table": "main.sales.orders",
                    "pipelines.scd_type": "1",
                },
            ).pipeline_id
        ),
    )

    report = provision(ctx, stored, hook=hook)

    assert made
    assert report.outcome.result == "FAILED"
    assert report.outcome.error_step == "pipeline:sales_orders_pl"
    assert report.outcome.error_code == "pipeline_scd_type_immutable"
    spec = ws.pipelines.get(str(made[0])).spec
    assert spec is not None
    assert (spec.configuration or {})[
        "pipelines.scd_type"
    ] == "1"  # not rewritten to the pack's SCD 2


def test_a_recipient_made_between_the_checks_and_its_create_keeps_its_allowlist_under_additions(
    make_orch_ctx: Any, orch_emu: Emu
) -> None:
    # The pack only adds to the allowlist (docs/SHAREPACK.md §9.1: live + to_add - to_remove).
    text = sample_pack(orch_emu.url).replace(
        "    recipient_ips:\n      - 203.0.113.0/24\n      - 198.51.100.7\n      - 2001:db8:1234::/48\n",
        "    recipient_ips_to_add: [203.0.113.0/24]\n",
    )
    ctx = make_orch_ctx(reconcile_concurrency=1)
    stored = store_yaml(ctx.pool, text)
    ws = orch_emu.workspace_client()
    hook, made = just_before(
        "recipient:acme_external",
        lambda: ws.recipients.create(
            name="acme_external",
            authentication_type=AuthenticationType.TOKEN,
            ip_access_list=IpAccessList(allowed_ip_addresses=["192.0.2.0/24"]),
        ),
    )

    report = provision(ctx, stored, hook=hook)

    assert made
    assert report.outcome.result == "COMPLETED"
    info = ws.recipients.get("acme_external")
    assert info.ip_access_list is not None
    assert sorted(info.ip_access_list.allowed_ip_addresses or []) == [
        "192.0.2.0/24",
        "203.0.113.0/24",
    ]


def test_a_share_made_between_the_checks_and_its_create_is_left_with_the_declared_grantees(
    make_orch_ctx: Any, orch_emu: Emu
) -> None:
    # sales_share declares its grantees (`recipients`): after this version only they hold SELECT.
    ctx = make_orch_ctx(reconcile_concurrency=1)
    stored = store_yaml(ctx.pool, sample_pack(orch_emu.url))
    ws = orch_emu.workspace_client()
    # Someone makes the share by hand after the checks found none and grants it to a third recipient.
    hook, made = just_before(
        "share:sales_share", lambda: make_granted_share(ws, "sales_share", "intruder")
    )

    report = provision(ctx, stored, hook=hook)

    assert made
    assert report.outcome.result == "COMPLETED"
    assert select_grantees(ws, "sales_share") == {"partner_analytics", "acme_external"}


def test_a_share_made_between_the_checks_and_its_create_is_recorded_with_its_grantees(
    make_orch_ctx: Any, orch_emu: Emu
) -> None:
    # finance_share sets no grant key: the pack leaves the grants of the share it finds alone, and records them
    # (the history of GET /access?as_of= reads the record, docs/API.md §16.2.1).
    ctx = make_orch_ctx(reconcile_concurrency=1)
    text = sample_pack(orch_emu.url).replace("    recipients_to_add: [partner_analytics]\n", "")
    text = text.replace("    recipients_to_remove: [old_partner]\n", "")
    stored = store_yaml(ctx.pool, text)
    ws = orch_emu.workspace_client()
    hook, made = just_before(
        "share:finance_share", lambda: make_granted_share(ws, "finance_share", "old_partner")
    )

    report = provision(ctx, stored, hook=hook)

    assert made
    assert report.outcome.result == "COMPLETED"
    assert select_grantees(ws, "finance_share") == {"old_partner"}
    with ctx.pool.connection() as conn:
        row = shares.get_current(conn, orch_emu.url, "finance_share")
    assert row is not None
    assert list(row.recipients) == ["old_partner"]


def test_a_share_made_between_the_checks_and_its_create_loses_the_grantee_the_pack_removes(
    make_orch_ctx: Any, orch_emu: Emu
) -> None:
    # finance_share only revokes old_partner: for a share the checks did not find, nothing is granted to revoke.
    ctx = make_orch_ctx(reconcile_concurrency=1)
    text = sample_pack(orch_emu.url).replace("    recipients_to_add: [partner_analytics]\n", "")
    stored = store_yaml(ctx.pool, text)
    ws = orch_emu.workspace_client()
    # Someone makes the share by hand after the checks found none and grants it to the partner the pack removes.
    hook, made = just_before(
        "share:finance_share", lambda: make_granted_share(ws, "finance_share", "old_partner")
    )

    report = provision(ctx, stored, hook=hook)

    assert made
    assert report.outcome.result == "COMPLETED"
    assert select_grantees(ws, "finance_share") == set()
