"""`deltashare.provisioning_runs` (append-only; inserted once, closed once): one row per claim of a version."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import DictRow

from dbrx_api.workflow.db.values import jsonb, record_of, record_or_none, records_of, returned


class RunOutcome(StrEnum):
    """`provisioning_runs.outcome`."""

    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    RETRY = "RETRY"
    INTERRUPTED = "INTERRUPTED"
    ABANDONED = "ABANDONED"
    AWAITING_APPROVAL = "AWAITING_APPROVAL"  # held for an approver before any mutating call


@dataclass(frozen=True)
class RunRecord:
    """One row of `provisioning_runs` (docs/WORKFLOW.md §5.3)."""

    run_id: UUID
    share_pack_id: UUID
    version: int
    attempt: int
    worker_id: str
    queue_message_id: str | None
    dequeue_count: int | None
    strategy: str
    started_at: datetime
    ended_at: datetime | None
    outcome: str
    error_code: str | None
    error_message: str | None
    read_calls: int | None
    mutating_calls: int | None
    summary: dict[str, Any] | None


def start(
    conn: psycopg.Connection[DictRow],
    *,
    run_id: UUID,
    share_pack_id: UUID,
    version: int,
    attempt: int,
    worker_id: str,
    strategy: str,
    started_at: datetime,
    queue_message_id: str | None = None,
    dequeue_count: int | None = None,
) -> RunRecord:
    """Insert the `RUNNING` row of a claimed run and return it."""
    row = returned(
        conn.execute(
            "INSERT INTO deltashare.provisioning_runs (run_id, share_pack_id, version, attempt, worker_id, "
            "queue_message_id, dequeue_count, strategy, started_at, outcome) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, 'RUNNING') RETURNING *",
            (
                run_id,
                share_pack_id,
                version,
                attempt,
                worker_id,
                queue_message_id,
                dequeue_count,
                strategy,
                started_at,
            ),
        ).fetchone()
    )
    return record_of(RunRecord, row)


def close(
    conn: psycopg.Connection[DictRow],
    run_id: UUID,
    *,
    outcome: str,
    ended_at: datetime,
    error_code: str | None = None,
    error_message: str | None = None,
    read_calls: int | None = None,
    mutating_calls: int | None = None,
    summary: Mapping[str, Any] | None = None,
) -> bool:
    """Close an open run once with its outcome; False when it was already closed (or does not exist)."""
    if outcome == RunOutcome.RUNNING:
        raise ValueError("a run is closed with a final outcome, not RUNNING")
    cursor = conn.execute(
        "UPDATE deltashare.provisioning_runs SET ended_at = %s, outcome = %s, error_code = %s, "
        "error_message = %s, read_calls = %s, mutating_calls = %s, summary = %s "
        "WHERE run_id = %s AND ended_at IS NULL",
        (
            ended_at,
            outcome,
            error_code,
            error_message,
            read_calls,
            mutating_calls,
            jsonb(summary),
            run_id,
        ),
    )
    return cursor.rowcount == 1


def get(conn: psycopg.Connection[DictRow], run_id: UUID) -> RunRecord | None:
    """One run, or None."""
    row = conn.execute(
        "SELECT * FROM deltashare.provisioning_runs WHERE run_id = %s", (run_id,)
    ).fetchone()
    return record_or_none(RunRecord, row)


def open_run_ids(
    conn: psycopg.Connection[DictRow], share_pack_id: UUID, version: int
) -> list[UUID]:
    """Ids of the runs of a version that were never closed (a dead worker's run, for takeover and recovery)."""
    rows = conn.execute(
        "SELECT run_id FROM deltashare.provisioning_runs WHERE share_pack_id = %s AND version = %s "
        "AND ended_at IS NULL ORDER BY started_at",
        (share_pack_id, version),
    ).fetchall()
    return [row["run_id"] for row in rows]


def list_for_version(
    conn: psycopg.Connection[DictRow], share_pack_id: UUID, version: int
) -> list[RunRecord]:
    """The runs of one version in the order they started."""
    rows = conn.execute(
        "SELECT * FROM deltashare.provisioning_runs WHERE share_pack_id = %s AND version = %s "
        "ORDER BY started_at, run_id",
        (share_pack_id, version),
    ).fetchall()
    return records_of(RunRecord, rows)


def list_for_pack(conn: psycopg.Connection[DictRow], share_pack_id: UUID) -> list[RunRecord]:
    """The runs of every version of a pack, by version then start."""
    rows = conn.execute(
        "SELECT * FROM deltashare.provisioning_runs WHERE share_pack_id = %s "
        "ORDER BY version, started_at, run_id",
        (share_pack_id,),
    ).fetchall()
    return records_of(RunRecord, rows)


def last_error(
    conn: psycopg.Connection[DictRow], share_pack_id: UUID, version: int
) -> tuple[str, str | None] | None:
    """`(error_code, error_message)` of the latest run of the version that recorded an error, or None."""
    row = conn.execute(
        "SELECT error_code, error_message FROM deltashare.provisioning_runs "
        "WHERE share_pack_id = %s AND version = %s AND error_code IS NOT NULL "
        "ORDER BY started_at DESC LIMIT 1",
        (share_pack_id, version),
    ).fetchone()
    return None if row is None else (row["error_code"], row["error_message"])
