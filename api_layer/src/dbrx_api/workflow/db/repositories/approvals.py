"""`deltashare.version_approvals` (append-only): approvers' decisions on pack versions (docs/GOVERNANCE.md §1)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import DictRow

from dbrx_api.workflow.db.values import jsonb, returned


@dataclass(frozen=True)
class Decision:
    """One approver's decision on one version, bound to its content hash and to the plan the approver saw."""

    share_pack_id: UUID
    version: int
    decision: str  # approve | decline
    approver_id: str
    approver_name: str | None
    comment: str | None
    record_hash: str
    plan_digest: str | None
    approved_changes: Sequence[str]
    request_id: str | None = None


def record(
    conn: psycopg.Connection[DictRow], decision: Decision, *, at: datetime
) -> dict[str, Any]:
    """Append a decision and return its row."""
    row = conn.execute(
        "INSERT INTO deltashare.version_approvals (share_pack_id, version, decision, approver_id, approver_name, "
        "comment, record_hash, plan_digest, approved_changes, decided_at, request_id) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING *",
        (
            decision.share_pack_id,
            decision.version,
            decision.decision,
            decision.approver_id,
            decision.approver_name,
            decision.comment,
            decision.record_hash,
            decision.plan_digest,
            jsonb(list(decision.approved_changes)),
            at,
            decision.request_id,
        ),
    ).fetchone()
    return returned(row)


def latest_approval(
    conn: psycopg.Connection[DictRow], share_pack_id: UUID, version: int, record_hash: str
) -> dict[str, Any] | None:
    """The newest `approve` decision on this version's content, or None."""
    return conn.execute(
        "SELECT * FROM deltashare.version_approvals WHERE share_pack_id = %s AND version = %s "
        "AND record_hash = %s AND decision = 'approve' ORDER BY approval_id DESC LIMIT 1",
        (share_pack_id, version, record_hash),
    ).fetchone()


def list_for_pack(conn: psycopg.Connection[DictRow], share_pack_id: UUID) -> list[dict[str, Any]]:
    """Every decision on every version of a pack, oldest first."""
    return conn.execute(
        "SELECT * FROM deltashare.version_approvals WHERE share_pack_id = %s ORDER BY approval_id",
        (share_pack_id,),
    ).fetchall()
