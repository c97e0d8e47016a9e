"""`deltashare.recipients` (SCD2): recipients this service applied and recorded in a workspace (docs/WORKFLOW.md §5.3).

Written by the worker after each successful recipient step (never by uploads or REST endpoints). Business key
`(workspace_url, recipient_name)`, the name lower-cased.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import psycopg
from psycopg.rows import DictRow

from dbrx_api.workflow.db import scd2
from dbrx_api.workflow.db.repositories import _resources

TABLE = scd2.Scd2Table(
    "recipients",
    ("workspace_url", "recipient_name"),
    frozenset({"ip_access_list", "properties", "token_rotation_policy"}),
)


@dataclass(frozen=True)
class RecipientRecord(_resources.StoredVersionInfo):
    """The recorded content of one recipient (set-like fields are normalised when written)."""

    workspace_url: str
    recipient_name: str
    recipient_type: Literal["D2D", "D2O"]
    created_by_pack: bool
    share_pack_id: UUID | None = None
    databricks_recipient_id: str | None = None
    global_metastore_id: str | None = None
    description: str | None = None
    ip_access_list: Sequence[str] = field(default_factory=tuple)
    expiration_time: datetime | None = None
    token_rotated_at: datetime | None = None
    is_deleted: bool = False
    properties: Mapping[str, str] | None = None  # None: not managed by the recording pack
    # {"rotate_before_expiry_days": N, "grace_hours": H}: the standing policy the sweep applies (V0005)
    token_rotation_policy: Mapping[str, int] | None = None

    @property
    def key(self) -> str:
        """The lower-cased name (business key)."""
        return self.recipient_name.lower()

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> RecipientRecord:
        """The record held by a stored row (to derive the next version with `dataclasses.replace`)."""
        return cls(**_resources.stored_fields(cls, row, tuples=("ip_access_list",)))


def _stored(rec: RecipientRecord) -> dict[str, Any]:
    return {
        **_resources.fields_of(rec),
        "adopted": _resources.adopted_marker(rec.created_by_pack),
        "ip_access_list": scd2.sorted_set(list(rec.ip_access_list)),
    }


_REPOSITORY = _resources.ResourceRepository[RecipientRecord](
    TABLE, _stored, RecipientRecord.from_row
)
record = _REPOSITORY.record
write_of = _REPOSITORY.write_of
get_current = _REPOSITORY.get_current
list_current = _REPOSITORY.list_current
soft_delete = _REPOSITORY.soft_delete
as_of = _REPOSITORY.as_of


@dataclass(frozen=True)
class PolicyHolder:
    """A recipient under a standing token rotation policy, with the key of the pack that manages it."""

    recipient: RecipientRecord
    pack_key: str

    @property
    def policy(self) -> Mapping[str, int]:
        """`{rotate_before_expiry_days, grace_hours}` (never None for a policy holder)."""
        return self.recipient.token_rotation_policy or {}


def list_rotation_policies(conn: psycopg.Connection[DictRow]) -> list[PolicyHolder]:
    """The current D2O recipients with a recorded rotation policy whose managing pack's current version is
    COMPLETED and not a DELETE (docs/WORKFLOW.md §9.6): what the rotation sweep looks at, with the pack key."""
    rows = conn.execute(
        "SELECT r.*, p.pack_key FROM deltashare.recipients r "
        "JOIN deltashare.share_packs p ON p.share_pack_id = r.share_pack_id AND p.is_current "
        "AND NOT p.is_deleted AND p.strategy <> 'DELETE' "
        "JOIN deltashare.pack_version_status s ON s.share_pack_id = p.share_pack_id AND s.version = p.version "
        "WHERE r.is_current AND NOT r.is_deleted AND r.recipient_type = 'D2O' "
        "AND r.token_rotation_policy IS NOT NULL AND s.status = 'COMPLETED' "
        "ORDER BY r.workspace_url, r.recipient_name"
    ).fetchall()
    return [PolicyHolder(RecipientRecord.from_row(row), str(row["pack_key"])) for row in rows]
