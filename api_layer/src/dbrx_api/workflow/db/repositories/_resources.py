"""Shared reads and writes of the recorded-resource SCD2 tables (`recipients`, `shares`, `pipelines`).

`ResourceRepository(table, stored)` gives each table the same `record`, `get_current`, `list_current`,
`soft_delete` and `as_of`; the per-table modules add only their record type and `stored`, the normalised
column values of a record (set-like lists sorted, names lower-cased).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.rows import DictRow

from dbrx_api.workflow.db import scd2
from dbrx_api.workflow.db.values import field_values

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


@dataclasses.dataclass(frozen=True, kw_only=True)
class StoredVersionInfo:
    """What a record read from its table knows about the stored version it came from (all None on a record built
    to be written: the SCD2 writer sets these columns itself)."""

    version: int | None = None
    change_reason: str | None = None
    source_version: int | None = None
    adopted: bool | None = None  # V0006: derived from `created_by_pack` when written


_VERSION_INFO = frozenset(f.name for f in dataclasses.fields(StoredVersionInfo))


def fields_of(rec: DataclassInstance) -> dict[str, Any]:
    """The content fields of a record dataclass as column values (unconverted; without `StoredVersionInfo`)."""
    return {
        f.name: getattr(rec, f.name) for f in dataclasses.fields(rec) if f.name not in _VERSION_INFO
    }


def adopted_marker(created_by_pack: bool) -> bool | None:
    """The `adopted` column (V0006): true for a live object the pack adopted, NULL for one it created.

    NULL rather than false so that the rows of created resources keep their `record_hash` (NULL columns are left
    out of it, docs/WORKFLOW.md §5.2).
    """
    return None if created_by_pack else True


class _Recorded(Protocol):
    @property
    def created_by_pack(self) -> bool: ...


def is_adopted(rec: _Recorded) -> bool:
    """Whether a recorded resource was adopted rather than created (the `adopted` column of V0006 is true exactly
    when `created_by_pack` is false, which rows before V0006 carry alone)."""
    return not rec.created_by_pack


def stored_fields(
    record_type: type[Any], row: Mapping[str, Any], tuples: Iterable[str] = ()
) -> dict[str, Any]:
    """The columns of `row` that are fields of the record dataclass, with jsonb lists as tuples."""
    values = field_values(record_type, row)
    for name in tuples:
        values[name] = tuple(values.get(name) or ())
    return values


@dataclasses.dataclass(frozen=True)
class ResourceRepository[R]:
    """The by-name operations of one recorded-resource table; none of them commits."""

    table: scd2.Scd2Table
    stored: Callable[[R], dict[str, Any]]
    from_row: Callable[[Mapping[str, Any]], R]

    def _key(self, workspace_url: str, name: str) -> dict[str, str]:
        """The `(workspace_url, <name>)` business key, the name lower-cased."""
        return {"workspace_url": workspace_url, self.table.key_columns[1]: name.lower()}

    def record(
        self,
        conn: psycopg.Connection[DictRow],
        rec: R,
        *,
        changed_by: str,
        reason: str = "provisioned",
        source_version: int | None = None,
        source_run_id: UUID | None = None,
    ) -> scd2.Scd2Result:
        """Write the resource's next version unless unchanged (`changed=False`)."""
        return self.write_of(
            rec,
            changed_by=changed_by,
            reason=reason,
            source_version=source_version,
            source_run_id=source_run_id,
        )(conn)

    def write_of(
        self,
        rec: R,
        *,
        changed_by: str,
        reason: str,
        source_version: int | None = None,
        source_run_id: UUID | None = None,
    ) -> RecordWrite:
        """The write of the resource's next version, to run later in a step's closing transaction."""
        values = self.stored(rec)
        key = self._key(values.pop("workspace_url"), values.pop(self.table.key_columns[1]))
        return RecordWrite(
            self.table,
            scd2.Scd2Write(
                key,
                values,
                changed_by,
                reason,
                {"source_version": source_version, "source_run_id": source_run_id},
            ),
        )

    def get_current(
        self,
        conn: psycopg.Connection[DictRow],
        workspace_url: str,
        name: str,
        *,
        include_deleted: bool = False,
    ) -> R | None:
        """The current record (None when never recorded, or deleted unless `include_deleted`)."""
        row = scd2.current_row(conn, self.table, self._key(workspace_url, name))
        if row is None or (row["is_deleted"] and not include_deleted):
            return None
        return self.from_row(row)

    def list_current(
        self,
        conn: psycopg.Connection[DictRow],
        *,
        workspace_url: str | None = None,
        share_pack_id: UUID | None = None,
        names: Iterable[str] | None = None,
        created_by_pack: bool | None = None,
        **columns: Any,
    ) -> list[R]:
        """Current, non-deleted rows filtered by workspace, managing pack, names, `created_by_pack` and equality
        on further `columns` (drift uses the workspace and pack; DELETE adds `created_by_pack=True`)."""
        name_column = sql.Identifier(self.table.key_columns[1])
        equal: dict[str, Any] = {
            "workspace_url": workspace_url,
            "share_pack_id": share_pack_id,
            "created_by_pack": created_by_pack,
            **columns,
        }
        filters: list[sql.Composable] = [sql.SQL("is_current AND NOT is_deleted")]
        params: list[Any] = []
        for column, value in equal.items():
            if value is not None:
                filters.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
                params.append(value)
        if names is not None:
            filters.append(sql.SQL("{} = ANY(%s)").format(name_column))
            params.append([n.lower() for n in names])
        query = sql.SQL("SELECT * FROM {} WHERE {} ORDER BY workspace_url, {}").format(
            self.table.identifier, sql.SQL(" AND ").join(filters), name_column
        )
        return [self.from_row(row) for row in conn.execute(query, params).fetchall()]

    def soft_delete(
        self,
        conn: psycopg.Connection[DictRow],
        workspace_url: str,
        name: str,
        *,
        changed_by: str,
        reason: str = "deleted",
        source_version: int | None = None,
        source_run_id: UUID | None = None,
    ) -> scd2.Scd2Result | None:
        """Record the resource as deleted; None when it was never recorded."""
        return scd2.soft_delete(
            conn,
            self.table,
            self._key(workspace_url, name),
            changed_by=changed_by,
            reason=reason,
            bookkeeping={"source_version": source_version, "source_run_id": source_run_id},
        )

    def as_of(self, conn: psycopg.Connection[DictRow], workspace_url: str, at: datetime) -> list[R]:
        """The non-deleted resources recorded in a workspace at instant `at`."""
        rows = scd2.as_of(conn, self.table, at, where={"workspace_url": workspace_url})
        return [self.from_row(row) for row in rows]


@dataclasses.dataclass(frozen=True)
class RecordWrite:
    """A record's next version, written when called with the connection of a step's closing transaction."""

    table: scd2.Scd2Table
    write: scd2.Scd2Write

    def __call__(self, conn: psycopg.Connection[DictRow]) -> scd2.Scd2Result:
        (result,) = scd2.scd2_write_many(conn, self.table, [self.write])
        return result


def run_writes(
    conn: psycopg.Connection[DictRow], writes: Sequence[Callable[[psycopg.Connection[Any]], object]]
) -> None:
    """Run steps' writes in order, the record writes between two other writes sent together per table
    (`scd2.scd2_write_many`: one round trip for the unchanged ones in pipeline mode)."""
    pending: dict[str, tuple[scd2.Scd2Table, list[scd2.Scd2Write]]] = {}

    def flush() -> None:
        for table, batch in pending.values():
            scd2.scd2_write_many(conn, table, batch)
        pending.clear()

    for write in writes:
        if isinstance(write, RecordWrite):
            pending.setdefault(write.table.name, (write.table, []))[1].append(write.write)
            continue
        flush()
        write(conn)
    flush()
