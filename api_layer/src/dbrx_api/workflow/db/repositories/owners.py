"""`deltashare.share_pack_owners` and its append-only change log (docs/GOVERNANCE.md §2).

The owners of a pack are principal ids (the token's `oid`), never names typed in a file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import psycopg
from psycopg.rows import DictRow, class_row


@dataclass(frozen=True, slots=True)
class Owner:
    """A current owner: its principal id and, when it was known when added, its name."""

    id: str
    name: str | None


def list_owners(conn: psycopg.Connection[DictRow], share_pack_id: UUID) -> list[Owner]:
    """The current owners of a pack, in the order they were added."""
    with conn.cursor(row_factory=class_row(Owner)) as cursor:
        return cursor.execute(
            "SELECT principal_id AS id, principal_name AS name FROM deltashare.share_pack_owners "
            "WHERE share_pack_id = %s ORDER BY added_at, principal_id",
            (share_pack_id,),
        ).fetchall()


def add(
    conn: psycopg.Connection[DictRow],
    share_pack_id: UUID,
    principal_id: str,
    principal_name: str | None,
    *,
    actor: str,
    at: datetime,
    request_id: str | None = None,
) -> bool:
    """Make `principal_id` an owner; False when it already was (nothing recorded)."""
    row = conn.execute(
        "INSERT INTO deltashare.share_pack_owners (share_pack_id, principal_id, principal_name, added_by, added_at) "
        "VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING principal_id",
        (share_pack_id, principal_id, principal_name, actor, at),
    ).fetchone()
    if row is None:
        return False
    _log(conn, share_pack_id, principal_id, principal_name, "added", actor, at, request_id)
    return True


def remove(
    conn: psycopg.Connection[DictRow],
    share_pack_id: UUID,
    principal_id: str,
    *,
    actor: str,
    at: datetime,
    request_id: str | None = None,
) -> bool:
    """Remove an owner; False when it was not one."""
    row = conn.execute(
        "DELETE FROM deltashare.share_pack_owners WHERE share_pack_id = %s AND principal_id = %s "
        "RETURNING principal_name",
        (share_pack_id, principal_id),
    ).fetchone()
    if row is None:
        return False
    _log(conn, share_pack_id, principal_id, row["principal_name"], "removed", actor, at, request_id)
    return True


@dataclass(frozen=True, slots=True)
class OwnerChange:
    """One entry of a pack's owner change log."""

    principal_id: str
    principal_name: str | None
    change: str  # added | removed
    actor: str
    at: datetime


def list_changes(conn: psycopg.Connection[DictRow], share_pack_id: UUID) -> list[OwnerChange]:
    """Every owner change of a pack, oldest first."""
    with conn.cursor(row_factory=class_row(OwnerChange)) as cursor:
        return cursor.execute(
            "SELECT principal_id, principal_name, change, actor, at "
            "FROM deltashare.share_pack_owner_changes WHERE share_pack_id = %s ORDER BY change_id",
            (share_pack_id,),
        ).fetchall()


def _log(
    conn: psycopg.Connection[DictRow],
    share_pack_id: UUID,
    principal_id: str,
    principal_name: str | None,
    change: str,
    actor: str,
    at: datetime,
    request_id: str | None,
) -> None:
    conn.execute(
        "INSERT INTO deltashare.share_pack_owner_changes "
        "(share_pack_id, principal_id, principal_name, change, actor, at, request_id) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (share_pack_id, principal_id, principal_name, change, actor, at, request_id),
    )
