"""Connection management: DSN resolution, embedded server, pool, lock sessions, `database_unavailable`."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import psycopg
import pytest

from dbrx_api.errors import ServiceUnavailable
from dbrx_api.settings import WorkflowSettings
from dbrx_api.workflow.db import connection
from dbrx_api.workflow.db.connection import (
    Pool,
    connect_lock_session,
    database_unavailable,
    open_pool,
    resolve_database_url,
    transaction,
)
from fixtures.azurite import free_port

pytestmark = pytest.mark.integration


def test_configured_url_wins(pg_url: str) -> None:
    assert resolve_database_url(WorkflowSettings(database_url=pg_url)) == pg_url  # type: ignore[arg-type]


def test_embedded_server_when_no_url_is_configured() -> None:
    base = Path(tempfile.mkdtemp(prefix="deltashare-embedded-"))
    settings = WorkflowSettings(embedded_db_dir=str(base / "pgdata"))
    assert connection.embedded_data_dir(settings) == base / "pgdata"
    assert (
        connection.embedded_data_dir(WorkflowSettings())
        == connection.API_LAYER_DIR / ".local" / "pgdata"
    )
    try:
        url = resolve_database_url(settings)
        assert resolve_database_url(settings) == url  # one server per data directory and process
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        connection.stop_embedded_servers()
        shutil.rmtree(base, ignore_errors=True)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2)


def test_pool_returns_dict_rows_and_transaction_commits(pg_pool: Pool) -> None:
    with transaction(pg_pool) as conn:
        row = conn.execute("SELECT 1 AS one").fetchone()
    assert row == {"one": 1}


def test_unreachable_database_is_database_unavailable() -> None:
    dead = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres?connect_timeout=1"
    with pytest.raises(ServiceUnavailable) as raised:
        open_pool(WorkflowSettings(), conninfo=dead, timeout_s=1)
    assert raised.value.code == "database_unavailable"
    assert raised.value.status_code == 503
    assert raised.value.headers["Retry-After"]
    with pytest.raises(ServiceUnavailable) as from_lock:
        connect_lock_session(dead, heartbeat_s=60, connect_timeout_s=1)
    assert from_lock.value.code == "database_unavailable"


def test_pool_exhaustion_and_integrity_errors(pg_url: str) -> None:
    pool = open_pool(WorkflowSettings(), conninfo=pg_url, min_size=1, max_size=1, timeout_s=0.5)
    try:
        with pool.connection(), pytest.raises(ServiceUnavailable) as raised, transaction(pool):
            pass
        assert raised.value.code == "database_unavailable"
        # Errors that are not about reaching the database pass through unchanged.
        with (
            pytest.raises(psycopg.errors.UndefinedTable),
            database_unavailable(),
            transaction(pool) as conn,
        ):
            conn.execute("SELECT * FROM no_such_table")
    finally:
        pool.close()


def test_lock_session_settings(pg_url: str) -> None:
    with connect_lock_session(pg_url, heartbeat_s=60) as conn:
        assert conn.autocommit
        assert conn.execute("SHOW idle_session_timeout").fetchone() == ("3min",)
        assert conn.execute("SHOW application_name").fetchone() == ("deltashare-lock",)
