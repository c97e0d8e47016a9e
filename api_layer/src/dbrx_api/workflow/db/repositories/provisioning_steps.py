"""`deltashare.provisioning_steps` (append-only; inserted once, closed once): one row per action of a run.

A `create` step inserted `RUNNING` before the SDK call is the **create intent** of docs/WORKFLOW.md §9.9: if the run dies before
closing it, a later run finds it with `find_unresolved_create_intents` and records the object it finds as created
by the pack.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import DictRow

from dbrx_api.workflow.db.values import affected_rows, jsonb, records_of, returned, scalar


class StepOutcome(StrEnum):
    """`provisioning_steps.outcome`."""

    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    NOOP = "NOOP"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"
    INTERRUPTED = "INTERRUPTED"


def start(
    conn: psycopg.Connection[DictRow],
    *,
    run_id: UUID,
    seq: int,
    step_key: str,
    resource_type: str,
    resource_name: str,
    action: str,
    started_at: datetime | None = None,
    detail: Mapping[str, Any] | None = None,
) -> int:
    """Insert a `RUNNING` step (for a create: the create intent) and return its `step_id`.

    `started_at` defaults to the database clock.
    """
    step_id = scalar(
        conn,
        "INSERT INTO deltashare.provisioning_steps (run_id, seq, step_key, resource_type, resource_name, "
        "action, started_at, outcome, detail) "
        "VALUES (%s, %s, %s, %s, %s, %s, coalesce(%s, clock_timestamp()), 'RUNNING', %s) RETURNING step_id",
        (run_id, seq, step_key, resource_type, resource_name, action, started_at, jsonb(detail)),
    )
    return int(step_id)


def close(
    conn: psycopg.Connection[DictRow],
    step_id: int,
    *,
    outcome: str,
    ended_at: datetime | None = None,
    databricks_ids: Mapping[str, Any] | None = None,
    detail: Mapping[str, Any] | None = None,
    error_code: str | None = None,
    error_message: str | None = None,
) -> bool:
    """Close a running step once; False when it was already closed. `ended_at` defaults to the clock.

    `detail` replaces the detail given at start when not None.
    """
    if outcome == StepOutcome.RUNNING:
        raise ValueError("a step is closed with a final outcome, not RUNNING")
    cursor = conn.execute(
        "UPDATE deltashare.provisioning_steps SET ended_at = coalesce(%s, clock_timestamp()), "
        "outcome = %s, databricks_ids = %s, detail = coalesce(%s, detail), error_code = %s, "
        "error_message = %s WHERE step_id = %s AND ended_at IS NULL",
        (
            ended_at,
            outcome,
            jsonb(databricks_ids),
            jsonb(detail),
            error_code,
            error_message,
            step_id,
        ),
    )
    return affected_rows(conn, cursor) == 1


_INSERT_CLOSED = (
    "INSERT INTO deltashare.provisioning_steps (run_id, seq, step_key, resource_type, resource_name, "
    "action, started_at, ended_at, outcome, databricks_ids, detail, error_code, error_message) "
    "VALUES (%s, %s, %s, %s, %s, %s, coalesce(%s, clock_timestamp()), coalesce(%s, clock_timestamp()), "
    "%s, %s, %s, %s, %s)"
)


@dataclass(frozen=True, slots=True)
class ClosedStep:
    """A step that is already over, for `record_closed_many` (the fields of `record_closed`)."""

    run_id: UUID
    seq: int
    step_key: str
    resource_type: str
    resource_name: str
    action: str
    outcome: str
    databricks_ids: Mapping[str, Any] | None = None
    detail: Mapping[str, Any] | None = None


def record_closed_many(conn: psycopg.Connection[DictRow], steps: Sequence[ClosedStep]) -> None:
    """Insert steps that are already over, in order, sent together (one round trip: the settled no-ops of a
    run). Each step's times are the database clock."""
    if any(step.outcome == StepOutcome.RUNNING for step in steps):
        raise ValueError("use start() for a running step")
    with conn.cursor() as cursor:
        cursor.executemany(
            _INSERT_CLOSED,
            [
                (
                    step.run_id,
                    step.seq,
                    step.step_key,
                    step.resource_type,
                    step.resource_name,
                    step.action,
                    None,
                    None,
                    step.outcome,
                    jsonb(step.databricks_ids),
                    jsonb(step.detail),
                    None,
                    None,
                )
                for step in steps
            ],
        )


def record_closed(
    conn: psycopg.Connection[DictRow],
    *,
    run_id: UUID,
    seq: int,
    step_key: str,
    resource_type: str,
    resource_name: str,
    action: str,
    outcome: str,
    at: datetime | None = None,
    databricks_ids: Mapping[str, Any] | None = None,
    detail: Mapping[str, Any] | None = None,
    error_code: str | None = None,
    error_message: str | None = None,
) -> int:
    """Insert a step that is already over (a `NOOP`, a `SKIPPED` dependant, a failed `check`)."""
    if outcome == StepOutcome.RUNNING:
        raise ValueError("use start() for a running step")
    step_id = scalar(
        conn,
        _INSERT_CLOSED + " RETURNING step_id",
        (
            run_id,
            seq,
            step_key,
            resource_type,
            resource_name,
            action,
            at,
            at,
            outcome,
            jsonb(databricks_ids),
            jsonb(detail),
            error_code,
            error_message,
        ),
    )
    return int(step_id)


def interrupt_open(conn: psycopg.Connection[DictRow], run_id: UUID, *, at: datetime) -> int:
    """Close every still-running step of a run as `INTERRUPTED` (when the run is interrupted or abandoned)."""
    cursor = conn.execute(
        "UPDATE deltashare.provisioning_steps SET ended_at = %s, outcome = 'INTERRUPTED' "
        "WHERE run_id = %s AND ended_at IS NULL",
        (at, run_id),
    )
    return cursor.rowcount


@dataclass(frozen=True)
class StepRecord:
    """One row of `provisioning_steps` (docs/WORKFLOW.md §5.3)."""

    step_id: int
    run_id: UUID
    seq: int
    step_key: str
    resource_type: str
    resource_name: str
    action: str
    started_at: datetime
    ended_at: datetime | None
    outcome: str
    databricks_ids: dict[str, Any] | None
    detail: dict[str, Any] | None
    error_code: str | None
    error_message: str | None


def list_for_run(conn: psycopg.Connection[DictRow], run_id: UUID) -> list[StepRecord]:
    """The steps of one run in canonical order."""
    rows = conn.execute(
        "SELECT * FROM deltashare.provisioning_steps WHERE run_id = %s ORDER BY seq, step_id",
        (run_id,),
    ).fetchall()
    return records_of(StepRecord, rows)


def list_for_runs(
    conn: psycopg.Connection[DictRow], run_ids: Iterable[UUID]
) -> dict[UUID, list[StepRecord]]:
    """Steps of several runs, grouped by run id (each list in canonical order)."""
    ids = list(run_ids)
    grouped: dict[UUID, list[StepRecord]] = {run_id: [] for run_id in ids}
    if not ids:
        return grouped
    rows = conn.execute(
        "SELECT * FROM deltashare.provisioning_steps WHERE run_id = ANY(%s) ORDER BY run_id, seq, step_id",
        (ids,),
    ).fetchall()
    for step in records_of(StepRecord, rows):
        grouped[step.run_id].append(step)
    return grouped


def counts(conn: psycopg.Connection[DictRow], run_id: UUID) -> dict[str, int]:
    """Step counts of a run: `total`, `succeeded`, `noop`, `failed`, `skipped` (status object)."""
    row = conn.execute(
        "SELECT count(*) AS total, "
        "count(*) FILTER (WHERE outcome = 'SUCCEEDED') AS succeeded, "
        "count(*) FILTER (WHERE outcome = 'NOOP') AS noop, "
        "count(*) FILTER (WHERE outcome = 'FAILED') AS failed, "
        "count(*) FILTER (WHERE outcome = 'SKIPPED') AS skipped "
        "FROM deltashare.provisioning_steps WHERE run_id = %s",
        (run_id,),
    ).fetchone()
    row = returned(row)
    return {k: int(v) for k, v in row.items()}


@dataclass(frozen=True)
class CreateIntent:
    """An unresolved create step of an earlier run: which run (and pack version) it belongs to, and when it began."""

    step_id: int
    run_id: UUID
    version: int
    started_at: datetime


def find_unresolved_create_intents(
    conn: psycopg.Connection[DictRow],
    *,
    share_pack_id: UUID,
    workspace_url: str,
    resource_type: str,
    resource_name: str,
    exclude_run_id: UUID | None = None,
) -> list[CreateIntent]:
    """Create steps of earlier runs of this pack for this resource without a recorded result (docs/WORKFLOW.md §9.9).

    "Without a recorded result": the step is still `RUNNING` (the run died), `INTERRUPTED`, or `FAILED` (for
    instance a transport error after the request was sent). The workspace is the one of the run's pack version.
    Newest first, each with its run's pack version.
    """
    rows = conn.execute(
        "SELECT s.step_id, s.run_id, r.version, s.started_at FROM deltashare.provisioning_steps s "
        "JOIN deltashare.provisioning_runs r ON r.run_id = s.run_id "
        "JOIN deltashare.share_packs p ON p.share_pack_id = r.share_pack_id AND p.version = r.version "
        "WHERE s.action = 'create' AND s.resource_type = %s AND s.resource_name = %s "
        "AND r.share_pack_id = %s AND p.workspace_url = %s "
        "AND s.outcome NOT IN ('SUCCEEDED', 'NOOP', 'SKIPPED') "
        "AND (%s::uuid IS NULL OR s.run_id <> %s::uuid) "
        "ORDER BY s.started_at DESC",
        (
            resource_type,
            resource_name,
            share_pack_id,
            workspace_url,
            exclude_run_id,
            exclude_run_id,
        ),
    ).fetchall()
    return records_of(CreateIntent, rows)
