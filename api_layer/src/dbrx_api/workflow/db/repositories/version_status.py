"""`deltashare.pack_version_status`: the status head, claim target and lease of every stored version (docs/WORKFLOW.md §5.3).

Every status change goes through `transition`, a guarded update (`… WHERE status = ANY(<allowed from>)`) that
also appends the `status_transitions` row; the table's trigger refuses any pair outside docs/WORKFLOW.md §4.3 as a backstop.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.rows import DictRow

from dbrx_api.workflow.db.repositories import status_transitions
from dbrx_api.workflow.db.values import jsonb, record_of, record_or_none, records_of, returned


class Status(StrEnum):
    """Version states (docs/WORKFLOW.md §4.2)."""

    RECEIVED = "RECEIVED"
    VALIDATED = "VALIDATED"
    PENDING_APPROVAL = "PENDING_APPROVAL"
    REJECTED = "REJECTED"
    QUEUED = "QUEUED"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    SUPERSEDED = "SUPERSEDED"
    WITHDRAWN = "WITHDRAWN"


# docs/WORKFLOW.md §4.3 and docs/GOVERNANCE.md §1, mirrored by deltashare.is_allowed_transition() (V0007; a test compares both).
ALLOWED_TRANSITIONS: frozenset[tuple[str | None, str]] = frozenset(
    {
        (None, Status.RECEIVED),
        (Status.RECEIVED, Status.VALIDATED),
        (Status.VALIDATED, Status.QUEUED),
        (Status.VALIDATED, Status.PENDING_APPROVAL),
        (Status.VALIDATED, Status.REJECTED),
        (Status.QUEUED, Status.IN_PROGRESS),
        (Status.IN_PROGRESS, Status.COMPLETED),
        (Status.IN_PROGRESS, Status.FAILED),
        (Status.IN_PROGRESS, Status.QUEUED),
        (Status.IN_PROGRESS, Status.PENDING_APPROVAL),
        (Status.QUEUED, Status.FAILED),
        (Status.QUEUED, Status.SUPERSEDED),
        (Status.PENDING_APPROVAL, Status.SUPERSEDED),
        (Status.PENDING_APPROVAL, Status.QUEUED),
        (Status.PENDING_APPROVAL, Status.REJECTED),
        (Status.COMPLETED, Status.QUEUED),
        (Status.FAILED, Status.QUEUED),
        (Status.QUEUED, Status.WITHDRAWN),
        (Status.PENDING_APPROVAL, Status.WITHDRAWN),
    }
)

_COLUMNS = frozenset(
    {
        "status_detail",
        "error",
        "next_visible_at",
        "attempts",
        "lease_owner",
        "lease_expires_at",
        "last_run_id",
        "first_provisioned_at",
        "approval_plan",
    }
)
_JSON_COLUMNS = frozenset({"error", "approval_plan"})
_GUARD_COLUMNS = frozenset({"lease_owner", "last_run_id"})


@dataclass(frozen=True)
class VersionStatus:
    """The status head of one stored version (a `pack_version_status` row, docs/WORKFLOW.md §5.3)."""

    share_pack_id: UUID
    version: int
    status: str
    updated_at: datetime
    attempts: int
    status_detail: str | None = None
    error: dict[str, Any] | None = None
    next_visible_at: datetime | None = None
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    last_run_id: UUID | None = None
    first_provisioned_at: datetime | None = None
    # The plan a PENDING_APPROVAL version waits with (docs/GOVERNANCE.md §1.3): `digest`, changes, ...
    approval_plan: dict[str, Any] | None = None
    # Set by `transition` only: the state the version left.
    from_status: str | None = None


def allowed_from(to_status: str) -> frozenset[str]:
    """The states from which `to_status` may be entered."""
    return frozenset(f for f, t in ALLOWED_TRANSITIONS if t == to_status and f is not None)


def get(
    conn: psycopg.Connection[DictRow],
    share_pack_id: UUID,
    version: int,
    *,
    for_update: bool = False,
) -> VersionStatus | None:
    """The status of one version, or None."""
    query = "SELECT * FROM deltashare.pack_version_status WHERE share_pack_id = %s AND version = %s"
    row = conn.execute(query + (" FOR UPDATE" if for_update else ""), (share_pack_id, version))
    return record_or_none(VersionStatus, row.fetchone())


def insert_received(
    conn: psycopg.Connection[DictRow],
    share_pack_id: UUID,
    version: int,
    *,
    at: datetime,
    actor: str,
    request_id: str | None = None,
) -> VersionStatus:
    """Create the status row of a freshly stored version as `RECEIVED` and record `— → RECEIVED`."""
    row = conn.execute(
        "INSERT INTO deltashare.pack_version_status (share_pack_id, version, status, updated_at) "
        "VALUES (%s, %s, 'RECEIVED', %s) RETURNING *",
        (share_pack_id, version, at),
    ).fetchone()
    row = returned(row)
    status_transitions.record(
        conn,
        share_pack_id=share_pack_id,
        version=version,
        from_status=None,
        to_status=Status.RECEIVED,
        at=at,
        actor=actor,
        reason="upload",
        request_id=request_id,
    )
    return record_of(VersionStatus, row)


def transition(
    conn: psycopg.Connection[DictRow],
    share_pack_id: UUID,
    version: int,
    to_status: str,
    *,
    at: datetime,
    actor: str,
    from_statuses: Iterable[str] | None = None,
    reason: str | None = None,
    run_id: UUID | None = None,
    request_id: str | None = None,
    guard: Mapping[str, Any] | None = None,
    changes: Mapping[str, Any] | None = None,
) -> VersionStatus | None:
    """Move a version to `to_status` when its status is one of `from_statuses` (default: every allowed one).

    `guard` adds equality conditions (`lease_owner`, `last_run_id`) so that a worker only changes the version it
    still owns; `changes` sets other columns in the same update. Appends the transition row.

    Returns:
        The updated status with `from_status` set, or None when the row is missing or the guard did not match.
    """
    sources = set(from_statuses) if from_statuses is not None else set(allowed_from(to_status))
    illegal = {s for s in sources if (s, to_status) not in ALLOWED_TRANSITIONS}
    if illegal:
        raise ValueError(f"forbidden status transition {sorted(illegal)} -> {to_status}")
    unknown_guard = set(guard or {}) - _GUARD_COLUMNS
    if unknown_guard:
        raise ValueError(f"cannot guard on {sorted(unknown_guard)}")
    current = get(conn, share_pack_id, version, for_update=True)
    if current is None or current.status not in sources:
        return None
    if any(getattr(current, c) != v for c, v in (guard or {}).items()):
        return None
    changes = dict(changes or {})
    if set(changes) - _COLUMNS:
        raise ValueError(f"cannot set {sorted(set(changes) - _COLUMNS)}")
    query = sql.SQL(
        "UPDATE deltashare.pack_version_status SET status = %s, updated_at = %s{} "
        "WHERE share_pack_id = %s AND version = %s RETURNING *"
    ).format(sql.Composed([sql.SQL(", {} = %s").format(sql.Identifier(c)) for c in changes]))
    params = [jsonb(v) if c in _JSON_COLUMNS else v for c, v in changes.items()]
    row = returned(conn.execute(query, [to_status, at, *params, share_pack_id, version]).fetchone())
    status_transitions.record(
        conn,
        share_pack_id=share_pack_id,
        version=version,
        from_status=current.status,
        to_status=to_status,
        at=at,
        actor=actor,
        reason=reason,
        run_id=run_id,
        request_id=request_id,
    )
    return record_of(VersionStatus, {**row, "from_status": current.status})


def claim(
    conn: psycopg.Connection[DictRow],
    share_pack_id: UUID,
    version: int,
    *,
    worker_id: str,
    run_id: UUID,
    lease_s: float,
    at: datetime,
    request_id: str | None = None,
) -> VersionStatus | None:
    """`QUEUED → IN_PROGRESS` for this worker (docs/WORKFLOW.md §8.2 step 6): lease, attempt count and reference time T.

    Returns the updated status (`attempts`, `first_provisioned_at`, …) or None when the version is not `QUEUED`.
    """
    row = conn.execute(
        "UPDATE deltashare.pack_version_status "
        "SET status = 'IN_PROGRESS', lease_owner = %(worker)s, lease_expires_at = %(ts)s + %(lease)s, "
        "    attempts = attempts + 1, last_run_id = %(run)s, updated_at = %(ts)s, status_detail = NULL, "
        "    error = NULL, first_provisioned_at = coalesce(first_provisioned_at, %(ts)s) "
        "WHERE share_pack_id = %(id)s AND version = %(v)s AND status = 'QUEUED' "
        "RETURNING *",
        {
            "worker": worker_id,
            "ts": at,
            "lease": timedelta(seconds=lease_s),
            "run": run_id,
            "id": share_pack_id,
            "v": version,
        },
    ).fetchone()
    if row is None:
        return None
    status_transitions.record(
        conn,
        share_pack_id=share_pack_id,
        version=version,
        from_status=Status.QUEUED,
        to_status=Status.IN_PROGRESS,
        at=at,
        actor=f"worker:{worker_id}",
        run_id=run_id,
        request_id=request_id,
    )
    return record_of(VersionStatus, row)


def renew_lease(
    conn: psycopg.Connection[Any],
    share_pack_id: UUID,
    version: int,
    *,
    worker_id: str,
    run_id: UUID,
    lease_s: float,
) -> bool:
    """Push the lease of a running version forward (docs/WORKFLOW.md §8.3); False when this worker no longer owns it."""
    cursor = conn.execute(
        "UPDATE deltashare.pack_version_status SET lease_expires_at = clock_timestamp() + %s "
        "WHERE share_pack_id = %s AND version = %s AND status = 'IN_PROGRESS' "
        "AND lease_owner = %s AND last_run_id = %s",
        (timedelta(seconds=lease_s), share_pack_id, version, worker_id, run_id),
    )
    return cursor.rowcount == 1


def set_progress(
    conn: psycopg.Connection[Any],
    share_pack_id: UUID,
    version: int,
    *,
    status_detail: str,
    run_id: UUID,
) -> bool:
    """Set `status_detail` of a running version (e.g. `step 5 of 11: share_objects:sales_share`)."""
    cursor = conn.execute(
        "UPDATE deltashare.pack_version_status SET status_detail = %s "
        "WHERE share_pack_id = %s AND version = %s AND status = 'IN_PROGRESS' AND last_run_id = %s",
        (status_detail, share_pack_id, version, run_id),
    )
    return cursor.rowcount == 1


def set_next_visible(
    conn: psycopg.Connection[Any], share_pack_id: UUID, version: int, *, at: datetime
) -> bool:
    """Record when the version's queue message becomes visible (only while `QUEUED`; for the sweeper)."""
    cursor = conn.execute(
        "UPDATE deltashare.pack_version_status SET next_visible_at = %s "
        "WHERE share_pack_id = %s AND version = %s AND status = 'QUEUED'",
        (at, share_pack_id, version),
    )
    return cursor.rowcount == 1


def list_queued(
    conn: psycopg.Connection[DictRow], *, visible_before: datetime | None = None, limit: int = 1000
) -> list[VersionStatus]:
    """`QUEUED` versions, those whose message should have been visible before `visible_before` when given."""
    return records_of(
        VersionStatus,
        conn.execute(
            "SELECT * FROM deltashare.pack_version_status WHERE status = 'QUEUED' "
            "AND (%s::timestamptz IS NULL OR next_visible_at IS NULL OR next_visible_at < %s) "
            "ORDER BY next_visible_at NULLS FIRST LIMIT %s",
            (visible_before, visible_before, limit),
        ).fetchall(),
    )


def list_expired_leases(
    conn: psycopg.Connection[DictRow], *, expired_before: datetime, limit: int = 1000
) -> list[VersionStatus]:
    """`IN_PROGRESS` versions whose lease ended before `expired_before` (dead-run candidates, docs/WORKFLOW.md §8.7)."""
    return records_of(
        VersionStatus,
        conn.execute(
            "SELECT * FROM deltashare.pack_version_status WHERE status = 'IN_PROGRESS' "
            "AND lease_expires_at < %s ORDER BY lease_expires_at LIMIT %s",
            (expired_before, limit),
        ).fetchall(),
    )


def list_pending_older(
    conn: psycopg.Connection[DictRow], share_pack_id: UUID, below_version: int
) -> list[VersionStatus]:
    """Older versions still `QUEUED` or `PENDING_APPROVAL` (to be superseded by a newer upload)."""
    return records_of(
        VersionStatus,
        conn.execute(
            "SELECT * FROM deltashare.pack_version_status WHERE share_pack_id = %s AND version < %s "
            "AND status IN ('QUEUED', 'PENDING_APPROVAL') ORDER BY version",
            (share_pack_id, below_version),
        ).fetchall(),
    )
