"""Multi-table steps of the version lifecycle, each meant to run inside one caller-owned transaction.

They combine the repositories the way docs/WORKFLOW.md §7 (upload), docs/WORKFLOW.md §8 (worker) and docs/WORKFLOW.md §8.7 (sweeper) describe: a guarded
status update, its `status_transitions` row, and the run bookkeeping, all stamped with one timestamp.
Nothing here commits, calls Databricks or touches the queue.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import DictRow

from dbrx_api.workflow.db import scd2
from dbrx_api.workflow.db.repositories import (
    provisioning_runs,
    provisioning_steps,
    share_packs,
    version_status,
)
from dbrx_api.workflow.db.repositories.provisioning_runs import RunOutcome
from dbrx_api.workflow.db.repositories.version_status import Status
from dbrx_api.workflow.db.values import returned

logger = logging.getLogger(__name__)

_APPROVAL_TARGET = {
    "approved": (Status.QUEUED, "approved"),
    "pending": (Status.PENDING_APPROVAL, "pending"),
    "request_more_info": (Status.PENDING_APPROVAL, "request_more_info"),
    "declined": (Status.REJECTED, "declined"),
}
_LEASE_CLEARED = {"lease_owner": None, "lease_expires_at": None}


# ------------------------------------------------------------------------------------------ upload (docs/WORKFLOW.md §7)


@dataclass(frozen=True)
class Admission:
    """Result of `admit_version`: the version's status."""

    status: Status


def admit_version(
    conn: psycopg.Connection[DictRow],
    share_pack_id: UUID,
    version: int,
    *,
    approver_status: str,
    at: datetime,
    actor: str,
    request_id: str | None = None,
) -> Admission:
    """Status rows of a freshly stored version (docs/WORKFLOW.md §7.1 steps 4.5-4.6), all at `at`.

    `RECEIVED → VALIDATED → QUEUED | PENDING_APPROVAL | REJECTED` (from `approver_status`), `next_visible_at = at`
    for `QUEUED`, then every older `QUEUED`/`PENDING_APPROVAL` version of the pack becomes `SUPERSEDED`.
    """
    try:
        target, reason = _APPROVAL_TARGET[approver_status]
    except KeyError:
        raise ValueError(f"unknown approver_status {approver_status!r}") from None
    version_status.insert_received(
        conn, share_pack_id, version, at=at, actor=actor, request_id=request_id
    )
    common: dict[str, Any] = {"at": at, "actor": actor, "request_id": request_id}
    version_status.transition(conn, share_pack_id, version, Status.VALIDATED, **common)
    changes = {"next_visible_at": at} if target == Status.QUEUED else None
    version_status.transition(
        conn, share_pack_id, version, target, reason=reason, changes=changes, **common
    )
    for older in version_status.list_pending_older(conn, share_pack_id, version):
        supersede(conn, share_pack_id, older.version, newer_version=version, **common)
    return Admission(status=target)


def supersede(
    conn: psycopg.Connection[DictRow],
    share_pack_id: UUID,
    version: int,
    *,
    at: datetime,
    actor: str,
    newer_version: int | None = None,
    request_id: str | None = None,
) -> bool:
    """`QUEUED | PENDING_APPROVAL → SUPERSEDED`; False when the version was in another state."""
    reason = f"superseded by version {newer_version}" if newer_version else "superseded"
    row = version_status.transition(
        conn,
        share_pack_id,
        version,
        Status.SUPERSEDED,
        at=at,
        actor=actor,
        reason=reason,
        request_id=request_id,
        changes={"next_visible_at": None},
    )
    return row is not None


def rerun_version(
    conn: psycopg.Connection[DictRow],
    share_pack_id: UUID,
    version: int,
    *,
    at: datetime,
    actor: str,
    request_id: str | None = None,
) -> version_status.VersionStatus | None:
    """Identical re-upload of a `COMPLETED`/`FAILED` current version: back to `QUEUED` (docs/WORKFLOW.md §7.2).

    Clears the previous error. Returns the updated status (send `attempt = attempts + 1`) or None when the version
    is in another state (nothing to do).
    """
    return version_status.transition(
        conn,
        share_pack_id,
        version,
        Status.QUEUED,
        from_statuses=(Status.COMPLETED, Status.FAILED),
        at=at,
        actor=actor,
        reason="rerun",
        request_id=request_id,
        changes={"next_visible_at": at, "error": None, "status_detail": None},
    )


# ------------------------------------------------------------------------------------------ worker (docs/WORKFLOW.md §8)


@dataclass(frozen=True)
class Claim:
    """A version claimed by a worker: the run to record steps under and the version's reference time T."""

    share_pack_id: UUID
    version: int
    run_id: UUID
    worker_id: str
    attempt: int
    strategy: str
    workspace_url: str
    first_provisioned_at: datetime
    claimed_at: datetime
    request_id: str | None = None

    @property
    def actor(self) -> str:
        """Actor of the worker's transitions (`worker:<id>`)."""
        return f"worker:{self.worker_id}"


@dataclass(frozen=True)
class ClaimAttempt:
    """Outcome of `claim_version`: a claim, or why there is none (`missing`, `superseded`, `not_queued`)."""

    claim: Claim | None
    reason: str
    abandoned_runs: list[UUID]


def abandon_open_runs(
    conn: psycopg.Connection[DictRow],
    share_pack_id: UUID,
    version: int,
    *,
    at: datetime,
    reason: str,
) -> list[UUID]:
    """Close the never-closed runs of a version `ABANDONED` (their running steps `INTERRUPTED`)."""
    abandoned = []
    for run_id in provisioning_runs.open_run_ids(conn, share_pack_id, version):
        provisioning_steps.interrupt_open(conn, run_id, at=at)
        if provisioning_runs.close(
            conn,
            run_id,
            outcome=RunOutcome.ABANDONED,
            ended_at=at,
            error_code="worker_lost",
            error_message=reason,
        ):
            abandoned.append(run_id)
    return abandoned


def claim_version(
    conn: psycopg.Connection[DictRow],
    share_pack_id: UUID,
    version: int,
    *,
    worker_id: str,
    run_id: UUID,
    lease_s: float,
    queue_message_id: str | None = None,
    dequeue_count: int | None = None,
    request_id: str | None = None,
) -> ClaimAttempt:
    """Claim a version for a run (docs/WORKFLOW.md §8.2 step 6). The caller must hold the pack's session lock.

    An `IN_PROGRESS` status seen under the lock belongs to a dead worker: its open runs are closed `ABANDONED` and
    the version goes back to `QUEUED` (reason `takeover`) first. A `QUEUED` version with a newer stored version is
    superseded instead of started. Otherwise `QUEUED → IN_PROGRESS`, the `RUNNING` run row and the transition.
    """
    at = scd2.clock(conn)
    actor = f"worker:{worker_id}"
    status = version_status.get(conn, share_pack_id, version, for_update=True)
    if status is None:
        return ClaimAttempt(None, "missing", [])
    abandoned: list[UUID] = []
    if status.status == Status.IN_PROGRESS:
        abandoned = abandon_open_runs(
            conn, share_pack_id, version, at=at, reason="the worker holding the run disappeared"
        )
        version_status.transition(
            conn,
            share_pack_id,
            version,
            Status.QUEUED,
            from_statuses=(Status.IN_PROGRESS,),
            at=at,
            actor=actor,
            reason="takeover",
            request_id=request_id,
            changes={**_LEASE_CLEARED, "next_visible_at": at},
        )
    if share_packs.has_newer_version(conn, share_pack_id, version):
        superseded = supersede(
            conn, share_pack_id, version, at=at, actor=actor, request_id=request_id
        )
        return ClaimAttempt(None, "superseded" if superseded else "not_queued", abandoned)
    row = version_status.claim(
        conn,
        share_pack_id,
        version,
        worker_id=worker_id,
        run_id=run_id,
        lease_s=lease_s,
        at=at,
        request_id=request_id,
    )
    if row is None:
        return ClaimAttempt(None, "not_queued", abandoned)
    pack = returned(share_packs.get_version(conn, share_pack_id, version))
    provisioning_runs.start(
        conn,
        run_id=run_id,
        share_pack_id=share_pack_id,
        version=version,
        attempt=row.attempts,
        worker_id=worker_id,
        strategy=pack.strategy,
        started_at=at,
        queue_message_id=queue_message_id,
        dequeue_count=dequeue_count,
    )
    claim = Claim(
        share_pack_id=share_pack_id,
        version=version,
        run_id=run_id,
        worker_id=worker_id,
        attempt=row.attempts,
        strategy=pack.strategy,
        workspace_url=pack.workspace_url,
        first_provisioned_at=returned(row.first_provisioned_at),  # set by the claim
        claimed_at=at,
        request_id=request_id,
    )
    return ClaimAttempt(claim, "claimed", abandoned)


@dataclass(frozen=True)
class RunFigures:
    """Counters and summary a run reports when it ends."""

    read_calls: int | None = None
    mutating_calls: int | None = None
    summary: Mapping[str, Any] | None = None


def complete_run(
    conn: psycopg.Connection[DictRow],
    claim: Claim,
    *,
    figures: RunFigures,
    status_detail: str | None = None,
) -> bool:
    """`IN_PROGRESS → COMPLETED` with the run closed `COMPLETED` (docs/WORKFLOW.md §8.4); False when the worker lost the version."""
    return _end_run(
        conn,
        claim,
        RunOutcome.COMPLETED,
        Status.COMPLETED,
        figures=figures,
        changes={"status_detail": status_detail, "error": None, "next_visible_at": None},
    )


def fail_run(
    conn: psycopg.Connection[DictRow],
    claim: Claim,
    *,
    error: Mapping[str, Any],
    figures: RunFigures,
    reason: str | None = None,
    status_detail: str | None = None,
) -> bool:
    """`IN_PROGRESS → FAILED` with `error = {code, message, step}` and the run closed `FAILED` (docs/WORKFLOW.md §8.4)."""
    return _end_run(
        conn,
        claim,
        RunOutcome.FAILED,
        Status.FAILED,
        figures=figures,
        error=error,
        reason=reason or str(error.get("code")),
        changes={"error": dict(error), "status_detail": status_detail, "next_visible_at": None},
    )


def hold_for_approval(
    conn: psycopg.Connection[DictRow],
    claim: Claim,
    *,
    reason: str,
    plan: Mapping[str, Any],
    figures: RunFigures,
) -> bool:
    """`IN_PROGRESS → PENDING_APPROVAL` before any mutating call: the run closes `AWAITING_APPROVAL` and the
    version keeps the plan the approver is shown (docs/GOVERNANCE.md §1.3)."""
    return _end_run(
        conn,
        claim,
        RunOutcome.AWAITING_APPROVAL,
        Status.PENDING_APPROVAL,
        figures=figures,
        reason=reason,
        changes={
            "approval_plan": dict(plan),
            "status_detail": f"waiting for an approver ({reason})",
            "error": None,
            "next_visible_at": None,
        },
    )


def retry_run(
    conn: psycopg.Connection[DictRow],
    claim: Claim,
    *,
    backoff_s: float,
    error: Mapping[str, Any],
    figures: RunFigures,
) -> bool:
    """`IN_PROGRESS → QUEUED` after a retriable failure: run `RETRY`, lease cleared, visible after the backoff."""
    return _end_run(
        conn,
        claim,
        RunOutcome.RETRY,
        Status.QUEUED,
        figures=figures,
        error=error,
        reason=f"retriable: {error.get('code')}",
        visible_after_s=backoff_s,
        changes={
            "status_detail": f"attempt {claim.attempt} failed ({error.get('code')}); retrying"
        },
    )


def interrupt_run(
    conn: psycopg.Connection[DictRow],
    claim: Claim,
    *,
    reason: str,
    figures: RunFigures | None = None,
) -> bool:
    """Run stopped early (shutdown, lost lease, lost lock): run `INTERRUPTED`, version `QUEUED` visible now (docs/WORKFLOW.md §8.3)."""
    return _end_run(
        conn,
        claim,
        RunOutcome.INTERRUPTED,
        Status.QUEUED,
        figures=figures or RunFigures(),
        error={"code": "interrupted", "message": reason},
        reason=f"interrupted: {reason}",
        visible_after_s=0,
        changes={"status_detail": None},
    )


def _end_run(
    conn: psycopg.Connection[DictRow],
    claim: Claim,
    run_outcome: RunOutcome,
    to_status: Status,
    *,
    figures: RunFigures,
    changes: dict[str, Any],
    error: Mapping[str, Any] | None = None,
    reason: str | None = None,
    visible_after_s: float | None = None,
) -> bool:
    """Close the run (its open steps `INTERRUPTED`) and move the version out of `IN_PROGRESS`, at one timestamp.

    The status update is guarded by the claim (lease owner and run id): False when the worker lost the version.
    `visible_after_s` sets `next_visible_at` relative to that timestamp (back to `QUEUED`).
    """
    at = scd2.clock(conn)
    provisioning_steps.interrupt_open(conn, claim.run_id, at=at)
    closed = provisioning_runs.close(
        conn,
        claim.run_id,
        outcome=run_outcome,
        ended_at=at,
        error_code=None if error is None else error.get("code"),
        error_message=None if error is None else error.get("message"),
        read_calls=figures.read_calls,
        mutating_calls=figures.mutating_calls,
        summary=figures.summary,
    )
    if not closed:
        logger.warning("run was already closed", extra={"run_id": str(claim.run_id)})
    if visible_after_s is not None:
        changes = {**changes, "next_visible_at": at + timedelta(seconds=visible_after_s)}
    row = version_status.transition(
        conn,
        claim.share_pack_id,
        claim.version,
        to_status,
        from_statuses=(Status.IN_PROGRESS,),
        at=at,
        actor=claim.actor,
        reason=reason,
        run_id=claim.run_id,
        request_id=claim.request_id,
        guard={"lease_owner": claim.worker_id, "last_run_id": claim.run_id},
        changes={**_LEASE_CLEARED, **changes},
    )
    return row is not None


# ------------------------------------------------------------------------------------------ poison and sweeper


def fail_version(
    conn: psycopg.Connection[DictRow],
    share_pack_id: UUID,
    version: int,
    *,
    error: Mapping[str, Any],
    actor: str,
    from_statuses: Iterable[str] = (Status.QUEUED,),
    request_id: str | None = None,
) -> bool:
    """Mark a version `FAILED` outside a run (poison, docs/WORKFLOW.md §8.5); an `IN_PROGRESS` one has its open runs abandoned.

    Include `IN_PROGRESS` in `from_statuses` only while holding the pack lock (its previous holder is dead).
    """
    at = scd2.clock(conn)
    sources = tuple(from_statuses)
    current = version_status.get(conn, share_pack_id, version, for_update=True)
    if current is None or current.status not in sources:
        return False
    if current.status == Status.IN_PROGRESS:
        abandon_open_runs(
            conn, share_pack_id, version, at=at, reason="run abandoned; version poisoned"
        )
    row = version_status.transition(
        conn,
        share_pack_id,
        version,
        Status.FAILED,
        from_statuses=sources,
        at=at,
        actor=actor,
        reason=str(error.get("code")),
        request_id=request_id,
        changes={**_LEASE_CLEARED, "error": dict(error), "next_visible_at": None},
    )
    return row is not None


def recover_dead_run(
    conn: psycopg.Connection[DictRow],
    share_pack_id: UUID,
    version: int,
    *,
    actor: str,
    expected_run_id: UUID | None,
) -> version_status.VersionStatus | None:
    """Dead-run recovery (docs/WORKFLOW.md §8.7), under the pack lock: runs `ABANDONED`, `IN_PROGRESS → QUEUED` visible now.

    Guarded by the run id the sweeper saw, so a run claimed in between is left alone. Returns the status or None.
    """
    at = scd2.clock(conn)
    current = version_status.get(conn, share_pack_id, version, for_update=True)
    if current is None or current.status != Status.IN_PROGRESS:
        return None
    if current.last_run_id != expected_run_id:
        return None
    abandon_open_runs(
        conn, share_pack_id, version, at=at, reason="lease expired; worker presumed dead"
    )
    return version_status.transition(
        conn,
        share_pack_id,
        version,
        Status.QUEUED,
        from_statuses=(Status.IN_PROGRESS,),
        at=at,
        actor=actor,
        reason="dead run",
        changes={**_LEASE_CLEARED, "next_visible_at": at, "status_detail": None},
    )


def last_error_text(
    conn: psycopg.Connection[DictRow], share_pack_id: UUID, version: int
) -> str | None:
    """`code: message` of the latest run error of a version (for poison and retry-exhaustion errors)."""
    error = provisioning_runs.last_error(conn, share_pack_id, version)
    if error is None:
        return None
    code, message = error
    return f"{code}: {message}" if message else code
