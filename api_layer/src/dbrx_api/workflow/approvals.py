"""Approvals: which versions need an approver, the worker's gate, and an approver's decision (docs/GOVERNANCE.md §1).

One rule serves the worker and the API. The worker computes the plan of the version it claimed; when the policy
asks for an approval that does not cover that plan, the version goes back to `PENDING_APPROVAL` with the plan
stored, before any mutating call. An approver (never the uploader) approves exactly that plan: the approval keeps
the plan's digest and its destructive changes, and a later run may do less than was approved, never more.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import psycopg
from psycopg.rows import DictRow

from dbrx_api.dbrx_auth.principal import Principal
from dbrx_api.errors import AppError, ConflictError, ForbiddenError, NotFoundError
from dbrx_api.settings import ApprovalPolicy
from dbrx_api.workflow.context import WorkflowContext
from dbrx_api.workflow.db import scd2
from dbrx_api.workflow.db.connection import transaction
from dbrx_api.workflow.db.repositories import approvals, audit_trail, share_packs, version_status
from dbrx_api.workflow.db.repositories.version_status import Status
from dbrx_api.workflow.queue.messages import WorkMessage

DecisionKind = Literal["approve", "decline"]

HOLD_APPROVAL_REQUIRED = "approval_required"
HOLD_PLAN_CHANGED = "plan_changed_since_approval"


# ------------------------------------------------------------------------------------------ what is destructive


def destructive_changes(changes: Iterable[Mapping[str, Any]]) -> list[str]:
    """The destructive changes of a plan (its `changes[]` entries), each as one stable sentence, sorted.

    Destructive: deleting anything (share, recipient, pipeline, schedule), removing anything from a list (share
    objects, grants, IP ranges), dropping tables, creating an open-sharing (token) recipient, or an IP list that
    comes to include a `/0` range.
    """
    found: set[str] = set()
    for entry in changes:
        action = str(entry.get("action"))
        if action == "no_op":
            continue
        subject = f"{entry.get('resource_type')} {entry.get('name')}"
        if action == "delete":
            found.add(f"delete {subject}")
        for table in entry.get("drops_tables") or ():
            found.add(f"drop table {table} ({subject})")
        for field, removed in _removals(entry.get("diff")):
            where = f"{field} of " if field else ""
            found.add(f"remove {removed} from {where}{subject}")
        after = entry.get("after") or {}
        if (
            entry.get("resource_type") == "recipient"
            and action == "create"
            and after.get("type") == "D2O"
        ):
            found.add(f"create open-sharing recipient {entry.get('name')}")
        for ip in _added_ips(entry):
            if ip.strip().endswith("/0"):
                found.add(f"open {subject} to {ip}")
    return sorted(found)


def _removals(diff: Any, field: str = "") -> list[tuple[str, str]]:
    """`(field, item)` for every item a diff removes, at any depth (`{"remove": [...]}` blocks)."""
    if not isinstance(diff, Mapping):
        return []
    found: list[tuple[str, str]] = []
    removed = diff.get("remove")
    if isinstance(removed, list):
        found.extend((field, str(item)) for item in removed)
    for key, value in diff.items():
        if key != "remove" and isinstance(value, Mapping):
            found.extend(_removals(value, key))
    return found


def _added_ips(entry: Mapping[str, Any]) -> list[str]:
    after = entry.get("after") or {}
    diff = entry.get("diff") or {}
    created = after.get("ip_access_list") if isinstance(after, Mapping) else None
    changed = diff.get("ip_access_list") if isinstance(diff, Mapping) else None
    ips = list(created or [])
    if isinstance(changed, Mapping):
        ips.extend(changed.get("add") or [])
    return [str(ip) for ip in ips]


def plan_digest(changes: Iterable[Mapping[str, Any]]) -> str:
    """`sha256:<hex>` of the plan's changes (no-ops left out), in canonical JSON."""
    significant = [dict(entry) for entry in changes if entry.get("action") != "no_op"]
    canonical = json.dumps(significant, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def approval_needed(
    policy: ApprovalPolicy, uploader_roles: Iterable[str], destructive: bool
) -> bool:
    """Whether a version with this plan must wait for an approver.

    `never` still holds a destructive version uploaded without the admin role: a pack never does what its
    uploader could not do directly (docs/GOVERNANCE.md §4).
    """
    if policy == "always":
        return True
    if not destructive:
        return False
    return policy == "destructive" or "admin" not in set(uploader_roles)


# ------------------------------------------------------------------------------------------ the worker's gate


@dataclass(frozen=True)
class GateDecision:
    """Run (`hold is None`), or hold the version for an approver with `reason` and the plan to show."""

    hold: str | None = None
    plan: dict[str, Any] | None = None
    approved_by: str | None = None


def gate(
    conn: psycopg.Connection[DictRow],
    *,
    policy: ApprovalPolicy,
    pack_row: share_packs.PackVersion,
    changes: Sequence[Mapping[str, Any]],
    at: datetime,
) -> GateDecision:
    """Decide whether the claimed version may apply `changes` (its plan, computed by this run)."""
    destructive = destructive_changes(changes)
    roles = pack_row.requested_by_roles
    if not approval_needed(policy, roles, bool(destructive)):
        return GateDecision()
    approval = approvals.latest_approval(
        conn, pack_row.share_pack_id, pack_row.version, pack_row.record_hash
    )
    if approval is not None and set(destructive) <= set(approval.approved_changes or ()):
        return GateDecision(approved_by=approval.approver_id)
    plan = {
        "digest": plan_digest(changes),
        "destructive_changes": destructive,
        "changes": [dict(entry) for entry in changes if entry.get("action") != "no_op"],
        "policy": policy,
        "computed_at": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }
    reason = HOLD_PLAN_CHANGED if approval is not None else HOLD_APPROVAL_REQUIRED
    return GateDecision(hold=reason, plan=plan)


# ------------------------------------------------------------------------------------------ an approver's decision


@dataclass(frozen=True)
class DecisionResult:
    """What `decide` did; `message` is the work message to send after the commit (approve only)."""

    body: dict[str, Any]
    message: WorkMessage | None


def listed_approver_emails(config: Mapping[str, Any]) -> set[str]:
    """The e-mail addresses in the pack's `metadata.approver` (group names cannot be matched to a token)."""
    metadata = config.get("metadata") or {}
    listed = metadata.get("approver") or []
    if isinstance(listed, str):
        listed = [listed]
    return {str(item).strip().lower() for item in listed if "@" in str(item)}


def decision_refusal(
    principal: Principal, *, status: str, uploader_id: str, listed: set[str]
) -> AppError | None:
    """Why `principal` may not approve or decline a version now, or None when they may (docs/GOVERNANCE.md §1.4).

    The one rule the API applies when deciding and the console applies to enable its buttons: the approver role,
    a `PENDING_APPROVAL` version, never its uploader, and one of the pack's listed approvers when it lists any.
    """
    if not principal.has_role("approver"):
        return ForbiddenError(
            "This operation requires the 'approver' role.",
            code="role_missing",
            required_role="approver",
        )
    if status != Status.PENDING_APPROVAL:
        return ConflictError(
            f"The version is {status}; only a PENDING_APPROVAL version can be approved or declined.",
            code="not_pending_approval",
            version_status=status,
        )
    if principal.id == uploader_id:
        return ForbiddenError(
            "The uploader of a version cannot approve or decline it; another approver must.",
            code="self_approval",
        )
    if listed and not (principal.emails & listed):
        return ForbiddenError(
            "This pack's metadata.approver lists who may decide on it, and you are not one of them.",
            code="approver_not_listed",
            approvers=sorted(listed),
        )
    return None


def decide(
    ctx: WorkflowContext,
    *,
    principal: Principal,
    share_pack_id: UUID,
    version: int,
    decision: DecisionKind,
    comment: str | None,
    plan_digest_seen: str | None,
    request_id: str | None,
) -> DecisionResult:
    """Record an approver's decision on a `PENDING_APPROVAL` version and move it to `QUEUED` or `REJECTED`.

    Raises:
        NotFoundError: 404 `sharepack_not_found` (unknown pack or version).
        ConflictError: 409 `not_pending_approval`; 409 `plan_changed` when `plan_digest_seen` is not the plan
            the version waits with.
        ForbiddenError: 403 `self_approval` (the uploader), 403 `approver_not_listed`.
    """
    message: WorkMessage | None = None
    with transaction(ctx.pool) as conn:
        status = version_status.get(conn, share_pack_id, version, for_update=True)
        pack_row = share_packs.get_version(conn, share_pack_id, version)
        if status is None or pack_row is None:
            raise NotFoundError(
                f"No version {version} of share pack '{share_pack_id}'.", code="sharepack_not_found"
            )
        refusal = decision_refusal(
            principal,
            status=str(status.status),
            uploader_id=str(pack_row.requested_by),
            listed=listed_approver_emails(pack_row.config),
        )
        if refusal is not None:
            raise refusal
        plan = status.approval_plan or None
        shown = plan.get("digest") if plan else None
        if plan_digest_seen is not None and plan_digest_seen != shown:
            raise ConflictError(
                "The plan this version waits with is not the one you reviewed; review it again.",
                code="plan_changed",
                plan_digest=shown,
            )
        at = scd2.clock(conn)
        recorded = approvals.record(
            conn,
            approvals.Decision(
                share_pack_id=share_pack_id,
                version=version,
                decision=decision,
                approver_id=principal.id,
                approver_name=principal.name,
                comment=comment,
                record_hash=str(pack_row.record_hash),
                plan_digest=shown,
                approved_changes=list(plan.get("destructive_changes") or []) if plan else [],
                request_id=request_id,
            ),
            at=at,
        )
        target = Status.QUEUED if decision == "approve" else Status.REJECTED
        verb = "approved" if decision == "approve" else "declined"
        moved = version_status.transition(
            conn,
            share_pack_id,
            version,
            target,
            from_statuses=(Status.PENDING_APPROVAL,),
            at=at,
            actor=principal.id,
            reason=f"{verb} by {principal.name}",
            request_id=request_id,
            changes={"next_visible_at": at if target == Status.QUEUED else None},
        )
        if moved is None:  # pragma: no cover - the row is locked FOR UPDATE above
            raise ConflictError("The version changed state meanwhile.", code="not_pending_approval")
        if target == Status.QUEUED:
            message = WorkMessage(
                share_pack_id, version, attempt=int(moved.attempts) + 1, request_id=request_id
            )
        audit_trail.record_pack_event(
            conn,
            actor=principal,
            action=f"sharepack.{decision}",
            pack_key=str(pack_row.pack_key),
            workspace_url=str(pack_row.workspace_url),
            share_pack_id=share_pack_id,
            version=version,
            request_id=request_id,
            new_values={"status": target.value, "plan_digest": shown, "comment": comment},
        )
    body = {
        "share_pack_id": share_pack_id,
        "version": version,
        "decision": decision,
        "status": target.value,
        "decided_by": {"id": principal.id, "name": principal.name},
        "decided_at": recorded.decided_at,
        "comment": comment,
        "plan_digest": shown,
        "approved_changes": list(recorded.approved_changes or []),
    }
    return DecisionResult(body=body, message=message)
