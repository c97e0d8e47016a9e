"""`deltashare.token_rotation_claims`: one claim per token the rotation sweep rotates (docs/WORKFLOW.md §9.6).

`claim` is committed before `recipients.rotate_token`: among workers sweeping at once, the one whose insert (or
takeover of an expired lease) returns the row rotates; `finish` marks it done once; `release` gives the lease up
after a failure so the next sweep retries. `claimed_at` stays the first claim's time: a token created at or after
it shows that a crashed claimer did rotate. None of these commits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import DictRow

from dbrx_api.workflow.db.values import jsonb, record_or_none, records_of


@dataclass(frozen=True)
class TokenClaim:
    """The claim of one token by the rotation sweep, and its result once done."""

    workspace_url: str
    recipient_name: str
    token_id: str
    claimed_at: datetime  # the first claim's time, kept on takeovers
    claimed_by: str
    lease_expires_at: datetime
    attempts: int
    share_pack_id: UUID | None = None
    token_expires_at: datetime | None = None
    done_at: datetime | None = None
    result: dict[str, Any] | None = None  # token ids and expiries, never an activation link


def claim(
    conn: psycopg.Connection[DictRow],
    *,
    workspace_url: str,
    recipient_name: str,
    token_id: str,
    share_pack_id: UUID | None,
    token_expires_at: datetime | None,
    claimed_by: str,
    lease_s: float,
) -> TokenClaim | None:
    """Take the claim of a token: a new row, or an open row whose lease expired (a crashed claimer).

    Returns the claimed row (`attempts` > 1 on a takeover), or None when the token was rotated already or another
    worker holds a live lease. A concurrent insert of the same key waits for the other transaction, then sees its row.
    """
    row = conn.execute(
        "INSERT INTO deltashare.token_rotation_claims AS c (workspace_url, recipient_name, token_id, share_pack_id, "
        "token_expires_at, claimed_at, claimed_by, lease_expires_at) "
        "VALUES (%s, %s, %s, %s, %s, clock_timestamp(), %s, clock_timestamp() + make_interval(secs => %s)) "
        "ON CONFLICT (workspace_url, recipient_name, token_id) DO UPDATE "
        "SET claimed_by = EXCLUDED.claimed_by, lease_expires_at = EXCLUDED.lease_expires_at, "
        "attempts = c.attempts + 1 "
        "WHERE c.done_at IS NULL AND c.lease_expires_at < clock_timestamp() "
        "RETURNING *",
        (
            workspace_url,
            recipient_name.lower(),
            token_id,
            share_pack_id,
            token_expires_at,
            claimed_by,
            lease_s,
        ),
    ).fetchone()
    return record_or_none(TokenClaim, row)


def finish(
    conn: psycopg.Connection[DictRow],
    *,
    workspace_url: str,
    recipient_name: str,
    token_id: str,
    result: Mapping[str, Any],
) -> bool:
    """Mark the claim done with its result (token ids and expiries, never a secret); False if it already was."""
    cursor = conn.execute(
        "UPDATE deltashare.token_rotation_claims SET done_at = clock_timestamp(), result = %s "
        "WHERE workspace_url = %s AND recipient_name = %s AND token_id = %s AND done_at IS NULL",
        (jsonb(result), workspace_url, recipient_name.lower(), token_id),
    )
    return cursor.rowcount == 1


def release(
    conn: psycopg.Connection[DictRow],
    *,
    workspace_url: str,
    recipient_name: str,
    token_id: str,
    claimed_by: str,
) -> None:
    """Give up this worker's lease of an open claim (the next sweep may claim the token again)."""
    conn.execute(
        "UPDATE deltashare.token_rotation_claims SET lease_expires_at = clock_timestamp() "
        "WHERE workspace_url = %s AND recipient_name = %s AND token_id = %s AND done_at IS NULL "
        "AND claimed_by = %s",
        (workspace_url, recipient_name.lower(), token_id, claimed_by),
    )


def list_open(
    conn: psycopg.Connection[DictRow],
    workspace_url: str,
    recipient_name: str,
    *,
    lease_expired: bool = False,
) -> list[TokenClaim]:
    """A recipient's claims not done (with `lease_expired`, only those whose claimer's lease ran out)."""
    return records_of(
        TokenClaim,
        conn.execute(
            "SELECT * FROM deltashare.token_rotation_claims WHERE workspace_url = %s AND recipient_name = %s "
            "AND done_at IS NULL AND (NOT %s OR lease_expires_at < clock_timestamp()) ORDER BY claimed_at",
            (workspace_url, recipient_name.lower(), lease_expired),
        ).fetchall(),
    )


def list_for_recipient(
    conn: psycopg.Connection[DictRow], workspace_url: str, recipient_name: str
) -> list[TokenClaim]:
    """Every claim of a recipient's tokens, oldest first."""
    return records_of(
        TokenClaim,
        conn.execute(
            "SELECT * FROM deltashare.token_rotation_claims WHERE workspace_url = %s AND recipient_name = %s "
            "ORDER BY claimed_at",
            (workspace_url, recipient_name.lower()),
        ).fetchall(),
    )


def list_done_for_pack(conn: psycopg.Connection[DictRow], share_pack_id: UUID) -> list[TokenClaim]:
    """The rotations the sweep made (or found made) for a pack's policies, oldest first (the pack's history)."""
    return records_of(
        TokenClaim,
        conn.execute(
            "SELECT * FROM deltashare.token_rotation_claims WHERE share_pack_id = %s AND done_at IS NOT NULL "
            "ORDER BY done_at, recipient_name",
            (share_pack_id,),
        ).fetchall(),
    )
