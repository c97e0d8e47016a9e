"""Connections to the workflow database.

* `resolve_database_url`: the configured DSN, or an embedded PostgreSQL (`pgserver`) for local runs.
* `open_pool`: the synchronous `psycopg_pool.ConnectionPool` (rows as dicts) opened by the API lifespan and the
  worker `main()`.
* `connect_lock_session`: the dedicated autocommit connection that holds a pack's session advisory lock (docs/WORKFLOW.md §8.2).
* `database_unavailable` / `transaction`: the one place where connection failures and pool timeouts become
  `ServiceUnavailable(code="database_unavailable")`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from dbrx_api.errors import ServiceUnavailable
from dbrx_api.settings import WorkflowSettings
from dbrx_api.workflow.db import adapters

logger = logging.getLogger(__name__)

adapters.register()  # idempotent; makes the dependency explicit for pool users

DictConnection = psycopg.Connection[DictRow]
Pool = ConnectionPool[DictConnection]

# api_layer/src/dbrx_api/workflow/db/connection.py -> api_layer/
API_LAYER_DIR = Path(__file__).resolve().parents[4]
DEFAULT_EMBEDDED_DIR = API_LAYER_DIR / ".local" / "pgdata"
DATABASE_UNAVAILABLE_RETRY_AFTER_S = 5

_embedded_lock = threading.Lock()
_embedded_servers: dict[Path, Any] = {}


def embedded_data_dir(settings: WorkflowSettings) -> Path:
    """Data directory of the embedded server: `workflow.embedded_db_dir`, else `api_layer/.local/pgdata`."""
    if settings.embedded_db_dir:
        return Path(settings.embedded_db_dir).expanduser().resolve()
    return DEFAULT_EMBEDDED_DIR


def start_embedded_server(data_dir: Path) -> str:
    """Start (or reuse) the embedded PostgreSQL of `data_dir` and return its DSN.

    The server listens on a Unix socket only and stops when the last process using it exits. As root, pgserver
    runs PostgreSQL as a `pgserver` system user and opens the permissions of the data directory's parents, which
    is why the directory stays inside the repository (or a fresh temporary folder).
    """
    # imported lazily: only local runs without a configured database need it
    from pgserver.postgres_server import get_server

    data_dir = data_dir.expanduser().resolve()
    with _embedded_lock:
        server = _embedded_servers.get(data_dir)
        if server is None:
            data_dir.parent.mkdir(parents=True, exist_ok=True)
            logger.info("starting the embedded PostgreSQL", extra={"data_dir": str(data_dir)})
            server = get_server(data_dir, cleanup_mode="stop")
            _embedded_servers[data_dir] = server
        return str(server.get_uri())


def stop_embedded_servers() -> None:
    """Stop the embedded servers this process started (API/worker shutdown; tests)."""
    with _embedded_lock:
        servers = list(_embedded_servers.values())
        _embedded_servers.clear()
    for server in servers:
        server.cleanup()


def resolve_database_url(settings: WorkflowSettings) -> str:
    """The DSN to use: `workflow.database_url` (or `DATABASE_URL`), else the embedded server.

    Outside the local environment the settings validation already refuses an enabled workflow without a
    database URL, so the embedded fallback only happens locally.
    """
    if settings.database_url is not None:
        return settings.database_url.get_secret_value()
    return start_embedded_server(embedded_data_dir(settings))


def open_pool(
    settings: WorkflowSettings,
    *,
    conninfo: str | None = None,
    min_size: int | None = None,
    max_size: int | None = None,
    timeout_s: float = 10.0,
    name: str = "deltashare",
) -> Pool:
    """Open and return a connection pool whose connections return rows as dicts.

    `max_size` defaults to `workflow.db_pool_max` (workers pass `2 x concurrency + 2`). The pool is opened here,
    waiting up to `timeout_s` for its first connections; an unreachable database raises
    `ServiceUnavailable(code="database_unavailable")` and leaves nothing open.
    """
    dsn = conninfo if conninfo is not None else resolve_database_url(settings)
    maximum = max_size if max_size is not None else settings.db_pool_max
    minimum = min(min_size if min_size is not None else settings.db_pool_min, maximum)
    pool: Pool = ConnectionPool(
        dsn,
        connection_class=DictConnection,
        kwargs={"row_factory": dict_row},
        min_size=minimum,
        max_size=maximum,
        open=False,
        timeout=timeout_s,
        max_lifetime=3600,
        max_idle=600,
        check=ConnectionPool.check_connection,
        name=name,
    )
    try:
        pool.open(wait=minimum > 0, timeout=timeout_s)
    except PoolTimeout as exc:
        pool.close()
        raise _unavailable() from exc
    return pool


def connect_lock_session(
    conninfo: str, *, heartbeat_s: float, connect_timeout_s: int = 10
) -> psycopg.Connection[Any]:
    """Open the autocommit connection that holds a pack's session advisory lock (docs/WORKFLOW.md §8.2 step 5).

    `idle_session_timeout` of 3 x the heartbeat and short TCP keepalives make the server drop the session (and
    so release the lock) within minutes when its worker vanishes; a live worker pings it every heartbeat.
    """
    idle_ms = max(1000, int(3 * heartbeat_s * 1000))
    options = (
        f"-c idle_session_timeout={idle_ms} -c tcp_keepalives_idle=30 "
        "-c tcp_keepalives_interval=10 -c tcp_keepalives_count=3"
    )
    try:
        return psycopg.connect(
            conninfo,
            autocommit=True,
            connect_timeout=connect_timeout_s,
            keepalives=1,
            keepalives_idle=30,
            keepalives_interval=10,
            keepalives_count=3,
            options=options,
            application_name="deltashare-lock",
        )
    except psycopg.OperationalError as exc:
        raise _unavailable() from exc


def _unavailable() -> ServiceUnavailable:
    return ServiceUnavailable(
        "The workflow database is unreachable; try again later.",
        code="database_unavailable",
        headers={"Retry-After": str(DATABASE_UNAVAILABLE_RETRY_AFTER_S)},
        retry_after_seconds=DATABASE_UNAVAILABLE_RETRY_AFTER_S,
    )


@contextmanager
def database_unavailable() -> Iterator[None]:
    """Turn connection failures and pool timeouts raised inside the block into `database_unavailable` (503).

    `psycopg_pool.PoolTimeout` and `PoolClosed` are `OperationalError`s, like a dropped connection or a server
    shutting down; integrity and programming errors pass through unchanged.
    """
    try:
        yield
    except psycopg.OperationalError as exc:
        logger.warning(
            "workflow database unavailable", extra={"db_error_class": type(exc).__name__}
        )
        raise _unavailable() from exc


@contextmanager
def transaction(pool: Pool, *, pipelined: bool = False) -> Iterator[DictConnection]:
    """A pooled connection inside one transaction, committed on clean exit and rolled back on error.

    The boundary helper for routes' services and the worker: failures to reach the database surface as
    `ServiceUnavailable(code="database_unavailable")`.

    `pipelined`: the transaction runs in psycopg's pipeline mode. Statements are sent without waiting and results
    come back when first read, so BEGIN, statements whose result nobody reads and COMMIT share round trips. A
    failing statement raises at the next read or at the end of the block, and the transaction rolls back.
    Only for writers that read `rowcount` through `values.affected_rows` (the provisioning recorder).
    """
    with database_unavailable(), pool.connection() as conn:
        if pipelined:
            with conn.pipeline(), conn.transaction():
                yield conn
        else:
            with conn.transaction():
                yield conn


@contextmanager
def read_transaction(pool: Pool) -> Iterator[DictConnection]:
    """As `transaction`, read-only (`SET TRANSACTION READ ONLY`): for services that answer from the records and
    must not write them."""
    with transaction(pool) as conn:
        conn.execute("SET TRANSACTION READ ONLY")
        yield conn
