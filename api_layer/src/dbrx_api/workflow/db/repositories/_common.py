"""Helpers shared by the repositories (not part of their public surface)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from psycopg import sql

from dbrx_api.workflow.db.values import jsonb

SCHEMA = "deltashare"


def table(name: str) -> sql.Composed:
    """`deltashare.<name>` as a composable identifier."""
    return sql.SQL("{}.{}").format(sql.Identifier(SCHEMA), sql.Identifier(name))


def set_clause(
    values: Mapping[str, Any], allowed: frozenset[str], json_columns: frozenset[str] = frozenset()
) -> tuple[sql.Composed, list[Any]]:
    """`a = %s, b = %s` for the given columns (each must be in `allowed`), with its parameters."""
    unknown = set(values) - allowed
    if unknown:
        raise ValueError(f"cannot set {sorted(unknown)}")
    parts = [sql.SQL("{} = %s").format(sql.Identifier(c)) for c in values]
    params = [jsonb(v) if c in json_columns else v for c, v in values.items()]
    return sql.SQL(", ").join(parts), params
