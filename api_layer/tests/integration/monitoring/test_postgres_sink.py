"""The PostgreSQL log sink against a real server: column mapping, batching, levels, pool and DSN."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from dbrx_api.monitoring import LoggingHandle, request_scope, update_request_context
from dbrx_api.monitoring.postgres_sink import DsnConnection, PostgresLogSink, pool_connections
from fixtures.monitoring import logging_settings

pytestmark = pytest.mark.integration


def _rows(dsn: str, logger_name: str) -> list[dict[str, Any]]:
    with psycopg.connect(dsn, row_factory=dict_row) as conn:
        return conn.execute(
            "SELECT * FROM deltashare.application_logs WHERE logger = %s ORDER BY log_id",
            (logger_name,),
        ).fetchall()


def test_records_are_inserted_with_their_columns(
    pg_url: str,
    sink_logger: logging.Logger,
) -> None:
    sink = PostgresLogSink(DsnConnection(pg_url), level=logging.INFO)
    sink_logger.addHandler(sink)
    pack_id = uuid.uuid4()
    with request_scope(request_id="req-1", method="POST", path="/shares", route="/shares"):
        update_request_context(principal_id="oid-1", principal_name="Jane")
        sink_logger.warning(
            "created\x00 share",
            extra={"status": 201, "latency_ms": 12.6, "share_pack_id": str(pack_id), "share": "s1"},
        )
        try:
            raise ValueError("bad value")
        except ValueError:
            sink_logger.exception("failed", extra={"run_id": "not-a-uuid"})
    assert sink.close_sink(10)

    first, second = _rows(pg_url, sink_logger.name)
    assert first["level"] == "WARNING"
    assert first["message"] == "created share"  # NUL removed: PostgreSQL text rejects it
    assert first["request_id"] == "req-1"
    assert first["principal"] == "oid-1"
    assert first["method"] == "POST"
    assert first["path"] == "/shares"
    assert first["status_code"] == 201
    assert first["duration_ms"] == 13
    assert first["share_pack_id"] == pack_id
    assert first["extra"] == {"principal_name": "Jane", "route": "/shares", "share": "s1"}
    assert first["at"].tzinfo is not None

    assert second["level"] == "ERROR"
    assert second["exception_type"] == "ValueError"
    assert second["exception_message"] == "bad value"
    assert second["run_id"] is None
    assert second["extra"]["run_id"] == "not-a-uuid"  # not a uuid: kept, but not in the uuid column
    assert second["extra"]["stack"].startswith("Traceback")
    assert sink.stats().emitted == 2


def test_one_batch_is_one_transaction_through_the_pool(
    pg_url: str,
    sink_logger: logging.Logger,
) -> None:
    with ConnectionPool(pg_url, min_size=1, max_size=2, open=False) as pool:
        pool.open(wait=True, timeout=10)
        sink = PostgresLogSink(pool_connections(pool), level=logging.INFO, linger_s=30)
        sink_logger.addHandler(sink)
        for i in range(250):
            sink_logger.info("m%d", i)
        assert sink.flush_queue(10)
        sink.close_sink(5)
    rows = _rows(pg_url, sink_logger.name)
    assert [row["message"] for row in rows] == [f"m{i}" for i in range(250)]
    # One transaction: every row of the batch carries the same transaction id.
    with psycopg.connect(pg_url) as conn:
        xids = conn.execute(
            "SELECT count(DISTINCT xmin::text) FROM deltashare.application_logs WHERE logger = %s",
            (sink_logger.name,),
        ).fetchone()
    assert xids == (1,)


def test_configure_logging_honours_the_minimum_level(
    pg_url: str,
    configured_logging: Callable[..., LoggingHandle],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", pg_url)
    handle = configured_logging(logging_settings(postgresql=True, postgresql_min_level="WARNING"))
    log = logging.getLogger(f"dbrx_api.test.pg.{uuid.uuid4().hex[:8]}")  # propagates to the root
    log.info("not stored")
    log.warning("stored")
    log.error("stored too")
    assert handle.flush(10)
    assert [row["message"] for row in _rows(pg_url, log.name)] == ["stored", "stored too"]
    assert handle.stats()["postgresql"].emitted >= 2


def test_unreachable_database_drops_and_recovers_on_a_new_connection(
    pg_url: str,
    sink_logger: logging.Logger,
) -> None:
    connection = DsnConnection(pg_url)
    sink = PostgresLogSink(connection, level=logging.INFO)
    sink_logger.addHandler(sink)
    sink_logger.info("first")
    sink.flush_queue(10)
    # Kill our session server-side: the next write fails, the one after reconnects.
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'deltashare-log-sink' AND datname = current_database()"
        )
    sink_logger.info("lost")
    sink.flush_queue(10)
    sink_logger.info("after reconnect")
    sink.flush_queue(10)
    sink.close_sink(5)
    assert [row["message"] for row in _rows(pg_url, sink_logger.name)] == [
        "first",
        "after reconnect",
    ]
    assert sink.stats().dropped == 1
