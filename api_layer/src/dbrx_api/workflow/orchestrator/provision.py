"""`run_provisioning`: reconcile one stored pack version with its workspace (docs/WORKFLOW.md §9.1).

Shared by the in-process consumer threads and `python -m dbrx_api.workflow.worker`: the consumer claims the
version, calls `run_provisioning(ctx, share_pack_id, version, cancel)` and commits the returned `Outcome`
(docs/WORKFLOW.md §8.4); this module never closes the run row or changes the version's status itself.

Steps: load (one read transaction) → preflight (allowlist, cached client) → DELETE (docs/WORKFLOW.md §9.8) or read live state
(docs/WORKFLOW.md §9.2) → live checks (any failure ends the run before a mutation) → diff (docs/WORKFLOW.md §9.3) → apply with bounded concurrency
(docs/WORKFLOW.md §9.4-§9.6, each action recorded, docs/WORKFLOW.md §9.9) → outcome with summary and call counts.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg

from dbrx_api.errors import AppError
from dbrx_api.workflow import approvals
from dbrx_api.workflow.context import WorkflowContext, process_worker_id
from dbrx_api.workflow.db.connection import transaction
from dbrx_api.workflow.db.repositories import (
    provisioning_steps,
    recipients,
    share_packs,
    shares,
    version_status,
)
from dbrx_api.workflow.db.repositories.provisioning_steps import StepOutcome
from dbrx_api.workflow.db.repositories.share_packs import PackVersion
from dbrx_api.workflow.db.repositories.version_status import VersionStatus
from dbrx_api.workflow.db.values import returned
from dbrx_api.workflow.models.issues import Issue
from dbrx_api.workflow.models.pack import DeleteSharePack, parse_canonical
from dbrx_api.workflow.orchestrator.actions import Adoption, AnyAction
from dbrx_api.workflow.orchestrator.apply import (
    Applier,
    ApplyResult,
    classify,
    reconcile_executor,
)
from dbrx_api.workflow.orchestrator.calls import CountedWorkspace
from dbrx_api.workflow.orchestrator.delete import delete_executor
from dbrx_api.workflow.orchestrator.live import LiveReader, allowlist_check
from dbrx_api.workflow.orchestrator.prepare import Prepared, counted_workspace, prepare
from dbrx_api.workflow.orchestrator.records import load_recorded
from dbrx_api.workflow.orchestrator.steps import RunContext
from dbrx_api.workflow.queue.run import Outcome, RunCancelled, RunControl
from dbrx_api.workflow.resources import kind_for
from dbrx_api.workflow.validators.locator import PackLocator

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Run:
    """Identity of the run being executed: the claim, or the version's status row when called directly."""

    run_id: UUID
    actor: str
    reference_time: datetime
    request_id: str | None


def _resolve_run(status: VersionStatus, control: RunControl | None) -> _Run | None:
    claim = control.claim if control is not None else None
    if claim is not None:
        return _Run(claim.run_id, claim.actor, claim.first_provisioned_at, claim.request_id)
    if status.status != "IN_PROGRESS" or status.last_run_id is None:
        return None
    return _Run(
        status.last_run_id,
        f"worker:{status.lease_owner or process_worker_id()}",
        returned(status.first_provisioned_at),  # set when the version was claimed
        None,
    )


def _resource_type_of(loc: str) -> str:
    if ".pipelines" in loc or loc.startswith("pipeline"):
        return "pipeline"
    if loc.startswith("share"):
        return "share"
    if loc.startswith("recipient"):
        return "recipient"
    return "workspace"


def _record_failed_checks(pool: Any, run_id: UUID, errors: list[Issue]) -> None:
    """Every failed live check as a failed `check` step (docs/WORKFLOW.md §9.1 step 5), its file position in `detail`."""
    with transaction(pool) as conn:
        for seq, issue in enumerate(errors, start=1):
            provisioning_steps.record_closed(
                conn,
                run_id=run_id,
                seq=seq,
                step_key=f"check:{issue.type}:{issue.loc}",
                resource_type=_resource_type_of(issue.loc),
                resource_name=issue.loc or "pack",
                action="check",
                outcome=StepOutcome.FAILED,
                detail={"issue": issue.as_problem_member()},
                error_code=issue.type,
                error_message=issue.display(),
            )


def _issue_list(issues: list[Issue]) -> list[dict[str, Any]]:
    """Issues as the members of validation problems: `loc` and the file's line/cell (docs/SHAREPACK.md §13.4)."""
    return [issue.as_problem_member() for issue in issues]


def _failed_checks(errors: list[Issue], warnings: list[Issue]) -> Outcome:
    """FAILED with one issue per failed check; `error` names the first (docs/WORKFLOW.md §9.1 step 5)."""
    first = errors[0]
    members = _issue_list(errors)
    return Outcome.failed(
        first.type,
        first.display()[:2000],
        step=f"check:{first.type}:{first.loc}",
        summary={"failed_checks": members, "warnings": _issue_list(warnings)},
        issues=members,
    )


def _step_loc(action: AnyAction | None, locator: PackLocator) -> str:
    """The pack entry a step works on, as a path of the uploaded file ("" for workspace-only steps)."""
    kind = kind_for(action.step_type) if action is not None else None
    return kind.locate(action, locator) if kind is not None and action is not None else ""


def run_provisioning(
    ctx: WorkflowContext,
    share_pack_id: UUID,
    version: int,
    cancel: threading.Event | None = None,
    *,
    hook: Callable[[str, AnyAction], None] | None = None,
) -> Outcome:
    """Provision a claimed pack version and report the outcome (the consumer commits it, docs/WORKFLOW.md §8.4).

    Args:
        ctx: the process's workflow context (pool, workspace clients, settings).
        share_pack_id: the pack.
        version: the version to provision; it must be claimed (`IN_PROGRESS`, a run row open).
        cancel: the consumer's `RunControl` (claim, pack lock, cancellation); a plain event only cancels.
        hook: test hook called around each action (`before_call`, `after_call`, `after_record`).

    Returns:
        `COMPLETED` (workspace matches the version), `FAILED` (live checks or a non-retriable step, every failed
        step listed), `RETRY` (throttling, outage, database loss) or `INTERRUPTED` (cancelled before a mutation).
    """
    control = cancel if isinstance(cancel, RunControl) else None
    with transaction(ctx.pool) as conn:
        pack_row = share_packs.get_version(conn, share_pack_id, version)
        status = version_status.get(conn, share_pack_id, version)
    if pack_row is None or status is None:
        return Outcome.failed(
            "sharepack_not_found", f"version {version} of {share_pack_id} is not stored"
        )
    run = _resolve_run(status, control)
    if run is None:
        return Outcome.failed("version_not_claimed", "the version is not claimed by a run")
    pack = parse_canonical(pack_row.config)
    # Paths and lines/cells of the file this version was uploaded as, not of the sorted `config`.
    locator = PackLocator.from_json(pack_row.locator, pack)
    workspace_url = str(pack_row.workspace_url)
    with transaction(ctx.pool) as conn:
        recorded = load_recorded(
            conn, pack, workspace_url=workspace_url, share_pack_id=share_pack_id, version=version
        )
        already_deleted = _already_deleted(conn, pack, workspace_url, share_pack_id)

    # Preflight: allowlist (a configuration lookup, no request) and the cached client.
    try:
        raw = ctx.clients.client(workspace_url)
    except AppError as exc:
        issue = Issue.at(
            "workspace_not_allowed",
            "error",
            "metadata.workspace_url",
            exc.detail,
            locator.position("metadata.workspace_url"),
        )
        _record_failed_checks(ctx.pool, run.run_id, [issue])
        return Outcome.failed(
            "workspace_not_allowed",
            exc.detail,
            step="check:workspace_not_allowed",
            issues=_issue_list([issue]),
        )

    def before_mutation() -> None:
        if control is not None:
            control.check_before_mutation()
        elif cancel is not None and cancel.is_set():
            raise RunCancelled("cancelled")

    worker = ctx.settings.workflow.worker
    workspace = counted_workspace(
        raw, workspace_url=workspace_url, settings=ctx.settings, before_mutation=before_mutation
    )
    reader = LiveReader(workspace)

    def adoption(resource_type: str, name: str, creator: str | None) -> Adoption:
        return _adoption(
            ctx,
            reader,
            share_pack_id,
            version,
            run.run_id,
            workspace_url,
            resource_type,
            name,
            creator,
        )

    run_ctx = RunContext(
        pool=ctx.pool,
        workspace=workspace,
        reader=reader,
        databricks=ctx.settings.databricks,
        workspace_url=workspace_url,
        share_pack_id=share_pack_id,
        version=version,
        run_id=run.run_id,
        actor=run.actor,
        request_id=run.request_id,
        adoption=adoption,
        hook=hook or (lambda _point, _action: None),
        locator=locator,
    )

    def figures(**extra: Any) -> dict[str, Any]:
        return {
            "read_calls": workspace.counter.reads,
            "mutating_calls": workspace.counter.mutations,
            **extra,
        }

    try:
        prepared = prepare(
            pack,
            recorded,
            settings=ctx.settings,
            locator=locator,
            reader=reader,
            allowed=allowlist_check(ctx.clients.resolve),
            reference_time=run.reference_time,
            clock=ctx.clock,
            adoption=adoption,
            already_deleted=already_deleted,
        )
        graph, warnings = prepared.graph, prepared.warnings
        if graph is None:
            return _with_counts(_checks_outcome(ctx, run.run_id, prepared), workspace)
        executor_for = delete_executor if isinstance(pack, DeleteSharePack) else reconcile_executor
        decision = _approval_gate(ctx, pack_row, graph)
        if decision.hold is not None:
            return Outcome.awaiting_approval(
                decision.hold, decision.plan or {}, **_counts(workspace)
            )
        applier = Applier(
            run_ctx,
            graph,
            concurrency=worker.reconcile_concurrency,
            cancelled=lambda: (
                (getattr(cancel, "reason", None) or "cancelled")
                if cancel is not None and cancel.is_set()
                else None
            ),
            executor_for=executor_for,
        )
        result = applier.run()
    except RunCancelled:
        return Outcome.interrupted(**_counts(workspace))
    except (AppError, psycopg.Error) as exc:
        failure = classify(exc)
        if failure.retriable:
            return Outcome.retry(failure.code, failure.message, **_counts(workspace))
        return Outcome.failed(failure.code, failure.message, **_counts(workspace))
    warnings = warnings + run_ctx.warnings
    return _finish(
        result,
        graph_size=len(graph.actions),
        warnings=warnings,
        figures=figures(),
        located=_StepLocations(graph, locator),
    )


def _approval_gate(
    ctx: WorkflowContext, pack_row: PackVersion, graph: Any
) -> approvals.GateDecision:
    """Whether the plan this run computed may be applied, or waits for an approver (docs/GOVERNANCE.md §1)."""
    changes = [action.plan_entry() for action in graph.actions]
    with transaction(ctx.pool) as conn:
        return approvals.gate(
            conn,
            policy=ctx.settings.approval_policy,
            pack_row=pack_row,
            changes=changes,
            at=ctx.clock(),
        )


def _checks_outcome(ctx: WorkflowContext, run_id: UUID, prepared: Prepared) -> Outcome:
    """The end of a run whose live checks failed (docs/WORKFLOW.md §9.1 step 5): `RETRY` when unreachable, else `FAILED`."""
    unreachable = next((e for e in prepared.errors if e.type == "workspace_unreachable"), None)
    if unreachable is not None:
        return Outcome.retry("workspace_unreachable", unreachable.msg)
    _record_failed_checks(ctx.pool, run_id, prepared.errors)
    return _failed_checks(prepared.errors, prepared.warnings)


@dataclass(frozen=True)
class _StepLocations:
    """Locates failed steps in the uploaded file through the graph's actions and the version's locator."""

    graph: Any
    locator: PackLocator

    def issue(self, key: str, code: str, message: str) -> Issue:
        """The failed step `key` as an error issue at its pack entry."""
        action = next((a for a in self.graph.actions if a.key == key), None)
        loc = _step_loc(action, self.locator)
        return Issue.at(code, "error", loc, message, self.locator.position(loc))


def _finish(
    result: ApplyResult,
    *,
    graph_size: int,
    warnings: list[Issue],
    figures: dict[str, Any],
    located: _StepLocations,
) -> Outcome:
    summary: dict[str, Any] = {
        "created": result.counts.get("created", 0),
        "updated": result.counts.get("updated", 0),
        "deleted": result.counts.get("deleted", 0),
        "rotated": result.counts.get("rotated", 0),
        "unchanged": len(result.noop),
        "steps": graph_size,
        "warnings": _issue_list(warnings),
        **figures,
    }
    step_issues = [located.issue(key, f.code, f.message) for key, f in result.failed]
    if result.failed:
        summary["failed_steps"] = [
            {
                "step": key,
                "code": failure.code,
                "message": failure.message,
                **issue.as_problem_member(),
            }
            for (key, failure), issue in zip(result.failed, step_issues, strict=True)
        ]
    if result.skipped:
        summary["skipped_steps"] = list(result.skipped)
    counts = {"read_calls": figures["read_calls"], "mutating_calls": figures["mutating_calls"]}
    if result.cancelled is not None:
        return Outcome.interrupted(**counts)
    if result.stopped is not None:
        key = next((k for k, f in result.failed if f is result.stopped), None)
        return Outcome.retry(
            result.stopped.code, result.stopped.message, step=key, summary=summary, **counts
        )
    if result.failed:
        key, failure = result.failed[0]
        others = (
            f" (and {len(result.failed) - 1} more failed steps)" if len(result.failed) > 1 else ""
        )
        return Outcome.failed(
            failure.code,
            failure.message + others,
            step=key,
            summary=summary,
            issues=_issue_list(step_issues),
            **counts,
        )
    return Outcome.completed(summary=summary, **counts)


def _counts(workspace: CountedWorkspace) -> dict[str, Any]:
    return {"read_calls": workspace.counter.reads, "mutating_calls": workspace.counter.mutations}


def _with_counts(outcome: Outcome, workspace: CountedWorkspace) -> Outcome:
    return Outcome(
        outcome.result,
        error_code=outcome.error_code,
        error_message=outcome.error_message,
        error_step=outcome.error_step,
        summary=outcome.summary,
        status_detail=outcome.status_detail,
        issues=outcome.issues,
        **_counts(workspace),
    )


def _adoption(
    ctx: WorkflowContext,
    reader: LiveReader,
    share_pack_id: UUID,
    version: int,
    run_id: UUID,
    workspace_url: str,
    resource_type: str,
    name: str,
    creator: str | None,
) -> Adoption:
    """Create intents of earlier runs of this pack for the resource, and whether the object is ours (docs/WORKFLOW.md §9.9)."""
    with transaction(ctx.pool) as conn:
        intents = provisioning_steps.find_unresolved_create_intents(
            conn,
            share_pack_id=share_pack_id,
            workspace_url=workspace_url,
            resource_type=resource_type,
            resource_name=name,
            exclude_run_id=run_id,
        )
    if not intents:
        return Adoption(created_by_pack=False)
    intent_at = min(intent.started_at for intent in intents)
    if creator is not None and creator != reader.identity():
        return Adoption(created_by_pack=False, intent_at=intent_at)
    this_version = any(intent.version == version for intent in intents)
    return Adoption(created_by_pack=True, this_version=this_version, intent_at=intent_at)


def _already_deleted(
    conn: Any, pack: Any, workspace_url: str, share_pack_id: UUID
) -> set[tuple[str, str]]:
    """Listed names of a DELETE pack whose current row is this pack's recorded deletion (a re-run)."""
    if not isinstance(pack, DeleteSharePack):
        return set()
    found: set[tuple[str, str]] = set()
    for ref in pack.share:
        share = shares.get_current(conn, workspace_url, ref.name, include_deleted=True)
        if share is not None and share.is_deleted and share.share_pack_id == share_pack_id:
            found.add(("share", ref.name.lower()))
    for recipient_ref in pack.recipient:
        recipient = recipients.get_current(
            conn, workspace_url, recipient_ref.name, include_deleted=True
        )
        if (
            recipient is not None
            and recipient.is_deleted
            and recipient.share_pack_id == share_pack_id
        ):
            found.add(("recipient", recipient_ref.name.lower()))
    return found
