"""`deltashare.status_transitions` (append-only): every status change of every version (docs/WORKFLOW.md §4.3)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import psycopg
from psycopg.rows import DictRow

from dbrx_api.workflow.db.values import records_of, scalar


@dataclass(frozen=True)
class Transition:
    """One row of `status_transitions`."""

    transition_id: int
    share_pack_id: UUID
    version: int
    from_status: str | None
    to_status: str
    at: datetime
    actor: str
    reason: str | None
    run_id: UUID | None
    request_id: str | None


def record(
    conn: psycopg.Connection[DictRow],
    *,
    share_pack_id: UUID,
    version: int,
    from_status: str | None,
    to_status: str,
    at: datetime,
    actor: str,
    reason: str | None = None,
    run_id: UUID | None = None,
    request_id: str | None = None,
) -> int:
    """Append one transition and return its id (the table's CHECK refuses pairs outside docs/WORKFLOW.md §4.3)."""
    return int(
        scalar(
            conn,
            "INSERT INTO deltashare.status_transitions "
            "(share_pack_id, version, from_status, to_status, at, actor, reason, run_id, request_id) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING transition_id",
            (share_pack_id, version, from_status, to_status, at, actor, reason, run_id, request_id),
        )
    )


def list_for_version(
    conn: psycopg.Connection[DictRow], share_pack_id: UUID, version: int
) -> list[Transition]:
    """The transitions of one version, in the order they happened."""
    rows = conn.execute(
        "SELECT * FROM deltashare.status_transitions WHERE share_pack_id = %s AND version = %s "
        "ORDER BY transition_id",
        (share_pack_id, version),
    ).fetchall()
    return records_of(Transition, rows)


def list_for_pack(conn: psycopg.Connection[DictRow], share_pack_id: UUID) -> list[Transition]:
    """The transitions of every version of a pack, by version then order."""
    rows = conn.execute(
        "SELECT * FROM deltashare.status_transitions WHERE share_pack_id = %s "
        "ORDER BY version, transition_id",
        (share_pack_id,),
    ).fetchall()
    return records_of(Transition, rows)
