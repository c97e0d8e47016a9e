"""`deltashare.recipients` (SCD2): recipients this service applied and recorded in a workspace (§5.3).

Written by the worker after each successful recipient step (never by uploads or REST endpoints). Business key
`(workspace_url, recipient_name)`, the name lower-cased.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import psycopg
from psycopg.rows import DictRow

from dbrx_api.workflow.db import scd2
from dbrx_api.workflow.db.repositories import _resources

TABLE = scd2.RECIPIENTS


@dataclass(frozen=True)
class RecipientRecord:
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

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> RecipientRecord:
        """The record held by a stored row (to derive the next version with `dataclasses.replace`)."""
        return cls(**_resources.stored_fields(cls, row, tuples=("ip_access_list",)))


def record(
    conn: psycopg.Connection[DictRow],
    rec: RecipientRecord,
    *,
    changed_by: str,
    reason: str = "provisioned",
    source_version: int | None = None,
    source_run_id: UUID | None = None,
) -> scd2.Scd2Result:
    """Write the recipient's next version unless unchanged (`changed=False`). Never commits."""
    values = {f.name: getattr(rec, f.name) for f in dataclasses.fields(rec)}
    values["ip_access_list"] = scd2.sorted_set(list(rec.ip_access_list))
    return _resources.write(
        conn,
        TABLE,
        values,
        changed_by=changed_by,
        reason=reason,
        source_version=source_version,
        source_run_id=source_run_id,
    )


def get_current(
    conn: psycopg.Connection[DictRow],
    workspace_url: str,
    recipient_name: str,
    *,
    include_deleted: bool = False,
) -> dict[str, Any] | None:
    """The current recorded row of a recipient (None when never recorded or deleted)."""
    return _resources.get_current(
        conn, TABLE, workspace_url, recipient_name, include_deleted=include_deleted
    )


def list_current(
    conn: psycopg.Connection[DictRow],
    *,
    workspace_url: str | None = None,
    share_pack_id: UUID | None = None,
    names: Iterable[str] | None = None,
    created_by_pack: bool | None = None,
) -> list[dict[str, Any]]:
    """Current, non-deleted recipients filtered by workspace, managing pack, names and `created_by_pack`.

    Drift (§11) uses `workspace_url` (and `share_pack_id`); DELETE (§9.8) adds `created_by_pack=True`.
    """
    extra = {} if created_by_pack is None else {"created_by_pack": created_by_pack}
    return _resources.list_current(
        conn,
        TABLE,
        workspace_url=workspace_url,
        share_pack_id=share_pack_id,
        names=names,
        extra=extra,
    )


def soft_delete(
    conn: psycopg.Connection[DictRow],
    workspace_url: str,
    recipient_name: str,
    *,
    changed_by: str,
    reason: str = "deleted",
    source_version: int | None = None,
    source_run_id: UUID | None = None,
) -> scd2.Scd2Result | None:
    """Record the recipient as deleted; None when it was never recorded."""
    return _resources.soft_delete(
        conn,
        TABLE,
        workspace_url,
        recipient_name,
        changed_by=changed_by,
        reason=reason,
        source_version=source_version,
        source_run_id=source_run_id,
    )


def history(
    conn: psycopg.Connection[DictRow], workspace_url: str, recipient_name: str
) -> list[dict[str, Any]]:
    """Every recorded version of a recipient, oldest first."""
    return _resources.history(conn, TABLE, workspace_url, recipient_name)


def as_of(
    conn: psycopg.Connection[DictRow], workspace_url: str, at: datetime
) -> list[dict[str, Any]]:
    """The recipients recorded in a workspace at instant `at`."""
    return _resources.as_of(conn, TABLE, workspace_url, at)
