"""Helpers shared by the SCD2 writer and the repositories: jsonb parameters, INSERT statements, returned rows."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from functools import lru_cache
from typing import Any
from uuid import UUID

import psycopg
from psycopg import pq, sql
from psycopg.abc import Params
from psycopg.rows import tuple_row
from psycopg.types.json import Jsonb


def json_ready(value: Any) -> Any:
    """`value` with datetimes, UUIDs, enums and sets turned into JSON types (None and list order kept)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID | Decimal):
        return str(value)
    if isinstance(value, Enum):
        return json_ready(value.value)
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_ready(v) for v in value]
    raise TypeError(f"cannot store a {type(value).__name__} as JSON")


def jsonb(value: Any) -> Jsonb | None:
    """A jsonb parameter (None stays SQL NULL)."""
    return None if value is None else Jsonb(json_ready(value))


def returned[T](row: T | None) -> T:
    """The row a `RETURNING` / aggregate statement must produce (a missing row is a programming error)."""
    if row is None:
        raise RuntimeError("statement returned no row")
    return row


def affected_rows(conn: psycopg.Connection[Any], cursor: psycopg.Cursor[Any]) -> int:
    """The rows an UPDATE/DELETE changed. In pipeline mode (`transaction(..., pipelined=True)`) the count is only
    known once the statement's result is back, so a pending result is waited for first (a nested block syncs)."""
    if cursor.rowcount < 0 and conn.pgconn.pipeline_status != pq.PipelineStatus.OFF:
        with conn.pipeline():
            pass
    return cursor.rowcount


def insert_sql(table: str, columns: Iterable[str], returning: str = "") -> bytes:
    """`INSERT INTO deltashare.<table> (<columns>) VALUES (%(<column>)s, …)` plus `RETURNING <returning>`.

    The text is composed once per table, columns and `RETURNING` (the worker inserts the same rows for every step).
    """
    return _insert_text(table, tuple(columns), returning)


@lru_cache(maxsize=256)
def _insert_text(table: str, names: tuple[str, ...], returning: str) -> bytes:
    query = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
        sql.Identifier("deltashare", table),
        sql.SQL(", ").join(map(sql.Identifier, names)),
        sql.SQL(", ").join(map(sql.Placeholder, names)),
    )
    if returning:
        query += sql.SQL(f" RETURNING {returning}")
    return query.as_bytes(None)


def scalar(
    conn: psycopg.Connection[Any], query: str | bytes | sql.Composed, params: Params | None = None
) -> Any:
    """The first column of the row a statement must return, whatever the connection's row factory."""
    with conn.cursor(row_factory=tuple_row) as cursor:
        return returned(cursor.execute(query, params).fetchone())[0]


def field_values(record_type: type[Any], row: Mapping[str, Any]) -> dict[str, Any]:
    """The columns of `row` that are fields of the record dataclass `record_type` (others ignored, so that a later
    migration's column does not break an older reader)."""
    names = {f.name for f in dataclasses.fields(record_type)}
    return {k: v for k, v in row.items() if k in names}


def record_of[R](record_type: type[R], row: Mapping[str, Any]) -> R:
    """The record dataclass `record_type` built from the columns of `row` that are its fields."""
    return record_type(**field_values(record_type, row))


def records_of[R](record_type: type[R], rows: Iterable[Mapping[str, Any]]) -> list[R]:
    """`record_of` for every row."""
    return [record_of(record_type, row) for row in rows]


def record_or_none[R](record_type: type[R], row: Mapping[str, Any] | None) -> R | None:
    """`record_of(record_type, row)`, or None for no row."""
    return None if row is None else record_of(record_type, row)
