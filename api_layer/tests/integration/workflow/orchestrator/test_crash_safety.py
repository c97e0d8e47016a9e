"""I3: a crash at any step, or a lost response on any mutating call, converges after redelivery.

Two versions are exercised: the first provisioning of the sample pack (only creates) and a second version that
rotates a token, creates a recipient and a schedule job and updates objects, grants, a pipeline and a job. Each run
is stopped for good ("process death": an exception no handler catches) right after the k-th mutating action's
Databricks call, before its result is recorded; or the emulator applies a call and drops the connection before
answering. The version is then redelivered (claim takeover, like the consumer) until it completes.
"""

from __future__ import annotations

from typing import Any

import pytest
from databricks.sdk import WorkspaceClient

from dbrx_api.workflow.context import WorkflowContext
from dbrx_api.workflow.db.connection import Pool, transaction
from dbrx_api.workflow.db.repositories import pipelines, recipients, shares, version_actions
from dbrx_api.workflow.db.repositories.records import AnyRecord
from dbrx_api.workflow.orchestrator.actions import AnyAction
from dbrx_api.workflow.orchestrator.provision import run_provisioning
from dbrx_api.workflow.queue.run import RunControl
from dbrx_emulator.testing import Emu
from fixtures.orchestrator import (
    claim,
    commit,
    provision,
    requeue,
    sample_pack,
    second_version,
    store_yaml,
)
from fixtures.postgres import StoredPack

pytestmark = [pytest.mark.integration, pytest.mark.slow]


class SimulatedCrash(BaseException):
    """Stops a run dead: nothing in the orchestrator catches it, so nothing after it is recorded."""


def snapshot(ws: WorkspaceClient) -> dict[str, Any]:
    """The live state, without ids and times: what must equal the desired state after convergence."""
    pipeline_names: dict[str, str] = {}
    found_pipelines: dict[str, Any] = {}
    for info in ws.pipelines.list_pipelines():
        detail = ws.pipelines.get(info.pipeline_id or "")
        spec = detail.spec
        assert spec is not None
        pipeline_names[info.pipeline_id or ""] = info.name or ""
        found_pipelines.setdefault(info.name or "", []).append(
            (spec.catalog, spec.schema, bool(spec.continuous), dict(spec.configuration or {}))
        )
    jobs: dict[str, list[Any]] = {}
    for job in ws.jobs.list(expand_tasks=True):
        settings = job.settings
        assert settings is not None
        task = (settings.tasks or [])[0]
        schedule = settings.schedule
        jobs.setdefault(settings.name or "", []).append(
            (
                pipeline_names.get(task.pipeline_task.pipeline_id or "")
                if task.pipeline_task
                else None,
                schedule.quartz_cron_expression if schedule else None,
                schedule.timezone_id if schedule else None,
            )
        )
    return {
        "recipients": {
            r.name: (
                r.authentication_type.value if r.authentication_type else None,
                r.comment,
                sorted(r.ip_access_list.allowed_ip_addresses or []) if r.ip_access_list else [],
            )
            for r in ws.recipients.list()
        },
        "shares": {
            s.name: (
                s.comment,
                sorted(
                    (o.name, o.shared_as or o.string_shared_as, o.comment)
                    for o in ws.shares.get(s.name or "", include_shared_data=True).objects or []
                ),
                sorted(
                    a.principal or ""
                    for a in ws.shares.share_permissions(s.name or "").privilege_assignments or []
                ),
            )
            for s in ws.shares.list_shares()
        },
        "pipelines": found_pipelines,
        "jobs": jobs,
    }


def crash_at(k: int, point: str = "after_call") -> tuple[Any, list[str]]:
    """A hook killing the run at `point` of the k-th action that calls Databricks (0-based)."""
    seen: list[str] = []

    def hook(where: str, action: AnyAction) -> None:
        if where != point or action.is_noop:
            return
        seen.append(action.key)
        if len(seen) == k + 1:
            raise SimulatedCrash(action.key)

    return hook, seen


def run_to_completion(
    ctx: WorkflowContext, stored: StoredPack, hook: Any = None, attempts: int = 4
) -> list[str]:
    """Deliver the version until it completes; a crash leaves the run open (the next claim takes it over)."""
    results: list[str] = []
    for attempt in range(attempts):
        claimed = claim(ctx.pool, stored)
        try:
            outcome = run_provisioning(
                ctx,
                stored.share_pack_id,
                stored.version,
                RunControl(claimed),
                hook=hook if attempt == 0 else None,
            )
        except SimulatedCrash:
            results.append("CRASH")
            continue
        commit(ctx.pool, claimed, outcome)
        results.append(outcome.result)
        if outcome.result in ("COMPLETED", "FAILED"):
            return results
    return results


def assert_recorded_as_created(pool: Pool, stored: StoredPack) -> None:
    with pool.connection() as conn:
        recorded_pipelines = pipelines.list_current(conn, share_pack_id=stored.share_pack_id)
        rows: list[AnyRecord] = [
            *recipients.list_current(conn, share_pack_id=stored.share_pack_id),
            *shares.list_current(conn, share_pack_id=stored.share_pack_id),
            *recorded_pipelines,
        ]
    assert rows
    assert all(row.created_by_pack for row in rows), [r for r in rows if not r.created_by_pack]
    for pipeline in recorded_pipelines:
        if pipeline.schedule_job_id is not None:
            assert pipeline.schedule_job_created_by_pack is True


def assert_converged(
    ctx: WorkflowContext, emu: Emu, stored: StoredPack, expected: dict[str, Any]
) -> None:
    ws = emu.workspace_client()
    assert snapshot(ws) == expected
    assert_recorded_as_created(ctx.pool, stored)
    # The live state matches the version: another run of it changes nothing.
    emu.reset_stats()
    requeue(ctx.pool, stored)
    assert provision(ctx, stored).outcome.result == "COMPLETED"
    assert emu.mutating_total() == 0


def retire_reference(pool: Pool, stored: StoredPack, url: str) -> None:
    """Record the reference pack's resources as deleted once the emulator is reset: the test's own pack then
    creates the same names without another pack managing them (docs/WORKFLOW.md §9.10)."""
    with transaction(pool) as conn:
        for repository in (recipients, shares, pipelines):
            for row in repository.list_current(conn, share_pack_id=stored.share_pack_id):
                repository.soft_delete(conn, url, row.key, changed_by="test")


@pytest.fixture
def first_expected(make_orch_ctx: Any, orch_emu: Emu) -> dict[str, Any]:
    """The live state after an undisturbed first provisioning (then the emulator is reset)."""
    ctx = make_orch_ctx(reconcile_concurrency=1)
    stored = store_yaml(ctx.pool, sample_pack(orch_emu.url, requestor="reference@example.com"))
    assert provision(ctx, stored).outcome.result == "COMPLETED"
    expected = snapshot(orch_emu.workspace_client())
    orch_emu.reset(seed_file="minimal", random_seed=0)
    retire_reference(ctx.pool, stored, orch_emu.url)
    return expected


FIRST_RUN_ACTIONS = 11  # 2 recipients, 2 shares, 2 object sets, 2 grant sets, 2 pipelines, 1 job


@pytest.mark.parametrize("k", range(FIRST_RUN_ACTIONS))
def test_crash_after_the_kth_call_of_a_first_provisioning_converges(
    k: int, make_orch_ctx: Any, orch_emu: Emu, first_expected: dict[str, Any]
) -> None:
    ctx = make_orch_ctx(reconcile_concurrency=1)
    stored = store_yaml(ctx.pool, sample_pack(orch_emu.url))
    hook, seen = crash_at(k)

    results = run_to_completion(ctx, stored, hook)

    assert results[0] == "CRASH", seen
    assert results[-1] == "COMPLETED", results
    assert_converged(ctx, orch_emu, stored, first_expected)
    assert len(list(orch_emu.workspace_client().jobs.list(name="sales_orders_pl_schedule"))) == 1


SECOND_RUN_ACTIONS = (
    7  # recipient create, rotation, objects, grants, pipeline update, job update, job create
)


@pytest.fixture
def second_expected(make_orch_ctx: Any, orch_emu: Emu) -> dict[str, Any]:
    """The live state after undisturbed first and second versions (then the emulator is reset)."""
    ctx = make_orch_ctx(reconcile_concurrency=1)
    requestor = "reference@example.com"
    first = store_yaml(ctx.pool, sample_pack(orch_emu.url, requestor=requestor))
    assert provision(ctx, first).outcome.result == "COMPLETED"
    text = second_version(orch_emu.url).replace("jane.doe@example.com", requestor)
    second = store_yaml(ctx.pool, text)
    report = provision(ctx, second)
    assert report.outcome.result == "COMPLETED", report.outcome
    assert report.outcome.summary is not None
    assert (
        report.outcome.summary["created"]
        + report.outcome.summary["updated"]
        + report.outcome.summary["rotated"]
        == SECOND_RUN_ACTIONS
    )
    expected = snapshot(orch_emu.workspace_client())
    orch_emu.reset(seed_file="minimal", random_seed=0)
    retire_reference(ctx.pool, second, orch_emu.url)
    return expected


def assert_rotated_once(ctx: WorkflowContext, emu: Emu, stored: StoredPack) -> None:
    (acme,) = [r for r in emu.state()["sharing"]["recipients"] if r["name"] == "acme_external"]
    assert (
        len(acme["all_tokens"]) == 2
    )  # the original and exactly one rotated token (expired ones included)
    with ctx.pool.connection() as conn:
        action = version_actions.get(
            conn,
            stored.share_pack_id,
            stored.version,
            version_actions.rotate_token_key("acme_external"),
        )
    assert action is not None
    assert action.done_at is not None
    assert (action.result or {}).get("outcome") in ("rotated", "already_rotated")


@pytest.mark.parametrize("k", range(SECOND_RUN_ACTIONS))
def test_crash_after_the_kth_call_of_an_update_converges_with_one_rotation(
    k: int, make_orch_ctx: Any, orch_emu: Emu, second_expected: dict[str, Any]
) -> None:
    ctx = make_orch_ctx(reconcile_concurrency=1)
    first = store_yaml(ctx.pool, sample_pack(orch_emu.url))
    assert provision(ctx, first).outcome.result == "COMPLETED"
    second = store_yaml(ctx.pool, second_version(orch_emu.url))
    hook, seen = crash_at(k)

    results = run_to_completion(ctx, second, hook)

    assert results[0] == "CRASH", seen
    assert results[-1] == "COMPLETED", results
    assert_converged(ctx, orch_emu, second, second_expected)
    assert_rotated_once(ctx, orch_emu, second)
    for name in ("sales_orders_pl_schedule", "sales_order_items_pl_schedule"):
        assert len(list(orch_emu.workspace_client().jobs.list(name=name))) == 1


FIRST_RUN_OPERATIONS = (
    "recipients.create",
    "shares.create",
    "shares.update",
    "shares.update_permissions",
    "pipelines.create",
    "jobs.create",
)
SECOND_RUN_OPERATIONS = (
    "recipients.create",
    "recipients.rotate_token",
    "shares.update",
    "shares.update_permissions",
    "pipelines.update",
    "jobs.update",
    "jobs.create",
)


@pytest.mark.parametrize("operation", FIRST_RUN_OPERATIONS)
def test_lost_response_on_each_create_operation_converges(
    operation: str, make_orch_ctx: Any, orch_emu: Emu, first_expected: dict[str, Any]
) -> None:
    ctx = make_orch_ctx(reconcile_concurrency=1)
    stored = store_yaml(ctx.pool, sample_pack(orch_emu.url))
    orch_emu.add_fault(operation=operation, kind="applied_response_lost", times=1)

    results = run_to_completion(ctx, stored)

    assert results[-1] == "COMPLETED", results
    (rule,) = orch_emu.faults()
    assert rule["applied"] == 1
    assert_converged(ctx, orch_emu, stored, first_expected)
    assert len(list(orch_emu.workspace_client().jobs.list(name="sales_orders_pl_schedule"))) == 1


@pytest.mark.parametrize("operation", SECOND_RUN_OPERATIONS)
def test_lost_response_on_each_update_operation_converges_with_one_rotation(
    operation: str, make_orch_ctx: Any, orch_emu: Emu, second_expected: dict[str, Any]
) -> None:
    ctx = make_orch_ctx(reconcile_concurrency=1)
    first = store_yaml(ctx.pool, sample_pack(orch_emu.url))
    assert provision(ctx, first).outcome.result == "COMPLETED"
    second = store_yaml(ctx.pool, second_version(orch_emu.url))
    orch_emu.add_fault(operation=operation, kind="applied_response_lost", times=1)

    results = run_to_completion(ctx, second)

    assert results[-1] == "COMPLETED", results
    (rule,) = orch_emu.faults()
    assert rule["applied"] == 1
    assert_converged(ctx, orch_emu, second, second_expected)
    assert_rotated_once(ctx, orch_emu, second)
    for name in ("sales_orders_pl_schedule", "sales_order_items_pl_schedule"):
        assert len(list(orch_emu.workspace_client().jobs.list(name=name))) == 1
