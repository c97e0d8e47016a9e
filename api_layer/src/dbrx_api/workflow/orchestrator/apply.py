"""Applying an action graph (docs/WORKFLOW.md §9.3-§9.6, §9.9): executors per resource and the bounded-concurrency scheduler.

Every action is recorded in short transactions, never across a Databricks call: (1) the `RUNNING` step row (for
a create it is the create intent), (2) the SDK calls, (3) one transaction with the SCD2 row of the resource (a
no-op when unchanged), the closed step and the audit row. Only (2) holds one of the run's `concurrency` call
slots: an action records its intent and its result beside the calls of others, so up to twice as many actions are
under way as are calling. Actions whose diff is empty get a `NOOP` step and their SCD2 write in one transaction.
A non-retriable failure fails the step and skips its dependants while independent actions continue; a retriable
failure or a cancellation stops starting new actions, and an action that recorded its intent but had not yet got
a slot is closed `SKIPPED` without a call.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg

from dbrx_api.errors import AppError, ConflictError, is_retriable
from dbrx_api.workflow.db.connection import transaction
from dbrx_api.workflow.db.repositories import audit_trail, provisioning_steps, version_status
from dbrx_api.workflow.db.repositories.provisioning_steps import StepOutcome
from dbrx_api.workflow.db.repositories.records import run_writes
from dbrx_api.workflow.orchestrator.actions import AnyAction
from dbrx_api.workflow.orchestrator.diff import ActionGraph
from dbrx_api.workflow.orchestrator.steps import RunContext, StepFailure, StepResult
from dbrx_api.workflow.ownership import guard_executor, managed_elsewhere_keys, refusal
from dbrx_api.workflow.queue.run import RunCancelled
from dbrx_api.workflow.resources import kind_for
from dbrx_api.workflow.worker_audit import VersionActor, step_entry, version_actor

logger = logging.getLogger(__name__)

SELECT = "SELECT"
PROGRESS_INTERVAL_S = 1.0


class NotAttempted(Exception):
    """An action whose intent was recorded, not called: the run stopped while it waited for a call slot."""


@dataclass(frozen=True)
class Failure:
    """How a step failed."""

    code: str
    message: str
    retriable: bool


def classify(exc: BaseException) -> Failure:
    """Failure classes of docs/WORKFLOW.md §9.9: retriable (throttling, outage, transport, 5xx, database, edit conflict) or not."""
    if isinstance(exc, StepFailure):
        return Failure(exc.code, exc.message, exc.retriable)
    if isinstance(exc, psycopg.OperationalError):
        return Failure("database_unavailable", "the workflow database is unreachable", True)
    if isinstance(exc, AppError):
        if exc.code == "upstream_auth_failed":
            return Failure(exc.code, exc.detail, False)
        if isinstance(exc, ConflictError) and exc.code == "conflict":
            return Failure(
                exc.code, exc.detail, True
            )  # pipeline edited concurrently: read again later
        return Failure(exc.code, exc.detail, is_retriable(exc))
    logger.error("unexpected error in a provisioning step", exc_info=exc)
    return Failure(
        "internal_error", "unexpected error while provisioning; see the worker logs", False
    )


class CallSlots:
    """`limit` slots for actions' Databricks calls, granted in the order the scheduler handed out tickets.

    The scheduler takes a ticket for each action it starts, in canonical order; the action writes its intent, then
    waits until its ticket is the first in line and a slot is free. Calls therefore start in canonical order
    whatever order the intent transactions commit in (with one slot, exactly one after the other).
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._busy = 0
        self._line: deque[int] = deque()
        self._issued = itertools.count()
        self._changed = threading.Condition()

    def ticket(self) -> int:
        """A place at the end of the line."""
        with self._changed:
            ticket = next(self._issued)
            self._line.append(ticket)
            return ticket

    @contextmanager
    def held(self, ticket: int) -> Iterator[None]:
        """Wait for the ticket's turn and a free slot; hold the slot for the block."""
        with self._changed:
            self._changed.wait_for(
                lambda: self._busy < self._limit and self._line and self._line[0] == ticket
            )
            self._line.popleft()
            self._busy += 1
            self._changed.notify_all()  # the next in line may fit too
        try:
            yield
        finally:
            with self._changed:
                self._busy -= 1
                self._changed.notify_all()

    def leave(self, ticket: int) -> None:
        """Give up a place never used (the action ended before its call); no-op once the slot was taken."""
        with self._changed:
            if ticket in self._line:
                self._line.remove(ticket)
                self._changed.notify_all()


def _stops_the_run(exc: BaseException) -> bool:
    """Whether a step failure is retriable (it stops the run); unexpected errors are not (and are logged once,
    when the step is recorded)."""
    known = isinstance(exc, StepFailure | AppError | psycopg.OperationalError)
    return known and classify(exc).retriable


# ------------------------------------------------------------------------------------------ scheduler


@dataclass
class ApplyResult:
    """Outcome of applying a graph."""

    succeeded: list[str] = field(default_factory=list)
    noop: list[str] = field(default_factory=list)
    failed: list[tuple[str, Failure]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    stopped: Failure | None = None  # retriable failure that stopped the run
    cancelled: str | None = None
    counts: dict[str, int] = field(default_factory=dict)  # created / updated / deleted / rotated


Executor = Callable[[RunContext, AnyAction], StepResult]


def reconcile_executor(action: AnyAction) -> Executor:
    """The executor of a NEW/UPDATE action: its kind's, chosen by the step type."""
    kind = kind_for(action.step_type)
    if kind is None:
        raise ValueError(f"no executor for {action.key}")
    return kind.execute


class Applier:
    """Runs a graph: ready actions in canonical order, `concurrency` at a time, each recorded (docs/WORKFLOW.md §9.9)."""

    def __init__(
        self,
        ctx: RunContext,
        graph: ActionGraph,
        *,
        concurrency: int,
        cancelled: Callable[[], str | None],
        executor_for: Callable[[AnyAction], Executor],
    ) -> None:
        self.ctx = ctx
        self.graph = graph
        # An action on a resource another pack manages fails before any call (docs/WORKFLOW.md §9.10).
        self.executor_for = guard_executor(executor_for)
        # Actions with a call re-read their record in the transaction of their intent, and settled no-ops all
        # together (`run_one`, `run_noops`): they run the executors unguarded.
        self._unguarded_for = executor_for
        self.concurrency = max(1, concurrency)
        # `concurrency` bounds the actions calling Databricks; the bookkeeping before and after a call does not
        # hold a slot, so twice as many actions may be under way (docs/WORKFLOW.md §9.3).
        self._call_slots = CallSlots(self.concurrency)
        self.under_way = 2 * self.concurrency
        self._halted = threading.Event()
        self.cancelled = cancelled
        self.result = ApplyResult()
        ctx.total_steps = len(graph.actions)
        self._progress_guard = threading.Lock()
        self._actor_guard = threading.Lock()
        self._actor: VersionActor | None = None
        self._progress_at = -PROGRESS_INTERVAL_S

    # ---------------------------------------------------------------- recording

    def _progress(self, conn: Any, action: AnyAction) -> None:
        """`status_detail` = "step k of n: <key>", at most every `PROGRESS_INTERVAL_S` (one status row: parallel
        actions updating it on every step would queue on its row lock)."""
        now = time.monotonic()
        with self._progress_guard:
            if now - self._progress_at < PROGRESS_INTERVAL_S:
                return
            self._progress_at = now
        version_status.set_progress(
            conn,
            self.ctx.share_pack_id,
            self.ctx.version,
            status_detail=f"step {action.seq} of {self.ctx.total_steps}: {action.key}",
            run_id=self.ctx.run_id,
        )

    def _audit(
        self, conn: Any, action: AnyAction, result: StepResult | None, failure: Failure | None
    ) -> None:
        """The step's audit row: keyed by the bare name like API rows, the version's uploader as actor (docs/WORKFLOW.md §5.3)."""
        ctx = self.ctx
        with self._actor_guard:
            if self._actor is None:
                self._actor = version_actor(conn, ctx.share_pack_id, ctx.version)
            actor = self._actor
        audit_trail.record(
            conn,
            step_entry(
                actor=actor,
                performed_by=ctx.actor,
                action=(result.audit_action if result else None)
                or f"{action.resource_type}.{action.kind}",
                entity_type=action.resource_type,
                name=action.name,
                outcome="failed" if failure else "succeeded",
                workspace_url=ctx.workspace_url,
                share_pack_id=ctx.share_pack_id,
                version=ctx.version,
                run_id=ctx.run_id,
                request_id=ctx.request_id,
                values=(result.detail or None)
                if result
                else {"error_code": failure.code if failure else None},
            ),
        )

    def _step_fields(self, action: AnyAction) -> dict[str, Any]:
        return {
            "run_id": self.ctx.run_id,
            "seq": action.seq,
            "step_key": action.key,
            "resource_type": action.resource_type,
            "resource_name": action.name,
        }

    def _step_action(self, action: AnyAction) -> str:
        return "noop" if action.is_noop else action.kind

    def _record_noops(
        self, conn: psycopg.Connection[Any], results: list[tuple[AnyAction, StepResult]]
    ) -> None:
        """No-ops' SCD2 writes and their closed `NOOP` steps (sent together), in the caller's transaction."""
        run_writes(conn, [write for _, result in results for write in result.writes])
        provisioning_steps.record_closed_many(
            conn,
            [
                provisioning_steps.ClosedStep(
                    **self._step_fields(action),
                    action="noop",
                    outcome=result.outcome,
                    databricks_ids=result.ids,
                    detail=result.detail or None,
                )
                for action, result in results
            ],
        )

    def record_skipped(self, action: AnyAction, cause: str) -> None:
        with transaction(self.ctx.pool) as conn:
            provisioning_steps.record_closed(
                conn,
                **self._step_fields(action),
                action=self._step_action(action),
                outcome=StepOutcome.SKIPPED,
                error_code="dependency_failed",
                error_message=f"not attempted: {cause} failed",
            )

    # ---------------------------------------------------------------- one action (worker thread)

    def run_one(self, action: AnyAction, ticket: int | None = None) -> StepResult:
        """Run and record one action; `ticket` is its place in the line for a call slot (taken here if None)."""
        if action.is_noop:
            return self._run_noop(action)
        if ticket is None:
            ticket = self._call_slots.ticket()
        try:
            return self._run_with_calls(action, ticket)
        finally:
            self._call_slots.leave(ticket)

    def _run_noop(self, action: AnyAction) -> StepResult:
        ctx = self.ctx
        execute = self.executor_for(action)
        try:
            result = execute(ctx, action)
        except Exception as exc:
            failure = classify(exc)
            with transaction(ctx.pool) as conn:
                provisioning_steps.record_closed(
                    conn,
                    **self._step_fields(action),
                    action="noop",
                    outcome=StepOutcome.FAILED,
                    error_code=failure.code,
                    error_message=failure.message,
                )
            raise
        with transaction(ctx.pool, pipelined=True) as conn:
            self._record_noops(conn, [(action, result)])
        ctx.hook("after_record", action)
        return result

    def _run_with_calls(self, action: AnyAction, ticket: int) -> StepResult:
        ctx = self.ctx
        execute = self._unguarded_for(action)
        with transaction(ctx.pool) as conn:
            # For a create this row is the create intent (docs/WORKFLOW.md §9.9).
            step_id = provisioning_steps.start(
                conn, **self._step_fields(action), action=self._step_action(action)
            )
            self._progress(conn, action)
            # The ownership guard's re-read (docs/WORKFLOW.md §9.10) in the intent's transaction: one transaction
            # less in front of every call. A refusal fails the step before any call, as the guarded executor does.
            refused = refusal(conn, ctx, action)
        try:
            if refused is not None:
                raise refused
            with self._call_slots.held(ticket):
                if self._stopping():
                    raise NotAttempted(action.key)
                ctx.hook("before_call", action)
                try:
                    result = execute(ctx, action)
                except BaseException as exc:
                    # Before the slot is free: an action waiting for it must not start its call.
                    if isinstance(exc, RunCancelled) or _stops_the_run(exc):
                        self._halted.set()
                    raise
        except NotAttempted:
            with transaction(ctx.pool) as conn:
                provisioning_steps.close(
                    conn,
                    step_id,
                    outcome=StepOutcome.SKIPPED,
                    error_code="run_stopped",
                    error_message="not attempted: the run stopped before this step's call",
                )
            raise
        except RunCancelled:
            with transaction(ctx.pool) as conn:
                provisioning_steps.close(conn, step_id, outcome=StepOutcome.INTERRUPTED)
            raise
        except Exception as exc:
            failure = classify(exc)
            try:
                with transaction(ctx.pool) as conn:
                    provisioning_steps.close(
                        conn,
                        step_id,
                        outcome=StepOutcome.FAILED,
                        error_code=failure.code,
                        error_message=failure.message,
                    )
                    self._audit(conn, action, None, failure)
            except (AppError, psycopg.Error):
                logger.warning("could not record a failed step", extra={"step_key": action.key})
            raise
        ctx.hook("after_call", action)
        with transaction(ctx.pool, pipelined=True) as conn:
            run_writes(conn, result.writes)
            provisioning_steps.close(
                conn,
                step_id,
                outcome=result.outcome,
                databricks_ids=result.ids,
                detail={**result.detail, "calls": result.calls},
            )
            if result.calls:
                self._audit(conn, action, result, None)
        ctx.hook("after_record", action)
        return result

    def _stopping(self) -> bool:
        """Whether the run stops starting calls: a call failed retriably or was cancelled, or the coordinator
        collected such a failure or a cancellation."""
        return (
            self._halted.is_set()
            or self.result.stopped is not None
            or self.result.cancelled is not None
        )

    # ---------------------------------------------------------------- scheduling (coordinator thread)

    def settled_noops(self) -> list[AnyAction]:
        """No-op actions that depend only on no-op actions: nothing can change what they record."""
        settled: set[str] = set()
        chosen: list[AnyAction] = []
        for action in self.graph.actions:  # canonical order: dependencies come first
            if action.is_noop and action.deps <= settled:
                settled.add(action.key)
                chosen.append(action)
        return chosen

    def run_noops(self, actions: list[AnyAction]) -> list[AnyAction]:
        """Record settled no-ops together: one transaction for their SCD2 writes and `NOOP` steps.

        Returns the actions recorded; one whose executor failed, or whose resource another pack manages, is left
        to the normal path (which records the failure).
        """
        ctx = self.ctx
        if not actions:
            return []
        # The ownership guard's re-read of every record, one read per table rather than a transaction per no-op:
        # on a re-run every action is a no-op, recorded here before any other action can start.
        with transaction(ctx.pool) as conn:
            refused = managed_elsewhere_keys(conn, ctx, actions)
        results: list[tuple[AnyAction, StepResult]] = []
        for action in actions:
            if action.key in refused:
                logger.info("no-op step left to the scheduler", extra={"step_key": action.key})
                continue
            try:
                results.append((action, self._unguarded_for(action)(ctx, action)))
            except Exception:  # noqa: BLE001 - retried on the normal path, which classifies and records it
                logger.info("no-op step left to the scheduler", extra={"step_key": action.key})
        if not results:
            return []
        with transaction(ctx.pool, pipelined=True) as conn:
            self._record_noops(conn, results)
        for action, _ in results:
            ctx.hook("after_record", action)
        return [action for action, _ in results]

    def run(self) -> ApplyResult:
        actions = {action.key: action for action in self.graph.actions}
        pending = dict(actions)
        done: set[str] = set()
        blocked: set[str] = set()
        running: dict[Future[StepResult], AnyAction] = {}
        try:
            recorded = self.run_noops(self.settled_noops())
        except (AppError, psycopg.Error) as exc:
            self.result.stopped = classify(exc)
            return self.result
        for action in recorded:
            del pending[action.key]
            done.add(action.key)
            self.result.noop.append(action.key)
        with ThreadPoolExecutor(max_workers=self.under_way, thread_name_prefix="reconcile") as pool:
            while True:
                if self.result.stopped is None and self.result.cancelled is None:
                    reason = self.cancelled()
                    if reason is not None:
                        self.result.cancelled = reason
                if not self._stopping():
                    ready = sorted(
                        (a for a in pending.values() if a.deps <= done), key=lambda a: a.seq
                    )
                    for action in ready:
                        if len(running) >= self.under_way:
                            break
                        del pending[action.key]
                        # Tickets in canonical order: calls start in that order (`CallSlots`).
                        ticket = None if action.is_noop else self._call_slots.ticket()
                        running[pool.submit(self.run_one, action, ticket)] = action
                if not running:
                    break
                finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for future in sorted(finished, key=lambda f: running[f].seq):
                    action = running.pop(future)
                    self._collect(future, action, done, blocked, pending)
        return self.result

    def _collect(
        self,
        future: Future[StepResult],
        action: AnyAction,
        done: set[str],
        blocked: set[str],
        pending: dict[str, AnyAction],
    ) -> None:
        try:
            result = future.result()
        except NotAttempted:
            return  # the run is stopping; its step is closed `SKIPPED`
        except RunCancelled as exc:
            self.result.cancelled = exc.reason
            return
        except Exception as exc:  # noqa: BLE001 - every step failure is classified (docs/WORKFLOW.md §9.9 failure classes)
            failure = classify(exc)
            if failure.retriable:
                if self.result.stopped is None:
                    self.result.stopped = failure
                self.result.failed.append((action.key, failure))
                return
            self.result.failed.append((action.key, failure))
            for key in sorted(self.graph.dependants(action.key)):
                if key in pending and key not in blocked:
                    blocked.add(key)
                    skipped = pending.pop(key)
                    self.result.skipped.append(key)
                    try:
                        self.record_skipped(skipped, action.key)
                    except (AppError, psycopg.Error) as db_exc:
                        self.result.stopped = classify(db_exc)
            return
        done.add(action.key)
        if result.outcome == StepOutcome.NOOP:
            self.result.noop.append(action.key)
        else:
            self.result.succeeded.append(action.key)
            bucket = {"create": "created", "delete": "deleted", "rotate_token": "rotated"}.get(
                action.kind, "updated"
            )
            self.result.counts[bucket] = self.result.counts.get(bucket, 0) + 1
