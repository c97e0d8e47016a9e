"""Audit rows of provisioning steps in the same shape as the API's (docs/WORKFLOW.md §5.3, docs/API.md §1.12).

An API row and a worker row about the same resource share `workspace_url`, `entity_type` and `entity_key` = the
bare resource name (`sales_share`, never `<workspace>/sales_share`), so one query on the `audit_entity` index
returns both. The actor of a worker row is the person or application the change is done for: the uploader of the
version (`share_packs.requested_by` / `requested_by_name`, the kind taken from the version's `sharepack.upload`
row). The worker that performed the step is kept in `new_values.performed_by`; `new_values.approved_by` names the
approver of the version when there is one (the newest approval of its content, docs/GOVERNANCE.md §1.4).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast
from uuid import UUID

import psycopg
from psycopg.rows import DictRow

from dbrx_api.workflow.db.repositories import approvals, share_packs
from dbrx_api.workflow.db.repositories.audit_trail import ActorKind, AuditEntry, AuditOutcome

_KINDS: frozenset[str] = frozenset({"user", "app", "worker", "system"})


@dataclass(frozen=True, slots=True)
class VersionActor:
    """Who a version's provisioning is done for: its uploader and, once approvals exist, its approver."""

    actor_id: str
    actor_name: str | None
    actor_kind: ActorKind
    approved_by: str | None = None


def version_actor(
    conn: psycopg.Connection[DictRow],
    share_pack_id: UUID,
    version: int,
    *,
    approved_by: str | None = None,
) -> VersionActor | None:
    """The uploader of a stored version (None when the version row is missing).

    `approved_by` defaults to the approver of the newest approval recorded for the version's content.
    """
    row = share_packs.get_version(conn, share_pack_id, version)
    if row is None:
        return None
    actor_id = str(row.requested_by)
    upload = conn.execute(
        "SELECT actor_kind FROM deltashare.audit_trail WHERE share_pack_id = %s AND version = %s "
        "AND action = 'sharepack.upload' AND actor_id = %s ORDER BY at LIMIT 1",
        (share_pack_id, version, actor_id),
    ).fetchone()
    kind = str(upload["actor_kind"]) if upload is not None else "user"
    if approved_by is None:
        approval = approvals.latest_approval(conn, share_pack_id, version, str(row.record_hash))
        approved_by = approval.approver_id if approval is not None else None
    return VersionActor(
        actor_id=actor_id,
        actor_name=row.requested_by_name,
        actor_kind=cast(ActorKind, kind if kind in _KINDS else "user"),
        approved_by=approved_by,
    )


def step_entry(
    *,
    actor: VersionActor | None,
    performed_by: str,
    action: str,
    entity_type: str,
    name: str,
    outcome: AuditOutcome,
    workspace_url: str,
    share_pack_id: UUID,
    version: int,
    run_id: UUID,
    request_id: str | None,
    values: Mapping[str, Any] | None,
) -> AuditEntry:
    """The audit row of one provisioning step, keyed by the bare resource `name` as the API writes it.

    `actor` is the version's uploader (`version_actor`); when the version row vanished (None) the worker
    `performed_by` is the actor. `values` is the step's detail (or its error code).
    """
    extra: dict[str, Any] = {
        **(values or {}),
        "performed_by": performed_by,
        "approved_by": actor.approved_by if actor else None,
    }
    return AuditEntry(
        actor_id=actor.actor_id if actor else performed_by,
        actor_name=actor.actor_name if actor else None,
        actor_kind=actor.actor_kind if actor else "worker",
        source="workflow",
        action=action,
        entity_type=entity_type,
        entity_key=name,
        outcome=outcome,
        workspace_url=workspace_url,
        share_pack_id=share_pack_id,
        version=version,
        run_id=run_id,
        request_id=request_id,
        new_values=extra,
    )
