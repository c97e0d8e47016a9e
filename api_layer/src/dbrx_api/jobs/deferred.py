"""Deferred full refresh: wait until a stopped pipeline is idle, then start the refresh (docs/API.md §7.5).

A request never sleeps: `POST /pipelines/{name}/full-refresh?stop_if_running=true` stops the active update and hands
the start to a `DeferredStarter`, a small bounded thread pool owned by the API process. Each task polls
`w.pipelines.get` every `poll_s` seconds for at most `timeout_s`, then calls `start_update(full_refresh=True)`.
Nothing is durable: a process that stops first leaves the pipeline stopped, and the caller repeats the request.

Wiring: create one `DeferredStarter` per application (e.g. in the lifespan, `app.state.deferred_starter`) and call
`shutdown()` when the application stops; waiting tasks are abandoned promptly because they wait on an event.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum

from databricks.sdk import WorkspaceClient
from databricks.sdk.service.pipelines import GetPipelineResponse, StartUpdateCause

from dbrx_api.errors import AppError, ConflictError, is_retriable, upstream
from dbrx_api.schemas.common import enum_text
from dbrx_api.schemas.paths import path_segment

logger = logging.getLogger(__name__)

# Pipeline states in which an update is being set up, run or torn down (docs/API.md §7.5).
BUSY_PIPELINE_STATES = frozenset(
    {"STARTING", "RUNNING", "STOPPING", "DEPLOYING", "RECOVERING", "RESETTING"}
)

TERMINAL_UPDATE_STATES = frozenset({"COMPLETED", "FAILED", "CANCELED"})

DEFAULT_MAX_WORKERS = 4
DEFAULT_MAX_PENDING = 64


def active_update(detail: GetPipelineResponse) -> tuple[bool, str | None]:
    """Whether the pipeline is busy, and the id of its active (non-terminal) latest update if any."""
    latest = detail.latest_updates[0] if detail.latest_updates else None
    latest_state = enum_text(latest.state) if latest else None
    active_id = latest.update_id if latest and latest_state not in TERMINAL_UPDATE_STATES else None
    busy = enum_text(detail.state) in BUSY_PIPELINE_STATES or active_id is not None
    return busy, active_id


class DeferredOutcome(StrEnum):
    STARTED = "started"
    TIMED_OUT = "timed_out"
    FAILED = "failed"
    ABANDONED = "abandoned"


@dataclass
class DeferredStart:
    """One pending deferred full refresh; `future` resolves to its outcome."""

    pipeline_id: str
    name: str
    future: Future[DeferredOutcome]
    cancelled: threading.Event = field(default_factory=threading.Event)
    update_id: str | None = None

    def cancel(self) -> None:
        """Give up before the start (e.g. the stop call failed)."""
        self.cancelled.set()
        self.future.cancel()


class DeferredStarter:
    """Bounded background executor of deferred full refreshes (one pending start per pipeline)."""

    def __init__(
        self, *, max_workers: int = DEFAULT_MAX_WORKERS, max_pending: int = DEFAULT_MAX_PENDING
    ) -> None:
        self._executor = ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix="deferred-refresh"
        )
        self._max_pending = max_pending
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._pending: dict[str, DeferredStart] = {}

    def pending(self) -> list[str]:
        """Ids of the pipelines with a deferred start not yet finished."""
        with self._lock:
            return sorted(self._pending)

    def submit(
        self,
        ws: WorkspaceClient,
        pipeline_id: str,
        *,
        name: str,
        poll_s: float,
        timeout_s: float,
    ) -> tuple[DeferredStart, bool]:
        """Schedule the start; returns it and whether it is new.

        An already pending start of the same pipeline is returned (with `False`) instead of scheduling a second one.

        Raises:
            ConflictError: `pipeline_busy` when the process already holds `max_pending` deferred starts or is
                shutting down (nothing has been written yet, so the caller can retry later).
        """
        with self._lock:
            existing = self._pending.get(pipeline_id)
            if existing is not None and not existing.cancelled.is_set():
                return existing, False
            if self._stopping.is_set() or len(self._pending) >= self._max_pending:
                raise ConflictError(
                    "Too many deferred full refreshes are pending in this API process; retry later.",
                    code="pipeline_busy",
                    active_update_id=None,
                )
            future: Future[DeferredOutcome] = Future()
            job = DeferredStart(pipeline_id, name, future)
            self._pending[pipeline_id] = job
        # Log records of the background task keep the request's context (request id, principal).
        context = contextvars.copy_context()
        inner = self._executor.submit(
            context.run, self._run, ws, job, float(poll_s), float(timeout_s)
        )
        inner.add_done_callback(lambda done: _relay(done, future))
        return job, True

    def shutdown(self, *, wait: bool = True) -> None:
        """Abandon waiting starts and stop the threads (called when the application stops)."""
        self._stopping.set()
        self._executor.shutdown(wait=wait, cancel_futures=True)
        with self._lock:
            for job in self._pending.values():
                job.future.cancel()
            self._pending.clear()

    def _finish(self, job: DeferredStart) -> None:
        with self._lock:
            if self._pending.get(job.pipeline_id) is job:
                del self._pending[job.pipeline_id]

    def _run(
        self, ws: WorkspaceClient, job: DeferredStart, poll_s: float, timeout_s: float
    ) -> DeferredOutcome:
        started = time.monotonic()
        where = {"pipeline_id": job.pipeline_id, "pipeline_name": job.name}
        try:
            while True:
                # Wait first: the stop was just requested and needs a moment to take effect.
                if self._stopping.wait(poll_s) or job.cancelled.is_set():
                    logger.warning("deferred full refresh abandoned before it started", extra=where)
                    return DeferredOutcome.ABANDONED
                try:
                    with upstream("pipeline", job.pipeline_id):
                        detail = ws.pipelines.get(path_segment(job.pipeline_id))
                except AppError as exc:
                    if not is_retriable(exc):
                        raise
                    detail = None  # a transient failure: poll again until the deadline
                if detail is not None and not active_update(detail)[0]:
                    break
                if time.monotonic() - started >= timeout_s:
                    logger.error(
                        "deferred full refresh timed out: the pipeline did not become idle",
                        extra={**where, "timeout_s": timeout_s},
                    )
                    return DeferredOutcome.TIMED_OUT
            with upstream("pipeline", job.pipeline_id):
                response = ws.pipelines.start_update(
                    path_segment(job.pipeline_id),
                    full_refresh=True,
                    cause=StartUpdateCause.API_CALL,
                )
            job.update_id = response.update_id
            logger.info(
                "deferred full refresh started",
                extra={**where, "update_id": response.update_id, "action": "pipeline.full_refresh"},
            )
            return DeferredOutcome.STARTED
        except AppError as exc:
            logger.error(
                "deferred full refresh failed",
                extra={**where, "problem_code": exc.code, "detail": exc.detail},
            )
            return DeferredOutcome.FAILED
        except Exception:
            logger.exception("deferred full refresh failed unexpectedly", extra=where)
            return DeferredOutcome.FAILED
        finally:
            self._finish(job)


def _relay(done: Future[DeferredOutcome], target: Future[DeferredOutcome]) -> None:
    if target.done():
        return
    if done.cancelled():
        target.cancel()
        return
    error = done.exception()
    if error is not None:
        target.set_exception(error)
    else:
        target.set_result(done.result())
