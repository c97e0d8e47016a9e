"""`deltashare.application_logs` (append-only except the retention purge): the PostgreSQL log sink."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import DictRow

from dbrx_api.workflow.db.values import insert_sql, jsonb, scalar


@dataclass(frozen=True)
class LogRow:
    """One log record as the sink writes it (already redacted by the logging pipeline)."""

    at: datetime
    level: str
    logger: str
    message: str
    request_id: str | None = None
    principal: str | None = None
    method: str | None = None
    path: str | None = None
    status_code: int | None = None
    duration_ms: int | None = None
    share_pack_id: UUID | None = None
    run_id: UUID | None = None
    exception_type: str | None = None
    exception_message: str | None = None
    extra: Mapping[str, Any] | None = None


def insert_many(conn: psycopg.Connection[Any], rows: Sequence[LogRow]) -> int:
    """Append a batch of log rows (one round trip per batch) and return how many were written."""
    if not rows:
        return 0
    params = [{**dataclasses.asdict(r), "extra": jsonb(r.extra)} for r in rows]
    with conn.cursor() as cursor:
        cursor.executemany(insert_sql("application_logs", params[0]), params)
    return len(rows)


def purge(conn: psycopg.Connection[DictRow], *, before: datetime) -> int:
    """Delete the rows older than `before` through `deltashare.purge_application_logs` (retention, docs/WORKFLOW.md §5.4)."""
    return int(scalar(conn, "SELECT deltashare.purge_application_logs(%s)", (before,)))
