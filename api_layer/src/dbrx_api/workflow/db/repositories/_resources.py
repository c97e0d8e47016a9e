"""Shared reads and writes of the recorded-resource SCD2 tables (`recipients`, `shares`, `pipelines`).

`ResourceRepository(table)` gives each table the same `get_current`, `list_current`, `soft_delete`, `history` and
`as_of`; the per-table modules add only what differs (their record type and `record`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.rows import DictRow

from dbrx_api.workflow.db import scd2


def name_column(table: scd2.Scd2Table) -> str:
    """The name part of the `(workspace_url, <name>)` business key."""
    return table.key_columns[1]


def write(
    conn: psycopg.Connection[DictRow],
    table: scd2.Scd2Table,
    values: dict[str, Any],
    *,
    changed_by: str,
    reason: str,
    source_version: int | None,
    source_run_id: UUID | None,
) -> scd2.Scd2Result:
    """SCD2 write of a record's normalised `values` (key columns included; the name is lower-cased)."""
    key = {
        "workspace_url": values.pop("workspace_url"),
        name_column(table): values.pop(name_column(table)).lower(),
    }
    return scd2.scd2_write(
        conn,
        table,
        key,
        values,
        changed_by=changed_by,
        reason=reason,
        bookkeeping={"source_version": source_version, "source_run_id": source_run_id},
    )


def stored_fields(
    record_type: type[Any], row: Mapping[str, Any], tuples: Iterable[str] = ()
) -> dict[str, Any]:
    """The columns of `row` that are fields of the record dataclass, with jsonb lists as tuples."""
    names = {f.name for f in dataclasses.fields(record_type)}
    values = {k: v for k, v in row.items() if k in names}
    for name in tuples:
        values[name] = tuple(values.get(name) or ())
    return values


def get_current(
    conn: psycopg.Connection[DictRow],
    table: scd2.Scd2Table,
    workspace_url: str,
    name: str,
    *,
    include_deleted: bool,
) -> dict[str, Any] | None:
    """The current row of one resource (None when absent, or deleted and `include_deleted` is False)."""
    row = scd2.current_row(
        conn, table, {"workspace_url": workspace_url, name_column(table): name.lower()}
    )
    if row is None or (row["is_deleted"] and not include_deleted):
        return None
    return row


def list_current(
    conn: psycopg.Connection[DictRow],
    table: scd2.Scd2Table,
    *,
    workspace_url: str | None = None,
    share_pack_id: UUID | None = None,
    names: Iterable[str] | None = None,
    include_deleted: bool = False,
    extra: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Current rows filtered by workspace, managing pack, names and equality on `extra` columns."""
    filters: list[sql.Composable] = [sql.SQL("is_current")]
    params: list[Any] = []
    if not include_deleted:
        filters.append(sql.SQL("NOT is_deleted"))
    if workspace_url is not None:
        filters.append(sql.SQL("workspace_url = %s"))
        params.append(workspace_url)
    if share_pack_id is not None:
        filters.append(sql.SQL("share_pack_id = %s"))
        params.append(share_pack_id)
    if names is not None:
        filters.append(sql.SQL("{} = ANY(%s)").format(sql.Identifier(name_column(table))))
        params.append([n.lower() for n in names])
    for column, value in (extra or {}).items():
        filters.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
        params.append(value)
    query = sql.SQL("SELECT * FROM {} WHERE {} ORDER BY workspace_url, {}").format(
        table.identifier, sql.SQL(" AND ").join(filters), sql.Identifier(name_column(table))
    )
    return conn.execute(query, params).fetchall()


def history(
    conn: psycopg.Connection[DictRow], table: scd2.Scd2Table, workspace_url: str, name: str
) -> list[dict[str, Any]]:
    """Every version of one resource, oldest first."""
    return scd2.history(
        conn, table, {"workspace_url": workspace_url, name_column(table): name.lower()}
    )


def as_of(
    conn: psycopg.Connection[DictRow], table: scd2.Scd2Table, workspace_url: str, at: datetime
) -> list[dict[str, Any]]:
    """The non-deleted resources of a workspace as recorded at instant `at`."""
    return scd2.as_of(conn, table, at, where={"workspace_url": workspace_url})


def soft_delete(
    conn: psycopg.Connection[DictRow],
    table: scd2.Scd2Table,
    workspace_url: str,
    name: str,
    *,
    changed_by: str,
    reason: str,
    source_version: int | None,
    source_run_id: UUID | None,
) -> scd2.Scd2Result | None:
    """Record the resource as deleted; None when it was never recorded."""
    return scd2.soft_delete(
        conn,
        table,
        {"workspace_url": workspace_url, name_column(table): name.lower()},
        changed_by=changed_by,
        reason=reason,
        bookkeeping={"source_version": source_version, "source_run_id": source_run_id},
    )


@dataclasses.dataclass(frozen=True)
class ResourceRepository:
    """The by-name operations of one recorded-resource table; none of them commits."""

    table: scd2.Scd2Table

    def get_current(
        self,
        conn: psycopg.Connection[DictRow],
        workspace_url: str,
        name: str,
        *,
        include_deleted: bool = False,
    ) -> dict[str, Any] | None:
        """The current recorded row (None when never recorded, or deleted unless `include_deleted`)."""
        return get_current(conn, self.table, workspace_url, name, include_deleted=include_deleted)

    def list_current(
        self,
        conn: psycopg.Connection[DictRow],
        *,
        workspace_url: str | None = None,
        share_pack_id: UUID | None = None,
        names: Iterable[str] | None = None,
        created_by_pack: bool | None = None,
        **columns: Any,
    ) -> list[dict[str, Any]]:
        """Current, non-deleted rows filtered by workspace, managing pack, names, `created_by_pack` and equality
        on further `columns` (drift uses the workspace and pack; DELETE adds `created_by_pack=True`)."""
        extra = dict(columns)
        if created_by_pack is not None:
            extra["created_by_pack"] = created_by_pack
        return list_current(
            conn,
            self.table,
            workspace_url=workspace_url,
            share_pack_id=share_pack_id,
            names=names,
            extra=extra,
        )

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
        return soft_delete(
            conn,
            self.table,
            workspace_url,
            name,
            changed_by=changed_by,
            reason=reason,
            source_version=source_version,
            source_run_id=source_run_id,
        )

    def history(
        self, conn: psycopg.Connection[DictRow], workspace_url: str, name: str
    ) -> list[dict[str, Any]]:
        """Every recorded version of one resource, oldest first."""
        return history(conn, self.table, workspace_url, name)

    def as_of(
        self, conn: psycopg.Connection[DictRow], workspace_url: str, at: datetime
    ) -> list[dict[str, Any]]:
        """The resources recorded in a workspace at instant `at`."""
        return as_of(conn, self.table, workspace_url, at)
