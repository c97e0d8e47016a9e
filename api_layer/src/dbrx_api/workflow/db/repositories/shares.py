"""`deltashare.shares` (SCD2): shares this service applied and recorded in a workspace (docs/WORKFLOW.md §5.3).

Business key `(workspace_url, share_name)`, the name lower-cased. `assets` is the managed object list (sorted by
name) and `recipients` the sorted names holding `SELECT`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from dbrx_api.workflow.db import scd2
from dbrx_api.workflow.db.repositories import _resources

TABLE = scd2.Scd2Table(
    "shares", ("workspace_url", "share_name"), frozenset({"assets", "recipients", "tags"})
)


@dataclass(frozen=True)
class ShareRecord(_resources.StoredVersionInfo):
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

    @property
    def key(self) -> str:
        """The lower-cased name (business key)."""
        return self.share_name.lower()

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> ShareRecord:
        """The record held by a stored row (to derive the next version with `dataclasses.replace`)."""
        return cls(**_resources.stored_fields(cls, row, tuples=("assets", "recipients")))


def _sorted_assets(assets: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Assets by lower-case name; entries sharing a name by their canonical JSON (computed only for those)."""
    named = [(str(a.get("name", "")).lower(), dict(a)) for a in assets]
    unique = len({name for name, _ in named}) == len(named)
    named.sort(
        key=(lambda pair: pair[0])
        if unique
        else (lambda pair: (pair[0], scd2.canonical_json(pair[1])))
    )
    return [asset for _, asset in named]


def _stored(rec: ShareRecord) -> dict[str, Any]:
    return {
        **_resources.fields_of(rec),
        "adopted": _resources.adopted_marker(rec.created_by_pack),
        "assets": _sorted_assets(rec.assets),
        "recipients": scd2.sorted_set([r.lower() for r in rec.recipients]),
        "tags": dict(rec.tags) if rec.tags is not None else None,
    }


_REPOSITORY = _resources.ResourceRepository[ShareRecord](TABLE, _stored, ShareRecord.from_row)
record = _REPOSITORY.record
write_of = _REPOSITORY.write_of
get_current = _REPOSITORY.get_current
list_current = _REPOSITORY.list_current
soft_delete = _REPOSITORY.soft_delete
as_of = _REPOSITORY.as_of
