"""The sweeper (docs/WORKFLOW.md §8.7): what makes "nothing is lost" hold.

Every `sweeper.interval_s`, in every worker process and in an API process with inline workers, the instance that
obtains the `sweeper` session lock:

* re-sends a message for every `QUEUED` version whose message should have been visible more than
  `requeue_grace_s` ago (all `QUEUED` versions at startup with the in-process queue, which starts empty);
* recovers dead runs: `IN_PROGRESS` versions whose lease expired more than `lease_grace_s` ago and whose pack lock
  can be taken (their worker's session is gone) — runs `ABANDONED`, version `QUEUED`, message sent;
* once a day purges `application_logs` older than `logs_retention_days`;
* every `token_rotation_sweep_interval_s` runs the token rotation sweep it was given (docs/WORKFLOW.md §9.6), whose
  per-token claims keep a rotation single even when two instances sweep at once.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from uuid import UUID

import psycopg

from dbrx_api.errors import AppError
from dbrx_api.settings import WorkflowSettings
from dbrx_api.workflow.db import locks, operations, scd2
from dbrx_api.workflow.db.connection import Pool, transaction
from dbrx_api.workflow.db.repositories import application_logs, version_status
from dbrx_api.workflow.queue.base import Queue, QueueError
from dbrx_api.workflow.queue.messages import WorkMessage

logger = logging.getLogger(__name__)

RETENTION_PERIOD_S = 24 * 3600


@dataclass
class SweepReport:
    """What one sweep did (`led` is False when another instance held the sweeper lock)."""

    led: bool
    resent: list[tuple[UUID, int]] = field(default_factory=list)
    recovered: list[tuple[UUID, int]] = field(default_factory=list)
    purged_logs: int | None = None
    token_rotations: Any = None  # the rotation sweep's report when it ran in this sweep


class Sweeper:
    """Periodic recovery of lost messages and dead runs, run by one leader at a time."""

    def __init__(
        self,
        *,
        pool: Pool,
        queue: Queue,
        settings: WorkflowSettings,
        conninfo: str | None = None,
        sweeper_id: str | None = None,
        rotation_sweep: Callable[[str], Any] | None = None,
    ) -> None:
        self.pool = pool
        self.queue = queue
        self.settings = settings
        self.conninfo = conninfo if conninfo is not None else str(pool.conninfo)
        self.sweeper_id = sweeper_id or f"{socket.gethostname()}:{os.getpid()}"
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_purge: float | None = None
        self._rotation_sweep = rotation_sweep
        self._last_rotation_sweep: float | None = None

    @property
    def actor(self) -> str:
        """Actor of the sweeper's transitions."""
        return f"sweeper:{self.sweeper_id}"

    def start(self) -> None:
        """Run sweeps in a daemon thread; with a non-durable queue the first sweep re-sends every QUEUED version."""
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="sweeper", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the thread after the current sweep."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def _loop(self) -> None:
        startup = not self.queue.durable
        while not self._stopping.is_set():
            try:
                report = self.sweep_once(startup=startup)
                startup = startup and not report.led  # keep trying the startup sweep until it ran
            except Exception:
                logger.exception("sweep failed")
            self._stopping.wait(self.settings.sweeper.interval_s)

    def sweep_once(self, *, startup: bool = False) -> SweepReport:
        """One sweep if this instance obtains the sweeper lock (docs/WORKFLOW.md §8.7); `startup` ignores the re-send grace."""
        try:
            conn = psycopg.connect(
                self.conninfo, autocommit=True, application_name="deltashare-sweeper"
            )
        except psycopg.OperationalError:
            logger.warning("sweeper could not connect to the database")
            return SweepReport(led=False)
        with conn:
            if not locks.try_session_lock(conn, locks.SWEEPER, locks.SWEEPER_KEY):
                return SweepReport(led=False)
            try:
                report = SweepReport(led=True)
                self._resend_lost(report, startup=startup)
                self._recover_dead_runs(conn, report)
                self._purge_logs(report)
                self._sweep_rotations(report)
            finally:
                locks.session_unlock(conn, locks.SWEEPER, locks.SWEEPER_KEY)
        if report.resent or report.recovered:
            logger.info(
                "sweep re-sent messages",
                extra={"resent": len(report.resent), "recovered": len(report.recovered)},
            )
        return report

    def _resend_lost(self, report: SweepReport, *, startup: bool) -> None:
        grace = timedelta(seconds=self.settings.sweeper.requeue_grace_s)
        with transaction(self.pool) as conn:
            now = scd2.clock(conn)
            candidates = version_status.list_queued(
                conn, visible_before=None if startup else now - grace
            )
        for row in candidates:
            message = WorkMessage(row.share_pack_id, row.version, attempt=row.attempts + 1)
            try:
                self.queue.send(message.to_json())
            except QueueError:
                logger.warning("sweeper could not send; next sweep retries", exc_info=True)
                return
            with transaction(self.pool) as conn:
                version_status.set_next_visible(
                    conn, row.share_pack_id, row.version, at=scd2.clock(conn)
                )
            report.resent.append((row.share_pack_id, row.version))

    def _recover_dead_runs(
        self, lock_conn: psycopg.Connection[tuple[object, ...]], report: SweepReport
    ) -> None:
        grace = timedelta(seconds=self.settings.sweeper.lease_grace_s)
        with transaction(self.pool) as conn:
            now = scd2.clock(conn)
            candidates = version_status.list_expired_leases(conn, expired_before=now - grace)
        for row in candidates:
            key = str(row.share_pack_id)
            if not locks.try_session_lock(lock_conn, locks.PROVISION, key):
                continue  # its worker's session still holds the lock: not dead
            try:
                with transaction(self.pool) as conn:
                    recovered = operations.recover_dead_run(
                        conn,
                        row.share_pack_id,
                        row.version,
                        actor=self.actor,
                        expected_run_id=row.last_run_id,
                    )
            finally:
                locks.session_unlock(lock_conn, locks.PROVISION, key)
            if recovered is None:
                continue
            message = WorkMessage(row.share_pack_id, row.version, attempt=recovered.attempts + 1)
            try:
                self.queue.send(message.to_json())
            except QueueError:
                logger.warning(
                    "sweeper could not send for a recovered run; the lost-message rule will"
                )
            report.recovered.append((row.share_pack_id, row.version))

    def _sweep_rotations(self, report: SweepReport) -> None:
        """The token rotation sweep, at most every `token_rotation_sweep_interval_s` (0: never)."""
        interval = self.settings.token_rotation_sweep_interval_s
        if self._rotation_sweep is None or interval <= 0:
            return
        if not _due(self._last_rotation_sweep, interval):
            return
        self._last_rotation_sweep = time.monotonic()
        try:
            report.token_rotations = self._rotation_sweep(self.actor)
        except Exception:  # e.g. the database is unavailable: the next interval retries
            logger.exception("token rotation sweep failed")

    def _purge_logs(self, report: SweepReport) -> None:
        if not _due(self._last_purge, RETENTION_PERIOD_S):
            return
        try:
            with transaction(self.pool) as conn:
                before = scd2.clock(conn) - timedelta(days=self.settings.logs_retention_days)
                report.purged_logs = application_logs.purge(conn, before=before)
        except AppError:
            logger.warning("log retention purge failed; retried at the next sweep")
            return
        self._last_purge = time.monotonic()


def _due(last: float | None, interval_s: float) -> bool:
    """Whether `interval_s` has passed since `last` (a `time.monotonic()` reading; None: never ran)."""
    return last is None or time.monotonic() - last >= interval_s
