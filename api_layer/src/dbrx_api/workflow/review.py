"""What the reviewer console shows (docs/API.md §17): the inbox of one person and the review of one pack.

Read-only flows in one short transaction each. Whether the person may approve, decline or withdraw is answered by
the same rules the API applies when they try (`approvals.decision_refusal`, `service.withdraw_refusal`), so a
button is offered exactly where the call would succeed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dbrx_api.dbrx_auth.principal import Principal
from dbrx_api.errors import AppError
from dbrx_api.schemas.workflow import PackHistory, PackStatus
from dbrx_api.workflow import approvals
from dbrx_api.workflow.context import WorkflowContext
from dbrx_api.workflow.db import views
from dbrx_api.workflow.db.connection import transaction
from dbrx_api.workflow.db.repositories import owners
from dbrx_api.workflow.db.repositories.version_status import Status
from dbrx_api.workflow.service import _not_found, _pack_id, withdraw_refusal

INBOX_LIMIT = 200


@dataclass(frozen=True)
class Refusal:
    """Why an action is not offered: the problem code and its sentence (as the API would answer)."""

    code: str
    detail: str

    @classmethod
    def of(cls, error: AppError | None) -> Refusal | None:
        """The refusal of an error the rules returned, or None."""
        return None if error is None else cls(code=error.code, detail=error.detail)


@dataclass(frozen=True)
class InboxItem:
    """A pack's current version and whether the viewer may decide on it."""

    pack: PackStatus
    decision_refused: Refusal | None


@dataclass(frozen=True)
class Inbox:
    """Versions waiting for the viewer's decision, and the viewer's own uploads; newest first."""

    waiting: list[InboxItem]
    others_waiting: list[InboxItem]
    mine: list[PackStatus]


def _decision_refusal(principal: Principal, pack: PackStatus) -> Refusal | None:
    listed = {a.strip().lower() for a in pack.governance.approver if "@" in a}
    return Refusal.of(
        approvals.decision_refusal(
            principal, status=pack.status, uploader_id=pack.requested_by.id, listed=listed
        )
    )


def inbox(ctx: WorkflowContext, principal: Principal) -> Inbox:
    """The viewer's inbox: `PENDING_APPROVAL` versions they may decide on (and the others waiting), and the
    current versions of the packs they uploaded, each list newest status change first."""
    with transaction(ctx.pool) as conn:
        pending = views.list_status_views(
            conn, statuses=[Status.PENDING_APPROVAL.value], limit=INBOX_LIMIT
        )
        uploaded = views.list_status_views(conn, requested_by=principal.id, limit=INBOX_LIMIT)
    waiting: list[InboxItem] = []
    others: list[InboxItem] = []
    for item in pending.items:
        pack = PackStatus.model_validate(item)
        refusal = _decision_refusal(principal, pack)
        (waiting if refusal is None else others).append(InboxItem(pack, refusal))
    mine = [PackStatus.model_validate(item) for item in uploaded.items]
    return Inbox(waiting=waiting, others_waiting=others, mine=mine)


@dataclass(frozen=True)
class PackReview:
    """One pack as a reviewer sees it: its status, its full history, and what the viewer may do now."""

    status: PackStatus
    history: PackHistory
    decision_refused: Refusal | None
    withdraw_refused: Refusal | None
    listed_approvers: list[str]


def pack_review(ctx: WorkflowContext, principal: Principal, raw_id: str) -> PackReview:
    """Status, history (with each version's document) and the viewer's allowed actions on the current version."""
    share_pack_id = _pack_id(raw_id)
    with transaction(ctx.pool) as conn:
        status_row = views.status_view(conn, share_pack_id)
        history_row = views.history_view(conn, share_pack_id, include_config=False)
        owner_ids = {o.id for o in owners.list_owners(conn, share_pack_id)}
    if status_row is None or history_row is None:
        raise _not_found(share_pack_id)
    status = PackStatus.model_validate(status_row)
    history = PackHistory.model_validate(history_row)
    withdraw = withdraw_refusal(
        principal, status=status.status, uploader_id=status.requested_by.id, owner_ids=owner_ids
    )
    return PackReview(
        status=status,
        history=history,
        decision_refused=_decision_refusal(principal, status),
        withdraw_refused=Refusal.of(withdraw),
        listed_approvers=list(status.governance.approver),
    )


def destructive_entries(changes: list[dict[str, Any]]) -> list[list[str]]:
    """For each plan change, the destructive sentences it alone contributes (empty when it is not destructive)."""
    return [approvals.destructive_changes([entry]) for entry in changes]


@dataclass(frozen=True)
class TimelineEvent:
    """One line of a version's timeline: an upload, a status change, a decision or a run (with its steps)."""

    at: Any
    kind: str
    title: str
    actor: Any = None
    detail: str | None = None
    outcome: str | None = None
    steps: list[Any] | None = None


def issue_location(issue: Any) -> str | None:
    """Where in the uploaded file an issue points: `line 12, column 5` (YAML) or `sheet X, cell B3` (Excel)."""
    if not isinstance(issue, dict):
        return None
    parts: list[str] = []
    if issue.get("sheet"):
        parts.append(f"sheet {issue['sheet']}")
    if issue.get("cell"):
        parts.append(f"cell {issue['cell']}")
    elif issue.get("row") is not None:
        parts.append(f"row {issue['row']}")
    if issue.get("line") is not None:
        parts.append(f"line {issue['line']}")
        if issue.get("column") is not None:
            parts.append(f"column {issue['column']}")
    where = ", ".join(parts)
    loc = issue.get("loc")
    if loc and where:
        return f"{loc} ({where})"
    return str(loc) if loc else (where or None)


def timeline(history: PackHistory) -> list[tuple[Any, list[TimelineEvent]]]:
    """Each version (newest first) with its events in time order: the upload, every status change, every
    approver's decision and every run with its steps (docs/API.md §12.2 data, arranged for reading)."""
    # Transitions name their actor by id: show the name the history knows for that id (uploaders, approvers,
    # owners); workers keep their `worker:<id>`.
    names: dict[str, str] = {o.id: o.name for o in history.owners if o.name}
    for v in history.versions:
        if v.requested_by.name:
            names[v.requested_by.id] = v.requested_by.name
        names.update({a.decided_by.id: a.decided_by.name for a in v.approvals if a.decided_by.name})

    def actor(ident: str | None) -> Any:
        if ident is None or ident not in names:
            return ident
        return {"id": ident, "name": names[ident]}

    result: list[tuple[Any, list[TimelineEvent]]] = []
    for version in reversed(history.versions):
        events = [
            TimelineEvent(
                at=version.effective_from,
                kind="upload",
                title=f"version {version.version} uploaded ({version.strategy})",
                actor=version.requested_by,
                detail=version.file.name,
            )
        ]
        events += [
            TimelineEvent(
                at=t.at,
                kind="transition",
                title=f"{t.from_status or '—'} → {t.to_status}",
                actor=actor(t.actor),
                detail=t.reason,
                outcome=t.to_status,
            )
            for t in version.transitions
        ]
        events += [
            TimelineEvent(
                at=a.decided_at,
                kind="decision",
                title="approved" if a.decision == "approve" else "declined",
                actor=a.decided_by,
                detail=a.comment,
                outcome=a.decision.upper(),
            )
            for a in version.approvals
        ]
        events += [
            TimelineEvent(
                at=r.started_at,
                kind="run",
                title=f"run {r.attempt} on {r.worker_id or 'a worker'}",
                detail=(f"{r.error_code}: {r.error_message}" if r.error_code else None),
                outcome=r.outcome,
                steps=r.steps,
            )
            for r in version.runs
        ]
        order = {"upload": 0, "transition": 1, "decision": 2, "run": 3}
        events.sort(key=lambda e: (str(e.at or ""), order[e.kind]))
        result.append((version, events))
    return result
