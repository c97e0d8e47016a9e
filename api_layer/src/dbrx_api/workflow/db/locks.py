"""Advisory locks (docs/WORKFLOW.md §5.1): keys from `deltashare.lock_key(kind, key)`, transaction and session scopes.

| kind | key | scope |
|---|---|---|
| `scd2:<table>` | business key (pack key for `share_packs`) | transaction |
| `provision` | share_pack_id | session, on the run's dedicated connection |
| `sweeper` | `-` | session, for one sweep |
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any
from uuid import UUID

import psycopg

from dbrx_api.workflow.db.values import scalar

logger = logging.getLogger(__name__)

PROVISION = "provision"
SWEEPER = "sweeper"
SWEEPER_KEY = "-"


def xact_lock(conn: psycopg.Connection[Any], kind: str, key: str) -> None:
    """Wait for the transaction-scoped lock `(kind, key)`; it is released at commit or rollback."""
    conn.execute("SELECT pg_advisory_xact_lock(deltashare.lock_key(%s, %s))", (kind, key))


def xact_lock_all(conn: psycopg.Connection[Any], kind: str, keys: list[str]) -> None:
    """`xact_lock` of every key, one statement, in the given order (callers pass them sorted, so that two
    transactions locking overlapping keys cannot deadlock)."""
    conn.execute(
        "SELECT pg_advisory_xact_lock(deltashare.lock_key(%s, k)) "
        "FROM unnest(%s::text[]) WITH ORDINALITY AS keys(k, n) ORDER BY n",
        (kind, keys),
    )


def try_session_lock(conn: psycopg.Connection[Any], kind: str, key: str) -> bool:
    """Try to take the session lock `(kind, key)` without waiting; True when this session now holds it."""
    return bool(
        scalar(conn, "SELECT pg_try_advisory_lock(deltashare.lock_key(%s, %s))", (kind, key))
    )


def session_unlock(conn: psycopg.Connection[Any], kind: str, key: str) -> bool:
    """Release one hold of the session lock `(kind, key)`; False when this session did not hold it."""
    return bool(scalar(conn, "SELECT pg_advisory_unlock(deltashare.lock_key(%s, %s))", (kind, key)))


class PackLock:
    """The per-pack provisioning lock held on a dedicated autocommit connection for one run.

    The connection is shared by the run (checks before every mutating call) and its heartbeat (pings);
    psycopg serialises the use of one connection, and `_guard` keeps the bookkeeping consistent.
    """

    def __init__(self, conn: psycopg.Connection[Any], share_pack_id: UUID) -> None:
        self._conn = conn
        self._key = str(share_pack_id)
        self._held = False
        self._last_check = 0.0
        self._guard = threading.Lock()

    @property
    def held(self) -> bool:
        """Whether `acquire` succeeded and the lock was not released since."""
        return self._held

    def acquire(self) -> bool:
        """Try to take the lock; False when another session holds it."""
        with self._guard:
            self._held = try_session_lock(self._conn, PROVISION, self._key)
            self._last_check = time.monotonic()
            return self._held

    def ping(self) -> bool:
        """Round-trip to the server; False (and the lock counts as lost) when the connection is gone."""
        with self._guard:
            if not self._held:
                return False
            try:
                self._conn.execute("SELECT 1")
            except psycopg.Error:
                logger.warning("pack lock connection lost", extra={"share_pack_id": self._key})
                self._held = False
                return False
            self._last_check = time.monotonic()
            return True

    def is_alive(self, max_age_s: float = 5.0) -> bool:
        """Cheap liveness check: connection state, plus a ping when the last check is older than `max_age_s`."""
        if not self._held or self._conn.closed or self._conn.broken:
            return False
        if time.monotonic() - self._last_check > max_age_s:
            return self.ping()
        return True

    def release(self) -> None:
        """Release the lock and close the connection (closing alone would release it too)."""
        with self._guard:
            try:
                if self._held and not self._conn.closed:
                    session_unlock(self._conn, PROVISION, self._key)
            except psycopg.Error:
                logger.warning(
                    "could not release the pack lock cleanly", extra={"share_pack_id": self._key}
                )
            finally:
                self._held = False
                self._conn.close()
