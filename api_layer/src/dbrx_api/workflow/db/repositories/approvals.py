"""`deltashare.version_approvals` (append-only): approvers' decisions on pack versions (docs/GOVERNANCE.md §1)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import psycopg
from psycopg.rows import DictRow

from dbrx_api.workflow.db.values import (
    insert_sql,
    jsonb,
    record_of,
    record_or_none,
    records_of,
    returned,
)


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


@dataclass(frozen=True, kw_only=True)
class StoredDecision(Decision):
    """A recorded decision: its row id and when it was made."""

    approval_id: int
    decided_at: datetime


def record(
    conn: psycopg.Connection[DictRow], decision: Decision, *, at: datetime
) -> StoredDecision:
    """Append a decision and return it as recorded."""
    values = {
        **dataclasses.asdict(decision),
        "approved_changes": jsonb(list(decision.approved_changes)),
        "decided_at": at,
    }
    row = conn.execute(insert_sql("version_approvals", values, "*"), values).fetchone()
    return record_of(StoredDecision, returned(row))


def latest_approval(
    conn: psycopg.Connection[DictRow], share_pack_id: UUID, version: int, record_hash: str
) -> StoredDecision | None:
    """The newest `approve` decision on this version's content, or None."""
    row = conn.execute(
        "SELECT * FROM deltashare.version_approvals WHERE share_pack_id = %s AND version = %s "
        "AND record_hash = %s AND decision = 'approve' ORDER BY approval_id DESC LIMIT 1",
        (share_pack_id, version, record_hash),
    ).fetchone()
    return record_or_none(StoredDecision, row)


def list_for_pack(conn: psycopg.Connection[DictRow], share_pack_id: UUID) -> list[StoredDecision]:
    """Every decision on every version of a pack, oldest first."""
    rows = conn.execute(
        "SELECT * FROM deltashare.version_approvals WHERE share_pack_id = %s ORDER BY approval_id",
        (share_pack_id,),
    ).fetchall()
    return records_of(StoredDecision, rows)
