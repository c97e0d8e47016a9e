"""`deltashare.pipelines` (SCD2): sharing pipelines (and their schedule job) this service applied (docs/WORKFLOW.md §5.3).

Business key `(workspace_url, pipeline_key)` where `pipeline_key` is the lower-cased pipeline name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from uuid import UUID

import psycopg
from psycopg.rows import DictRow

from dbrx_api.workflow.db import scd2
from dbrx_api.workflow.db.repositories import _resources

TABLE = scd2.Scd2Table(
    "pipelines",
    ("workspace_url", "pipeline_key"),
    frozenset({"key_columns", "notifications", "tags"}),
)


@dataclass(frozen=True)
class PipelineRecord(_resources.StoredVersionInfo):
    """The recorded content of one pipeline and its schedule job (`pipeline_key` derives from the name)."""

    workspace_url: str
    pipeline_name: str
    share_name: str
    created_by_pack: bool
    source_table: str
    target_catalog: str
    target_schema: str
    target_table: str
    scd_type: Literal["1", "2", "full_refresh"]
    serverless: bool
    continuous: bool
    library_path: str
    share_pack_id: UUID | None = None
    databricks_pipeline_id: str | None = None
    key_columns: Sequence[str] = field(default_factory=tuple)  # order kept: it is the key order
    notifications: Sequence[str] = field(default_factory=tuple)
    tags: Mapping[str, Any] = field(default_factory=dict)
    schedule_job_id: int | None = None
    schedule_job_created_by_pack: bool | None = None
    cron: str | None = None
    timezone: str | None = None
    is_deleted: bool = False

    @property
    def pipeline_key(self) -> str:
        """The lower-cased name (business key)."""
        return self.pipeline_name.lower()

    @property
    def key(self) -> str:
        """The lower-cased name (business key), as every record names it."""
        return self.pipeline_key

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> PipelineRecord:
        """The record held by a stored row (to derive the next version with `dataclasses.replace`)."""
        values = _resources.stored_fields(cls, row, tuples=("key_columns", "notifications"))
        values["tags"] = dict(values.get("tags") or {})
        return cls(**values)


def _stored(rec: PipelineRecord) -> dict[str, Any]:
    return {
        **_resources.fields_of(rec),
        "adopted": _resources.adopted_marker(rec.created_by_pack),
        "pipeline_key": rec.pipeline_key,
        "share_name": rec.share_name.lower(),
        "key_columns": list(rec.key_columns),
        "notifications": scd2.sorted_set(list(rec.notifications)),
        "tags": dict(rec.tags),
    }


_REPOSITORY = _resources.ResourceRepository[PipelineRecord](TABLE, _stored, PipelineRecord.from_row)
record = _REPOSITORY.record
write_of = _REPOSITORY.write_of
get_current = _REPOSITORY.get_current
soft_delete = _REPOSITORY.soft_delete
as_of = _REPOSITORY.as_of


def list_current(
    conn: psycopg.Connection[DictRow],
    *,
    workspace_url: str | None = None,
    share_pack_id: UUID | None = None,
    share_name: str | None = None,
    names: Iterable[str] | None = None,
    created_by_pack: bool | None = None,
) -> list[PipelineRecord]:
    """Current, non-deleted pipelines filtered by workspace, pack, share, names and `created_by_pack`."""
    columns = {} if share_name is None else {"share_name": share_name.lower()}
    return _REPOSITORY.list_current(
        conn,
        workspace_url=workspace_url,
        share_pack_id=share_pack_id,
        names=names,
        created_by_pack=created_by_pack,
        **columns,
    )
