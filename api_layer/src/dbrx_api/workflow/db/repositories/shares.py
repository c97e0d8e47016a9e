"""`deltashare.shares` (SCD2): shares this service applied and recorded in a workspace (§5.3).

Business key `(workspace_url, share_name)`, the name lower-cased. `assets` is the managed object list (sorted by
name) and `recipients` the sorted names holding `SELECT`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import DictRow

from dbrx_api.workflow.db import scd2
from dbrx_api.workflow.db.repositories import _resources

TABLE = scd2.SHARES


@dataclass(frozen=True)
class ShareRecord:
    """The recorded content of one share (set-like fields are normalised when written)."""

    workspace_url: str
    share_name: str
    created_by_pack: bool
    share_pack_id: UUID | None = None
    databricks_created_at: datetime | None = None
    description: str | None = None
    assets: Sequence[Mapping[str, Any]] = field(
        default_factory=tuple
    )  # [{name, type, shared_as?, …}]
    recipients: Sequence[str] = field(default_factory=tuple)
    ext_catalog_name: str | None = None
    ext_schema_name: str | None = None
    tags: Mapping[str, Any] | None = None
    is_deleted: bool = False

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> ShareRecord:
        """The record held by a stored row (to derive the next version with `dataclasses.replace`)."""
        return cls(**_resources.stored_fields(cls, row, tuples=("assets", "recipients")))


def _sorted_assets(assets: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return sorted(
        (dict(a) for a in assets),
        key=lambda a: (str(a.get("name", "")).lower(), scd2.canonical_json(a)),
    )


def record(
    conn: psycopg.Connection[DictRow],
    rec: ShareRecord,
    *,
    changed_by: str,
    reason: str = "provisioned",
    source_version: int | None = None,
    source_run_id: UUID | None = None,
) -> scd2.Scd2Result:
    """Write the share's next version unless unchanged (`changed=False`). Never commits."""
    values = {f.name: getattr(rec, f.name) for f in dataclasses.fields(rec)}
    values["assets"] = _sorted_assets(rec.assets)
    values["recipients"] = scd2.sorted_set([r.lower() for r in rec.recipients])
    values["tags"] = dict(rec.tags) if rec.tags is not None else None
    return _resources.write(
        conn,
        TABLE,
        values,
        changed_by=changed_by,
        reason=reason,
        source_version=source_version,
        source_run_id=source_run_id,
    )


_REPOSITORY = _resources.ResourceRepository(TABLE)
get_current = _REPOSITORY.get_current
list_current = _REPOSITORY.list_current
soft_delete = _REPOSITORY.soft_delete
history = _REPOSITORY.history
as_of = _REPOSITORY.as_of
