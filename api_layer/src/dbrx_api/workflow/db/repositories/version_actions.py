"""`deltashare.version_actions`: once-per-version actions such as token rotation (docs/WORKFLOW.md §9.6).

The intent is committed before the Databricks call (`record_intent`, first intent wins); `mark_done` sets the
result once. A later run that finds an intent without `done_at` compares the live state with `intent_at`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import DictRow

from dbrx_api.workflow.db.values import jsonb, record_or_none, records_of, returned


@dataclass(frozen=True)
class VersionAction:
    """A once-per-version action: its intent, and its result once done."""

    share_pack_id: UUID
    version: int
    action_key: str
    intent_at: datetime
    run_id: UUID
    done_at: datetime | None = None
    result: dict[str, Any] | None = None  # never a secret


def rotate_token_key(recipient_name: str) -> str:
    """The action key of a recipient's token rotation (`rotate_token:<recipient>`)."""
    return f"rotate_token:{recipient_name}"


def get(
    conn: psycopg.Connection[DictRow], share_pack_id: UUID, version: int, action_key: str
) -> VersionAction | None:
    """One action, or None."""
    row = conn.execute(
        "SELECT * FROM deltashare.version_actions "
        "WHERE share_pack_id = %s AND version = %s AND action_key = %s",
        (share_pack_id, version, action_key),
    ).fetchone()
    return record_or_none(VersionAction, row)


def list_for_version(
    conn: psycopg.Connection[DictRow], share_pack_id: UUID, version: int
) -> list[VersionAction]:
    """Every action of a version."""
    return records_of(
        VersionAction,
        conn.execute(
            "SELECT * FROM deltashare.version_actions WHERE share_pack_id = %s AND version = %s "
            "ORDER BY action_key",
            (share_pack_id, version),
        ).fetchall(),
    )


def record_intent(
    conn: psycopg.Connection[DictRow],
    *,
    share_pack_id: UUID,
    version: int,
    action_key: str,
    run_id: UUID,
    intent_at: datetime | None = None,
) -> VersionAction:
    """Insert the intent unless one exists (the first intent is kept) and return the stored action.

    `intent_at` defaults to the database clock. Commit before calling Databricks.
    """
    conn.execute(
        "INSERT INTO deltashare.version_actions (share_pack_id, version, action_key, intent_at, run_id) "
        "VALUES (%s, %s, %s, coalesce(%s, clock_timestamp()), %s) ON CONFLICT DO NOTHING",
        (share_pack_id, version, action_key, intent_at, run_id),
    )
    return returned(get(conn, share_pack_id, version, action_key))


def mark_done(
    conn: psycopg.Connection[DictRow],
    *,
    share_pack_id: UUID,
    version: int,
    action_key: str,
    result: Mapping[str, Any],
    run_id: UUID,
    done_at: datetime | None = None,
) -> bool:
    """Record the action as done with its result (never a secret); False when it already was.

    Creates the row when no intent was recorded (e.g. `skipped_new_recipient`).
    """
    cursor = conn.execute(
        "INSERT INTO deltashare.version_actions "
        "(share_pack_id, version, action_key, intent_at, done_at, run_id, result) "
        "VALUES (%s, %s, %s, coalesce(%s, clock_timestamp()), coalesce(%s, clock_timestamp()), %s, %s) "
        "ON CONFLICT (share_pack_id, version, action_key) DO UPDATE "
        "SET done_at = EXCLUDED.done_at, result = EXCLUDED.result "
        "WHERE version_actions.done_at IS NULL",
        (share_pack_id, version, action_key, done_at, done_at, run_id, jsonb(result)),
    )
    return cursor.rowcount == 1
