"""`deltashare.application_logs` (append-only except the retention purge): the PostgreSQL log sink."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import DictRow

from dbrx_api.workflow.db.values import jsonb, scalar


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
    with conn.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO deltashare.application_logs (at, level, logger, message, request_id, principal, "
            "method, path, status_code, duration_ms, share_pack_id, run_id, exception_type, "
            "exception_message, extra) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [
                (
                    r.at,
                    r.level,
                    r.logger,
                    r.message,
                    r.request_id,
                    r.principal,
                    r.method,
                    r.path,
                    r.status_code,
                    r.duration_ms,
                    r.share_pack_id,
                    r.run_id,
                    r.exception_type,
                    r.exception_message,
                    jsonb(r.extra),
                )
                for r in rows
            ],
        )
    return len(rows)


def purge(conn: psycopg.Connection[DictRow], *, before: datetime) -> int:
    """Delete the rows older than `before` through `deltashare.purge_application_logs` (retention, §5.4)."""
    return int(scalar(conn, "SELECT deltashare.purge_application_logs(%s)", (before,)))
