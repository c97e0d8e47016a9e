"""The at-least-once consumer loop of docs/WORKFLOW.md §8 (receive, lock, claim, run, heartbeat, outcome, message).

`Consumer` runs `concurrency` threads; each repeats `poll_once`. The provisioning itself is the injected
`handler(share_pack_id, version, cancel) -> Outcome`; everything else (queue discipline, per-pack session lock,
claim, lease, poison, deferral, graceful shutdown) lives here. A PostgreSQL transaction never stays open across the
handler or a queue call, a message is deleted only after the outcome it leads to has committed, and a new message
is sent only after the transaction that makes it necessary has committed.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

import psycopg

from dbrx_api.errors import AppError, is_retriable
from dbrx_api.settings import WorkflowSettings
from dbrx_api.workflow.db import operations, scd2
from dbrx_api.workflow.db.connection import Pool, connect_lock_session, transaction
from dbrx_api.workflow.db.locks import PackLock
from dbrx_api.workflow.db.operations import Claim, RunFigures
from dbrx_api.workflow.db.repositories import share_packs, version_status
from dbrx_api.workflow.db.repositories.version_status import Status
from dbrx_api.workflow.queue.base import Queue, QueueError, Received, StaleReceipt
from dbrx_api.workflow.queue.messages import (
    MalformedMessage,
    PoisonReason,
    WorkMessage,
    poison_body,
)
from dbrx_api.workflow.queue.run import Handler, Outcome, RunCancelled, RunControl

logger = logging.getLogger(__name__)

Disposition = Literal[
    "completed",  # outcome COMPLETED committed, message deleted
    "failed",  # outcome FAILED committed, message deleted
    "held",  # outcome AWAITING_APPROVAL committed (version PENDING_APPROVAL), message deleted
    "retry",  # version back to QUEUED, message kept invisible for the backoff
    "interrupted",  # run stopped early, version QUEUED, fresh message sent
    "poisoned",  # message moved to the poison queue (version FAILED when it was not terminal)
    "malformed",  # undecodable message moved to the poison queue
    "deferred",  # pack lock busy: delayed copy sent, original deleted
    "dropped",  # stale or duplicate message deleted
    "superseded",  # a newer version exists: version SUPERSEDED, message deleted
    "lost",  # the worker lost the version while running (another owner); message left to its owner
    "error",  # database or queue failure; the message reappears after its visibility timeout
]


def retry_backoff_s(attempt: int, *, base_s: float, cap_s: float, rng: random.Random) -> float:
    """`min(cap, base x 2^(attempt - 1)) x uniform(0.8, 1.2)` (docs/WORKFLOW.md §8.4)."""
    return float(min(cap_s, base_s * 2.0 ** max(0, attempt - 1)) * rng.uniform(0.8, 1.2))


@dataclass
class _MessageHolder:
    """The message of a running run; the heartbeat replaces `received` with each new pop receipt."""

    received: Received
    gone: bool = False


class _Heartbeat(threading.Thread):
    """Every `H` seconds: extend the message, renew the DB lease, ping the lock connection (docs/WORKFLOW.md §8.3)."""

    def __init__(
        self, consumer: Consumer, claim: Claim, control: RunControl, holder: _MessageHolder
    ) -> None:
        super().__init__(name=f"heartbeat-{claim.run_id}", daemon=True)
        self._consumer = consumer
        self._claim = claim
        self._control = control
        self._holder = holder
        self._stopped = threading.Event()

    def stop(self) -> None:
        """Stop and wait for the current beat to finish."""
        self._stopped.set()
        self.join()

    def run(self) -> None:
        interval = self._consumer.heartbeat_s
        while not self._stopped.wait(interval):
            self.beat()

    def beat(self) -> None:
        """One heartbeat; any failure cancels the run."""
        consumer, claim, control = self._consumer, self._claim, self._control
        if not self._holder.gone:
            try:
                self._holder.received = consumer.queue.extend(
                    self._holder.received, consumer.visibility_s
                )
            except QueueError:
                logger.warning(
                    "heartbeat could not extend the message", extra={"run_id": str(claim.run_id)}
                )
                self._holder.gone = True
                control.cancel("message_lost")
        try:
            with transaction(consumer.pool) as conn:
                renewed = version_status.renew_lease(
                    conn,
                    claim.share_pack_id,
                    claim.version,
                    worker_id=claim.worker_id,
                    run_id=claim.run_id,
                    lease_s=consumer.visibility_s,
                )
        except AppError:
            logger.warning(
                "heartbeat could not renew the lease", extra={"run_id": str(claim.run_id)}
            )
            control.cancel("database_unavailable")
        else:
            if not renewed:
                control.cancel("lease_lost")
        if control.lock is not None and not control.lock.ping():
            control.cancel("lock_lost")


class Consumer:
    """Queue consumer threads running `handler` for each claimed version."""

    def __init__(
        self,
        *,
        pool: Pool,
        queue: Queue,
        handler: Handler,
        settings: WorkflowSettings,
        conninfo: str | None = None,
        host: str | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.pool = pool
        self.queue = queue
        self.handler = handler
        self.settings = settings
        self.conninfo = conninfo if conninfo is not None else str(pool.conninfo)
        self.host = host or socket.gethostname()
        self.visibility_s = float(settings.queue.visibility_timeout_s)
        self.heartbeat_s = float(settings.queue.heartbeat_s)
        self.max_dequeue = settings.queue.max_dequeue
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self._stopping = threading.Event()
        # Set by a send to an in-process queue (and by stop): an idle consumer polls at once instead of
        # sleeping out its back-off, so a QUEUED version starts within a poll in local mode.
        self._wake = threading.Event()
        on_send = getattr(queue, "on_send", None)
        if callable(on_send):
            on_send(self._wake.set)
        self._threads: list[threading.Thread] = []
        self._active: dict[uuid.UUID, RunControl] = {}
        self._active_guard = threading.Lock()

    # -------------------------------------------------------------------------------- lifecycle

    def worker_id(self, index: int) -> str:
        """`<host>:<pid>:<thread>`."""
        return f"{self.host}:{os.getpid()}:{index}"

    def start(self, concurrency: int) -> None:
        """Start `concurrency` consumer threads."""
        self._stopping.clear()
        for index in range(1, concurrency + 1):
            thread = threading.Thread(
                target=self._loop, args=(index,), name=f"consumer-{index}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        logger.info(
            "queue consumers started", extra={"concurrency": concurrency, "queue": self.queue.name}
        )

    def stop(self, grace_s: float | None = None) -> bool:
        """Graceful shutdown (docs/WORKFLOW.md §8.8): stop receiving, cancel active runs, wait up to the grace period.

        Returns True when every consumer thread finished; a thread still inside a handler call after the grace
        is abandoned with the process (recovery covers it).
        """
        grace = self.settings.worker.shutdown_grace_s if grace_s is None else grace_s
        self._stopping.set()
        self._wake.set()
        with self._active_guard:
            for control in self._active.values():
                control.cancel("shutdown")
        deadline = time.monotonic() + grace
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        finished = not any(t.is_alive() for t in self._threads)
        if not finished:
            logger.warning("consumer threads still busy after the shutdown grace; abandoning them")
        self._threads = [t for t in self._threads if t.is_alive()]
        return finished

    @property
    def active_runs(self) -> int:
        """Number of runs in progress in this process."""
        with self._active_guard:
            return len(self._active)

    def _loop(self, index: int) -> None:
        worker_id = self.worker_id(index)
        idle_rounds = 0
        while not self._stopping.is_set():
            try:
                dispositions = self.poll_once(worker_id)
            except Exception:
                logger.exception("consumer iteration failed", extra={"worker_id": worker_id})
                dispositions = []
            if any(d != "error" for d in dispositions):
                idle_rounds = 0
                continue
            # Empty queue, or only failures (database or queue outage): back off before polling again.
            delay = min(
                self.settings.queue.poll_max_s, self.settings.queue.poll_min_s * 2**idle_rounds
            ) * self._rng.uniform(0.8, 1.2)
            idle_rounds = min(idle_rounds + 1, 16)
            if self._wake.wait(delay):
                self._wake.clear()
                idle_rounds = 0

    # -------------------------------------------------------------------------------- one message

    def poll_once(self, worker_id: str) -> list[Disposition]:
        """Receive one message and process it; an empty list when the queue had nothing visible."""
        try:
            messages = self.queue.receive(1, self.visibility_s)
        except QueueError:
            logger.warning("queue receive failed", exc_info=True)
            return []
        return [self.process(received, worker_id) for received in messages]

    def process(self, received: Received, worker_id: str) -> Disposition:
        """Handle one received message (docs/WORKFLOW.md §8.2 steps 2-12); never raises for database or queue outages."""
        try:
            return self._process(received, worker_id)
        except (AppError, QueueError):
            logger.warning(
                "message processing stopped by a database or queue failure; it will be redelivered",
                extra={"message_id": received.id},
                exc_info=True,
            )
            return "error"

    def _process(self, received: Received, worker_id: str) -> Disposition:
        try:
            message = WorkMessage.from_json(received.body)
        except MalformedMessage as exc:
            logger.warning(
                "malformed queue message", extra={"message_id": received.id, "problem": str(exc)}
            )
            return self._poison(received, None, "malformed")
        log = {
            "share_pack_id": str(message.share_pack_id),
            "version": message.version,
            "message_id": received.id,
        }
        if received.dequeue_count > self.max_dequeue:
            return self._poison_exceeded(received, message, worker_id)
        try:
            with transaction(self.pool) as conn:
                status = version_status.get(conn, message.share_pack_id, message.version)
                newer = status is not None and share_packs.has_newer_version(
                    conn, message.share_pack_id, message.version
                )
        except AppError:
            logger.warning("could not load the version status", extra=log)
            return "error"
        if status is None or status.status not in (Status.QUEUED, Status.IN_PROGRESS):
            self._delete_quietly(received)
            return "dropped"
        if status.status == Status.QUEUED and newer:
            with transaction(self.pool) as conn:
                operations.supersede(
                    conn,
                    message.share_pack_id,
                    message.version,
                    at=scd2.clock(conn),
                    actor=f"worker:{worker_id}",
                    request_id=message.request_id,
                )
            self._delete_quietly(received)
            return "superseded"
        try:
            lock = PackLock(
                connect_lock_session(self.conninfo, heartbeat_s=self.heartbeat_s),
                message.share_pack_id,
            )
        except AppError:
            logger.warning("could not open the pack lock connection", extra=log)
            return "error"
        try:
            if not lock.acquire():
                return self._defer(received, message, is_queued=status.status == Status.QUEUED)
            return self._claim_and_run(received, message, lock, worker_id)
        finally:
            lock.release()

    def _claim_and_run(
        self, received: Received, message: WorkMessage, lock: PackLock, worker_id: str
    ) -> Disposition:
        try:
            with transaction(self.pool) as conn:
                attempt = operations.claim_version(
                    conn,
                    message.share_pack_id,
                    message.version,
                    worker_id=worker_id,
                    run_id=uuid.uuid4(),
                    lease_s=self.visibility_s,
                    queue_message_id=received.id,
                    dequeue_count=received.dequeue_count,
                    request_id=message.request_id,
                )
        except AppError:
            logger.warning("claim failed: database unavailable", extra={"message_id": received.id})
            return "error"
        if attempt.claim is None:
            self._delete_quietly(received)
            return "superseded" if attempt.reason == "superseded" else "dropped"
        claim = attempt.claim
        control = RunControl(claim, lock)
        holder = _MessageHolder(received)
        with self._active_guard:
            self._active[claim.run_id] = control
        if self._stopping.is_set():
            control.cancel("shutdown")
        heartbeat = _Heartbeat(self, claim, control, holder)
        heartbeat.start()
        try:
            outcome = self._run_handler(claim, control)
        finally:
            heartbeat.stop()
            with self._active_guard:
                self._active.pop(claim.run_id, None)
        return self._commit(claim, control, holder, message, outcome)

    def _run_handler(self, claim: Claim, control: RunControl) -> Outcome:
        log = {
            "run_id": str(claim.run_id),
            "share_pack_id": str(claim.share_pack_id),
            "version": claim.version,
        }
        logger.info("run started", extra={**log, "attempt": claim.attempt})
        try:
            return self.handler(claim.share_pack_id, claim.version, control)
        except RunCancelled:
            return Outcome.interrupted()
        except psycopg.OperationalError as exc:
            return Outcome.retry(
                "database_unavailable", f"database connection failed: {type(exc).__name__}"
            )
        except AppError as exc:
            if is_retriable(exc):  # 502/503, database_unavailable included
                return Outcome.retry(exc.code, exc.detail)
            return Outcome.failed(exc.code, exc.detail)
        except Exception:
            logger.exception("run failed with an unexpected error", extra=log)
            return Outcome.failed(
                "internal_error", "unexpected error while provisioning; see the worker logs"
            )

    # -------------------------------------------------------------------------------- outcomes (docs/WORKFLOW.md §8.4)

    def _commit(
        self,
        claim: Claim,
        control: RunControl,
        holder: _MessageHolder,
        message: WorkMessage,
        outcome: Outcome,
    ) -> Disposition:
        figures = RunFigures(outcome.read_calls, outcome.mutating_calls, outcome.summary)
        result = outcome.result
        if result in ("RETRY", "INTERRUPTED") and control.is_set():
            result = "INTERRUPTED"
        log = {
            "run_id": str(claim.run_id),
            "outcome": result,
            "share_pack_id": str(claim.share_pack_id),
        }
        try:
            if result == "INTERRUPTED":
                return self._commit_interrupted(claim, control, holder, message, figures)
            if result == "COMPLETED":
                with transaction(self.pool) as conn:
                    owned = operations.complete_run(
                        conn,
                        claim,
                        figures=figures,
                        status_detail=outcome.status_detail or _summary_text(outcome),
                    )
                return self._finish(holder, "completed" if owned else "lost", log)
            if result == "FAILED":
                with transaction(self.pool) as conn:
                    owned = operations.fail_run(conn, claim, error=outcome.error(), figures=figures)
                return self._finish(holder, "failed" if owned else "lost", log)
            if result == "AWAITING_APPROVAL":
                with transaction(self.pool) as conn:
                    owned = operations.hold_for_approval(
                        conn,
                        claim,
                        reason=outcome.error_code or "approval_required",
                        plan=outcome.approval_plan or {},
                        figures=figures,
                    )
                return self._finish(holder, "held" if owned else "lost", log)
            return self._commit_retry(claim, holder, message, outcome, figures)
        except AppError:
            # The outcome did not commit: leave the message; it reappears and the next claim takes over.
            logger.warning(
                "could not commit the run outcome; the message will be redelivered", extra=log
            )
            return "error"

    def _finish(
        self, holder: _MessageHolder, disposition: Disposition, log: dict[str, Any]
    ) -> Disposition:
        logger.info("run finished", extra={**log, "disposition": disposition})
        if disposition != "lost":
            self._delete_quietly(holder.received)
        return disposition

    def _commit_retry(
        self,
        claim: Claim,
        holder: _MessageHolder,
        message: WorkMessage,
        outcome: Outcome,
        figures: RunFigures,
    ) -> Disposition:
        if holder.received.dequeue_count >= self.max_dequeue:
            error = {
                "code": "retries_exhausted",
                "message": f"{holder.received.dequeue_count} deliveries failed; last error: "
                f"{outcome.error_code}: {outcome.error_message}",
                "step": outcome.error_step,
            }
            with transaction(self.pool) as conn:
                owned = operations.fail_run(
                    conn, claim, error=error, figures=figures, reason="retries_exhausted"
                )
            if not owned:
                return "lost"
            if not self._send_poison(holder.received, "retries_exhausted"):
                return "error"  # redelivered past the limit, it is poisoned at receive
            self._delete_quietly(holder.received)
            return "poisoned"
        backoff = retry_backoff_s(
            claim.attempt,
            base_s=self.settings.worker.retry_base_s,
            cap_s=self.settings.worker.retry_cap_s,
            rng=self._rng,
        )
        with transaction(self.pool) as conn:
            owned = operations.retry_run(
                conn, claim, backoff_s=backoff, error=outcome.error(), figures=figures
            )
        if not owned:
            return "lost"
        try:
            self.queue.extend(holder.received, backoff)
        except QueueError:
            # The message is gone: send a fresh one so that the retry still happens.
            self._send_quietly(message.next_attempt(), delay_s=backoff)
        logger.info(
            "run will be retried",
            extra={
                "run_id": str(claim.run_id),
                "backoff_s": round(backoff, 1),
                "error_code": outcome.error_code,
            },
        )
        return "retry"

    def _commit_interrupted(
        self,
        claim: Claim,
        control: RunControl,
        holder: _MessageHolder,
        message: WorkMessage,
        figures: RunFigures,
    ) -> Disposition:
        reason = control.reason or "interrupted"
        with transaction(self.pool) as conn:
            requeued = operations.interrupt_run(conn, claim, reason=reason, figures=figures)
        if requeued:
            # A fresh message instead of releasing the original keeps the dequeue budget intact (docs/WORKFLOW.md §8.8).
            self._send_quietly(message, delay_s=0)
        self._delete_quietly(holder.received)
        logger.info("run interrupted", extra={"run_id": str(claim.run_id), "reason": reason})
        return "interrupted"

    # -------------------------------------------------------------------------------- poison (docs/WORKFLOW.md §8.5) and deferral

    def _poison_exceeded(
        self, received: Received, message: WorkMessage, worker_id: str
    ) -> Disposition:
        with transaction(self.pool) as conn:
            status = version_status.get(conn, message.share_pack_id, message.version)
            last_error = operations.last_error_text(conn, message.share_pack_id, message.version)
        error = {
            "code": "poison_message",
            "message": f"the queue message was delivered {received.dequeue_count} times without completing"
            + (f"; last error: {last_error}" if last_error else ""),
            "step": None,
        }
        actor = f"worker:{worker_id}"
        if status is not None and status.status == Status.IN_PROGRESS:
            lock = PackLock(
                connect_lock_session(self.conninfo, heartbeat_s=self.heartbeat_s),
                message.share_pack_id,
            )
            try:
                if not lock.acquire():
                    # A live worker runs this version: that run owns it; only this copy goes away.
                    self._delete_quietly(received)
                    return "dropped"
                self._fail_version(message, error, actor, Status.QUEUED, Status.IN_PROGRESS)
            finally:
                lock.release()
        elif status is not None and status.status == Status.QUEUED:
            self._fail_version(message, error, actor, Status.QUEUED)
        return self._poison(received, message, "max_dequeue_exceeded")

    def _fail_version(
        self, message: WorkMessage, error: dict[str, Any], actor: str, *sources: Status
    ) -> None:
        with transaction(self.pool) as conn:
            operations.fail_version(
                conn,
                message.share_pack_id,
                message.version,
                error=error,
                actor=actor,
                from_statuses=sources,
                request_id=message.request_id,
            )

    def _poison(
        self, received: Received, message: WorkMessage | None, reason: PoisonReason
    ) -> Disposition:
        if not self._send_poison(received, reason):
            return "error"
        self._delete_quietly(received)
        logger.warning(
            "message moved to the poison queue",
            extra={
                "message_id": received.id,
                "reason": reason,
                "dequeue_count": received.dequeue_count,
                "share_pack_id": None if message is None else str(message.share_pack_id),
            },
        )
        return "malformed" if reason == "malformed" else "poisoned"

    def _send_poison(self, received: Received, reason: PoisonReason) -> bool:
        body = poison_body(
            reason=reason,
            dequeue_count=received.dequeue_count,
            message_id=received.id,
            original=received.body,
        )
        try:
            self.queue.send_poison(body)
        except QueueError:
            logger.warning("could not send to the poison queue", extra={"message_id": received.id})
            return False
        return True

    def _defer(self, received: Received, message: WorkMessage, *, is_queued: bool) -> Disposition:
        """Another worker holds the pack lock: delayed copy, then delete (no dequeue budget used, docs/WORKFLOW.md §8.6)."""
        delay = self.settings.worker.defer_s * self._rng.uniform(0.8, 1.2)
        try:
            self.queue.send(message.to_json(), delay_s=delay)
        except QueueError:
            logger.warning(
                "could not send the deferred copy; the message will reappear", exc_info=True
            )
            return "error"
        if is_queued:
            try:
                with transaction(self.pool) as conn:
                    version_status.set_next_visible(
                        conn,
                        message.share_pack_id,
                        message.version,
                        at=scd2.clock(conn) + timedelta(seconds=delay),
                    )
            except AppError:
                logger.warning("could not record the deferral", extra={"message_id": received.id})
        self._delete_quietly(received)
        return "deferred"

    # -------------------------------------------------------------------------------- queue helpers

    def _delete_quietly(self, received: Received) -> None:
        """Delete a message; a stale receipt means it is gone or owned by another consumer (harmless)."""
        try:
            self.queue.delete(received)
        except StaleReceipt:
            logger.info("message already gone or re-received", extra={"message_id": received.id})
        except QueueError:
            logger.warning(
                "could not delete the message; a duplicate will be dropped later", exc_info=True
            )

    def _send_quietly(self, message: WorkMessage, *, delay_s: float) -> None:
        try:
            self.queue.send(message.to_json(), delay_s=delay_s)
        except QueueError:
            logger.warning(
                "could not send a replacement message; the sweeper will",
                extra={"share_pack_id": str(message.share_pack_id)},
            )


def _summary_text(outcome: Outcome) -> str | None:
    summary = outcome.summary or {}
    parts = [
        f"{key} {summary[key]}"
        for key in ("created", "updated", "deleted", "unchanged")
        if key in summary
    ]
    return ", ".join(parts) or None
