"""PostgreSQL log sink: batched inserts into `deltashare.application_logs` (docs/WORKFLOW.md §5.3).

The writer thread inserts each batch with one `executemany` in one short transaction (statement timeout 5 s), using
either the workflow's connection pool (`pool.connection(timeout=…)`, one connection held briefly) or its own
connection from a DSN, re-opened after a failure. Known fields go to their columns; everything else (the route,
the principal's name, the stack, `extra=` values) goes to the `extra` jsonb column.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from dbrx_api.monitoring.events import LogEvent
from dbrx_api.monitoring.sinks import QueuedSink

ConnectionSource = Callable[[], AbstractContextManager[psycopg.Connection[Any]]]

INSERT_SQL = """
INSERT INTO deltashare.application_logs
  (at, level, logger, message, request_id, principal, method, path, status_code, duration_ms,
   share_pack_id, run_id, exception_type, exception_message, extra)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
"""
SET_STATEMENT_TIMEOUT = "SET LOCAL statement_timeout = '5s'"
_COLUMN_FIELDS = frozenset(
    (
        "timestamp",
        "level",
        "logger",
        "message",
        "request_id",
        "principal_id",
        "method",
        "path",
        "status",
        "latency_ms",
        "exception_type",
        "exception_message",
    )
)


def pool_connections(pool: ConnectionPool[Any], timeout_s: float = 2.0) -> ConnectionSource:
    """Borrow connections from the workflow pool, waiting at most `timeout_s` for one."""

    def borrow() -> AbstractContextManager[psycopg.Connection[Any]]:
        return pool.connection(timeout=timeout_s)

    return borrow


class DsnConnection:
    """One dedicated connection, opened lazily and re-opened after a failure."""

    def __init__(self, dsn: str, *, connect_timeout_s: int = 3) -> None:
        self._dsn = dsn
        self._connect_timeout_s = connect_timeout_s
        self._connection: psycopg.Connection[Any] | None = None

    @contextmanager
    def __call__(self) -> Iterator[psycopg.Connection[Any]]:
        """The open connection (autocommit; callers use `conn.transaction()`)."""
        if self._connection is None or self._connection.closed:
            self._connection = psycopg.connect(
                self._dsn,
                autocommit=True,
                connect_timeout=self._connect_timeout_s,
                application_name="deltashare-log-sink",
            )
        try:
            yield self._connection
        except psycopg.Error:
            self.close()
            raise

    def close(self) -> None:
        """Close the connection if open."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class PostgresLogSink(QueuedSink):
    """Inserts records at or above `level` into `deltashare.application_logs`."""

    def __init__(
        self,
        connections: ConnectionSource,
        *,
        level: int | str = logging.WARNING,
        queue_size: int = 10_000,
        linger_s: float = 1.0,
    ) -> None:
        self._connections = connections
        super().__init__(
            "postgresql", level=level, queue_size=queue_size, linger_s=linger_s, max_batch=500
        )

    def write_batch(self, events: list[LogEvent]) -> None:
        """One transaction, one `executemany`."""
        rows = [_row(event) for event in events]
        with self._connections() as conn, conn.transaction(), conn.cursor() as cursor:
            cursor.execute(SET_STATEMENT_TIMEOUT)
            cursor.executemany(INSERT_SQL, rows)

    def close_resources(self) -> None:
        """Close a dedicated connection (a borrowed pool stays the pool owner's business)."""
        if isinstance(self._connections, DsnConnection):
            self._connections.close()


def _row(event: LogEvent) -> tuple[Any, ...]:
    fields: dict[str, Any] = _without_nul(event.fields)
    share_pack_id = _uuid_or_none(fields.get("share_pack_id"))
    run_id = _uuid_or_none(fields.get("run_id"))
    extra = {
        key: value
        for key, value in fields.items()
        if key not in _COLUMN_FIELDS
        and not (key == "share_pack_id" and share_pack_id)
        and not (key == "run_id" and run_id)
    }
    return (
        dt.datetime.fromtimestamp(event.created, dt.UTC),
        fields["level"],
        fields["logger"],
        fields["message"],
        _text_or_none(fields.get("request_id")),
        _text_or_none(fields.get("principal_id")),
        _text_or_none(fields.get("method")),
        _text_or_none(fields.get("path") or fields.get("route")),
        _int_or_none(fields.get("status"), 32_767),
        _int_or_none(fields.get("latency_ms"), 2_147_483_647),
        share_pack_id,
        run_id,
        _text_or_none(fields.get("exception_type")),
        _text_or_none(fields.get("exception_message")),
        Jsonb(extra) if extra else None,
    )


def _without_nul(value: Any) -> Any:
    """PostgreSQL text and jsonb reject NUL characters."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    return value


def _text_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _int_or_none(value: Any, limit: int) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = round(value)
    return number if -limit <= number <= limit else None


def _uuid_or_none(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value is not None else None
    except ValueError:
        return None
