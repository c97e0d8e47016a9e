"""`deltashare.share_packs` (SCD2): one row per stored version of a pack (docs/WORKFLOW.md §5.3, §7.1).

The business key is `share_pack_id`; writers serialise on the pack key (`scd2:share_packs` / pack key) because the
first upload of a key has no id yet. `record_hash` covers the canonical pack model (`config`) only.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import DictRow

from dbrx_api.workflow.db import scd2
from dbrx_api.workflow.db.values import record_or_none, records_of, scalar

TABLE = scd2.Scd2Table(
    "share_packs", ("share_pack_id",), frozenset({"config", "warnings", "locator"})
)


@dataclass(frozen=True)
class PackVersionInput:
    """The values an upload stores for a new version (descriptive fields are outside the hash)."""

    pack_key: str
    business_line: str
    project_name: str
    requestor: str
    strategy: str
    workspace_url: str
    approver_status: str
    servicenow: str
    config: Mapping[str, Any]
    record_hash: (
        str  # `models.pack.record_hash(pack)`: the canonical model's hash (docs/SHAREPACK.md §12)
    )
    file_format: str
    file_sha256: str
    file_size: int
    requested_by: str
    requested_by_name: str | None = None
    requested_by_roles: Sequence[str] = ()
    file_name: str | None = None
    warnings: Sequence[Mapping[str, Any]] = field(default_factory=list)
    # `PackLocator.to_json()` of the uploaded file: run-time issues name its paths and lines/cells (outside the hash).
    locator: Mapping[str, Any] | None = None


@dataclass(frozen=True, kw_only=True)
class PackVersion(PackVersionInput):
    """One stored version of a pack (a `share_packs` row, docs/WORKFLOW.md §5.3): what the upload stored, plus
    its SCD2 columns."""

    record_id: int
    share_pack_id: UUID
    version: int
    effective_from: datetime
    effective_to: datetime
    is_current: bool
    is_deleted: bool
    changed_by: str
    change_reason: str


@dataclass(frozen=True)
class StoredVersion:
    """Outcome of `store_version`: `created` is False when the content equals the current version's."""

    created: bool
    row: dict[str, Any]
    at: datetime  # the transaction's single timestamp (taken after the lock)
    previous_version: int | None

    @property
    def share_pack_id(self) -> UUID:
        """The pack's id (new for a first upload)."""
        return UUID(str(self.row["share_pack_id"]))

    @property
    def version(self) -> int:
        """The current version number after the call."""
        return int(self.row["version"])


def lock_pack_key(conn: psycopg.Connection[Any], pack_key: str) -> None:
    """Serialise uploads of one pack (transaction advisory lock `scd2:share_packs` / pack key)."""
    scd2.lock_key(conn, TABLE, pack_key)


def _current_row_by_key(
    conn: psycopg.Connection[DictRow], pack_key: str, *, for_update: bool = False
) -> dict[str, Any] | None:
    query = "SELECT * FROM deltashare.share_packs WHERE pack_key = %s AND is_current"
    return conn.execute(query + (" FOR UPDATE" if for_update else ""), (pack_key,)).fetchone()


def get_current_by_key(conn: psycopg.Connection[DictRow], pack_key: str) -> PackVersion | None:
    """The current version of the pack with this key, or None."""
    return record_or_none(PackVersion, _current_row_by_key(conn, pack_key))


def get_current(conn: psycopg.Connection[DictRow], share_pack_id: UUID) -> PackVersion | None:
    """The current version of a pack, or None."""
    row = conn.execute(
        "SELECT * FROM deltashare.share_packs WHERE share_pack_id = %s AND is_current",
        (share_pack_id,),
    ).fetchone()
    return record_or_none(PackVersion, row)


def get_version(
    conn: psycopg.Connection[DictRow], share_pack_id: UUID, version: int
) -> PackVersion | None:
    """One version, or None."""
    row = conn.execute(
        "SELECT * FROM deltashare.share_packs WHERE share_pack_id = %s AND version = %s",
        (share_pack_id, version),
    ).fetchone()
    return record_or_none(PackVersion, row)


def list_versions(conn: psycopg.Connection[DictRow], share_pack_id: UUID) -> list[PackVersion]:
    """Every version of a pack, oldest first."""
    return records_of(PackVersion, scd2.history(conn, TABLE, {"share_pack_id": share_pack_id}))


def has_newer_version(conn: psycopg.Connection[Any], share_pack_id: UUID, version: int) -> bool:
    """Whether a version newer than `version` of the pack is stored."""
    return bool(
        scalar(
            conn,
            "SELECT EXISTS (SELECT 1 FROM deltashare.share_packs WHERE share_pack_id = %s AND version > %s)",
            (share_pack_id, version),
        )
    )


def config_as_of(
    conn: psycopg.Connection[DictRow], share_pack_id: UUID, at: datetime
) -> dict[str, Any] | None:
    """`{version, config}` of the pack version current at instant `at`, or None."""
    return conn.execute(
        "SELECT version, config FROM deltashare.share_packs "
        "WHERE share_pack_id = %s AND effective_from <= %s AND %s < effective_to",
        (share_pack_id, at, at),
    ).fetchone()


def store_version(
    conn: psycopg.Connection[DictRow],
    pack: PackVersionInput,
    *,
    changed_by: str,
    reason: str = "upload",
) -> StoredVersion:
    """Store `pack` as the next version of its key unless its hash equals the current one (docs/WORKFLOW.md §7.1 steps 4.1 to 4.4).

    Serialised on the pack key, not the id, because a first upload has no id yet (it gets a new one). Identical
    content leaves the current version untouched (`created=False`, docs/WORKFLOW.md §7.2). Never commits; the caller adds the
    status rows (`operations.admit_version`) in the same transaction.
    """
    lock_pack_key(conn, pack.pack_key)
    current = _current_row_by_key(conn, pack.pack_key, for_update=True)
    values = {
        "share_pack_id": current["share_pack_id"] if current is not None else uuid.uuid4(),
        "pack_key": pack.pack_key,
        "business_line": pack.business_line,
        "project_name": pack.project_name,
        "requestor": pack.requestor,
        "strategy": pack.strategy,
        "workspace_url": pack.workspace_url,
        "approver_status": pack.approver_status,
        "servicenow": pack.servicenow,
        "config": pack.config,
        "warnings": list(pack.warnings),
        "locator": pack.locator,
        "file_format": pack.file_format,
        "file_name": pack.file_name,
        "file_sha256": pack.file_sha256,
        "file_size": pack.file_size,
        "requested_by": pack.requested_by,
        "requested_by_name": pack.requested_by_name,
        "requested_by_roles": sorted(pack.requested_by_roles),
        "is_deleted": False,
    }
    result = scd2.next_version(
        conn, TABLE, current, values, digest=pack.record_hash, changed_by=changed_by, reason=reason
    )
    return StoredVersion(
        created=result.changed,
        row=result.row,
        at=result.at,
        previous_version=current["version"] if current is not None else None,
    )
