"""`plan_pack`: what provisioning would change if the pack were stored and run now (docs/WORKFLOW.md §10, docs/API.md §12.3).

Read-only end to end: one read-only database transaction (the pack's current version and the recorded rows), reads
of the workspace through the same cached reader, checks and diff as a run (docs/WORKFLOW.md §9.2-§9.3), and every mutating call is
refused before it leaves the process. Nothing is stored and nothing is queued.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from dbrx_api.settings import ApprovalPolicy
from dbrx_api.workflow import approvals
from dbrx_api.workflow.context import WorkflowContext
from dbrx_api.workflow.db.connection import database_unavailable
from dbrx_api.workflow.db.repositories import share_packs, version_status
from dbrx_api.workflow.models.issues import Issue
from dbrx_api.workflow.orchestrator.actions import no_adoption
from dbrx_api.workflow.orchestrator.calls import forbid_mutations
from dbrx_api.workflow.orchestrator.diff import ActionGraph
from dbrx_api.workflow.orchestrator.live import LiveReader, allowlist_check
from dbrx_api.workflow.orchestrator.prepare import counted_workspace, prepare
from dbrx_api.workflow.orchestrator.records import Recorded, load_recorded
from dbrx_api.workflow.ownership import reject_managed_elsewhere
from dbrx_api.workflow.resources.recipient import upcoming_rotations
from dbrx_api.workflow.sharepack import LoadedPack

logger = logging.getLogger(__name__)

_RERUN_STATUSES = frozenset({"COMPLETED", "FAILED"})


@dataclass(frozen=True)
class PlanResult:
    """The 200 body of `POST /workflow/sharepack/plan` (docs/API.md §12.3); `body()` gives the JSON object."""

    valid: bool
    pack: dict[str, Any]
    errors: list[Issue]
    warnings: list[Issue]
    summary: dict[str, int] | None = None
    changes: list[dict[str, Any]] | None = None
    approval: dict[str, Any] | None = None
    token_rotations: list[dict[str, Any]] | None = None
    checked_at: datetime | None = None
    read_calls: int = 0
    mutating_calls: int = 0  # calls made while planning: always 0 (reported for tests and logs)

    def body(self) -> dict[str, Any]:
        """JSON-ready body; an offline plan has `valid`, `pack`, `errors` and `warnings` only."""
        body: dict[str, Any] = {
            "valid": self.valid,
            "pack": self.pack,
            "errors": [issue.as_problem_member() for issue in self.errors],
            "warnings": [issue.as_problem_member() for issue in self.warnings],
        }
        if self.summary is not None:
            body["summary"] = self.summary
            body["changes"] = self.changes or []
            body["approval"] = self.approval
            body["token_rotations"] = self.token_rotations or []
            body["checked_at"] = (
                self.checked_at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
                if self.checked_at
                else None
            )
        return body


@dataclass(frozen=True)
class _Stored:
    """The pack's current stored version, as far as planning needs it."""

    share_pack_id: UUID | None
    version: int | None
    record_hash: str | None
    status: str | None
    first_provisioned_at: datetime | None


def summarise(graph: ActionGraph) -> dict[str, int]:
    """`summary` of a plan: actions per kind and the mutating calls they would make."""
    summary = {"create": 0, "update": 0, "delete": 0, "no_op": 0, "rotate_token": 0}
    for action in graph.actions:
        # A DELETE's release of an adopted resource is no deletion (docs/WORKFLOW.md §9.8).
        kind = "no_op" if action.is_noop else action.plan_kind or action.kind
        if kind == "set_expiry":
            kind = action.kind
        summary[kind] = summary.get(kind, 0) + 1
    summary["mutating_calls"] = graph.mutating_calls
    return summary


def approval_summary(
    policy: ApprovalPolicy, uploader_roles: Iterable[str], changes: list[dict[str, Any]]
) -> dict[str, Any]:
    """Whether this plan, uploaded by a caller with `uploader_roles`, would wait for an approver."""
    destructive = approvals.destructive_changes(changes)
    return {
        "required": approvals.approval_needed(policy, uploader_roles, bool(destructive)),
        "policy": policy,
        "plan_digest": approvals.plan_digest(changes),
        "destructive_changes": destructive,
    }


def plan_pack(
    ctx: WorkflowContext,
    loaded: LoadedPack,
    *,
    principal_id: str,
    principal_roles: Iterable[str] = (),
    offline: bool = False,
) -> PlanResult:
    """Validate live and diff a pack against its workspace without changing anything.

    Args:
        ctx: the process's workflow context.
        loaded: the offline-valid pack (`load_sharepack`).
        principal_id: the caller (logged with the plan).
        offline: validation only: no database read and no Databricks call (the `pack` member is partial).

    Raises:
        ForbiddenError: 403 `workspace_not_allowed` (no request is sent to a workspace outside the allowlist).
        ServiceUnavailable: 503 `database_unavailable`.
    """
    model = loaded.model
    url = model.metadata.workspace_url
    workspace = ctx.clients.resolve(url)
    pack_info: dict[str, Any] = {
        "pack_key": loaded.pack_key,
        "share_pack_id": None,
        "workspace_url": workspace.url,
        "strategy": model.metadata.strategy,
        "record_hash": loaded.record_hash,
        "current_version": None,
        "would_create_version": True,
        "would_queue": model.metadata.approver_status == "approved",
    }
    if offline:
        return PlanResult(valid=True, pack=pack_info, errors=[], warnings=list(loaded.warnings))
    stored, recorded = _read_database(ctx, loaded, workspace.url)
    would_create = stored.record_hash != loaded.record_hash
    pack_info.update(
        share_pack_id=str(stored.share_pack_id) if stored.share_pack_id else None,
        current_version=stored.version,
        would_create_version=would_create,
        would_queue=model.metadata.approver_status == "approved"
        and (would_create or stored.status in _RERUN_STATUSES),
    )
    now = ctx.clock()
    prepared = prepare(
        model,
        recorded,
        settings=ctx.settings,
        locator=loaded.locator,
        reader=LiveReader(
            counted_workspace(
                ctx.clients.client_for(workspace),
                workspace_url=workspace.url,
                settings=ctx.settings,
                before_mutation=forbid_mutations,
            )
        ),
        allowed=allowlist_check(ctx.clients.resolve),
        # "As if provisioned now": a new version gets T = now; the stored version keeps its T.
        reference_time=(
            stored.first_provisioned_at
            if not would_create and stored.first_provisioned_at is not None
            else now
        ),
        clock=lambda: now,
        adoption=no_adoption,
    )
    warnings = [*loaded.warnings, *prepared.warnings]
    graph = prepared.graph
    if graph is None:
        return PlanResult(
            valid=False,
            pack=pack_info,
            errors=prepared.errors,
            warnings=warnings,
            summary=summarise(ActionGraph([], [])),
            changes=[],
            checked_at=now,
            read_calls=prepared.read_calls,
        )
    logger.info(
        "share pack planned",
        extra={
            "pack_key": loaded.pack_key,
            "principal": principal_id,
            "changes": sum(1 for action in graph.actions if not action.is_noop),
            "read_calls": prepared.read_calls,
        },
    )
    changes = [action.plan_entry() for action in graph.actions]
    return PlanResult(
        valid=True,
        pack=pack_info,
        errors=[],
        warnings=warnings,
        summary=summarise(graph),
        changes=changes,
        approval=approval_summary(ctx.settings.approval_policy, principal_roles, changes),
        # Upcoming rotations of the recipients with a policy (docs/WORKFLOW.md §10): shown, never applied by a run.
        token_rotations=upcoming_rotations(graph.actions, now),
        checked_at=now,
        read_calls=prepared.read_calls,
        mutating_calls=prepared.mutating_calls,
    )


def _read_database(
    ctx: WorkflowContext, loaded: LoadedPack, workspace_url: str
) -> tuple[_Stored, Recorded]:
    """The current version of the pack and the recorded rows, in one read-only transaction."""
    with database_unavailable(), ctx.pool.connection() as conn, conn.transaction():
        conn.execute("SET TRANSACTION READ ONLY")
        current = share_packs.get_current_by_key(conn, loaded.pack_key)
        status = None
        if current is not None:
            status = version_status.get(conn, current.share_pack_id, current.version)
        share_pack_id = current.share_pack_id if current is not None else None
        reject_managed_elsewhere(conn, loaded, workspace_url=workspace_url)
        same_content = current is not None and current.record_hash == loaded.record_hash
        recorded = load_recorded(
            conn,
            loaded.model,
            workspace_url=workspace_url,
            share_pack_id=share_pack_id,
            # A rotation shows only when this content version has not rotated yet.
            version=current.version if same_content and current is not None else None,
        )
    stored = _Stored(
        share_pack_id=share_pack_id,
        version=int(current.version) if current is not None else None,
        record_hash=str(current.record_hash) if current is not None else None,
        status=str(status.status) if status is not None else None,
        first_provisioned_at=status.first_provisioned_at if status is not None else None,
    )
    return stored, recorded
