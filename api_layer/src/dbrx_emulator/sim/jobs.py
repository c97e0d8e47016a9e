"""Job run timelines (docs/EMULATOR.md §9.3).

A run is `QUEUED` only while it waits for a concurrency slot; otherwise it is `PENDING` from its start for one step
(setup), `RUNNING` while its tasks run, `TERMINATING` for one step and then `TERMINATED`. Tasks start when the run
enters `RUNNING` or when their dependencies end; a `pipeline_task` starts a pipeline update with cause `JOB_TASK`
and ends when that update ends (COMPLETED → SUCCESS, FAILED/CANCELED → FAILED); other tasks take
`simulation.task_steps` steps and succeed.

`advance(run, t)` moves a run forward to time `t` using only what is known at `t`; `next_action_ms(run)` says when
it next needs attention. The jobs state calls both in time order across all runs, so runs and pipeline updates
interleave exactly as their times say, however far the clock jumps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dbrx_emulator.sim.pipelines import Update

Json = dict[str, Any]

# Starts a pipeline update for a task at a time: the update, or why the task fails at once.
StartPipeline = Callable[[str, int, bool], "Update | str"]

TASK_FAILURE_RESULTS = frozenset({"FAILED", "UPSTREAM_FAILED", "CANCELED", "UPSTREAM_CANCELED"})
_TERMINATION = {
    "SUCCESS": ("SUCCESS", "SUCCESS"),
    "FAILED": ("RUN_EXECUTION_ERROR", "CLIENT_ERROR"),
    "CANCELED": ("USER_CANCELED", "SUCCESS"),
    "UPSTREAM_FAILED": ("RUN_EXECUTION_ERROR", "CLIENT_ERROR"),
}
ACTIVE_STATES = frozenset({"QUEUED", "PENDING", "RUNNING", "TERMINATING"})


@dataclass
class TaskRun:
    """One task of a run."""

    task_key: str
    run_id: int
    settings: Json
    depends_on: tuple[str, ...] = ()
    run_if: str = "ALL_SUCCESS"
    pipeline_id: str | None = None
    full_refresh: bool = False
    start_ms: int | None = None
    end_ms: int | None = None
    result: str | None = None
    message: str = ""
    update: Update | None = None

    def life_at(self, now_ms: int) -> str:
        """Task life-cycle state at `now_ms`."""
        if self.start_ms is None or now_ms < self.start_ms:
            return "PENDING"
        if self.end_ms is None or now_ms < self.end_ms:
            return "RUNNING"
        return "TERMINATED"


@dataclass
class Run:
    """A job run and its timeline (epoch ms; None = not known yet)."""

    run_id: int
    job_id: int
    number_in_job: int
    run_name: str
    trigger: str
    creator: str
    start_time: int
    tasks: list[TaskRun] = field(default_factory=list)
    job_parameters: list[Json] = field(default_factory=list)
    pending_at: int | None = None
    running_at: int | None = None
    terminating_at: int | None = None
    terminated_at: int | None = None
    result_state: str | None = None
    state_message: str = ""
    skipped: bool = False
    queue_reason: str | None = None
    forced_result: str | None = None  # seeded runs: the outcome the seed asked for

    @property
    def sort_key(self) -> tuple[int, int]:
        """Listing order: newest start first, then newest run."""
        return (-self.start_time, -self.run_id)

    def life_at(self, now_ms: int) -> str:
        """`life_cycle_state` at `now_ms`."""
        if self.skipped:
            return "SKIPPED"
        if self.pending_at is None or now_ms < self.pending_at:
            return "QUEUED"
        if self.running_at is None or now_ms < self.running_at:
            return "PENDING"
        if self.terminating_at is None or now_ms < self.terminating_at:
            return "RUNNING"
        if self.terminated_at is None or now_ms < self.terminated_at:
            return "TERMINATING"
        return "TERMINATED"

    def is_active(self, now_ms: int) -> bool:
        """QUEUED, PENDING, RUNNING or TERMINATING at `now_ms`."""
        return self.life_at(now_ms) in ACTIVE_STATES

    def ended_by(self, now_ms: int) -> bool:
        """Terminated (or skipped) at `now_ms`."""
        return self.skipped or (self.terminated_at is not None and self.terminated_at <= now_ms)


def _run_if_allows(run_if: str, deps: list[TaskRun]) -> bool:
    if not deps:
        return True
    failed = sum(1 for d in deps if d.result in TASK_FAILURE_RESULTS)
    succeeded = sum(1 for d in deps if d.result == "SUCCESS")
    if run_if == "ALL_DONE":
        return True
    if run_if == "NONE_FAILED":
        return failed == 0
    if run_if == "AT_LEAST_ONE_SUCCESS":
        return succeeded > 0
    if run_if == "ALL_FAILED":
        return failed == len(deps)
    if run_if == "AT_LEAST_ONE_FAILED":
        return failed > 0
    return succeeded == len(deps)


def update_message(update: Update) -> str:
    """Why a pipeline task failed, from its update."""
    if update.outcome == "FAILED":
        detail = update.failure.message if update.failure is not None else "the update failed"
        return f"Pipeline update {update.update_id} failed: {detail}"
    return f"Pipeline update {update.update_id} was canceled."


def advance(
    run: Run, t: int, *, step_ms: int, task_steps: int, start_pipeline: StartPipeline
) -> None:
    """Apply everything that happens to `run` up to time `t` (call in time order)."""
    if (
        run.skipped
        or run.running_at is None
        or run.running_at > t
        or run.terminating_at is not None
    ):
        return
    by_key = {task.task_key: task for task in run.tasks}
    changed = True
    while changed:
        changed = False
        for task in run.tasks:
            update = task.update
            if task.end_ms is None and update is not None:
                if update.end_ms is not None and update.end_ms <= t:
                    task.end_ms = update.end_ms
                    if update.outcome == "COMPLETED":
                        task.result = "SUCCESS"
                    else:
                        task.result, task.message = "FAILED", update_message(update)
                    changed = True
                continue
            if task.start_ms is not None:
                continue
            deps = [by_key[key] for key in task.depends_on if key in by_key]
            if any(dep.end_ms is None for dep in deps):
                continue
            start = max([run.running_at, *(dep.end_ms or 0 for dep in deps)])
            if start > t:
                continue
            changed = True
            task.start_ms = start
            if not _run_if_allows(task.run_if, deps):
                task.end_ms, task.result = start, "UPSTREAM_FAILED"
                task.message = "Upstream task(s) failed."
            elif task.pipeline_id is not None:
                started = start_pipeline(task.pipeline_id, start, task.full_refresh)
                if isinstance(started, str):
                    task.end_ms, task.result, task.message = start, "FAILED", started
                else:
                    task.update = started
            else:
                task.end_ms, task.result = start + task_steps * step_ms, "SUCCESS"
    if all(task.end_ms is not None for task in run.tasks):
        finish(run, step_ms)


def finish(run: Run, step_ms: int) -> None:
    """Every task has ended: plan TERMINATING/TERMINATED and the result."""
    ends = [task.end_ms for task in run.tasks if task.end_ms is not None]
    assert run.running_at is not None  # noqa: S101 - only running runs finish
    run.terminating_at = max([run.running_at, *ends])
    run.terminated_at = run.terminating_at + step_ms
    failed = sorted(
        (task for task in run.tasks if task.result in TASK_FAILURE_RESULTS),
        key=lambda task: (task.end_ms or 0, task.task_key),
    )
    if run.forced_result is not None:
        run.result_state = run.forced_result
    else:
        run.result_state = "FAILED" if failed else "SUCCESS"
    if run.result_state == "FAILED":
        first = next((task for task in failed if task.result == "FAILED"), None)
        first = first or (failed[0] if failed else None)
        run.state_message = (
            f"Task {first.task_key} failed: {first.message}" if first is not None else "Run failed."
        )
    elif run.result_state == "CANCELED":
        run.state_message = "Run was canceled."


def next_action_ms(run: Run) -> int | None:
    """When `run` next changes in a way the simulator must act on (None: waiting or done)."""
    if run.skipped or run.running_at is None:
        return None
    if run.terminating_at is not None:
        return run.terminated_at
    times = []
    by_key = {task.task_key: task for task in run.tasks}
    for task in run.tasks:
        if task.end_ms is None and task.update is not None:
            if task.update.end_ms is not None:
                times.append(task.update.end_ms)
            continue
        if task.start_ms is None:
            deps = [by_key[key] for key in task.depends_on if key in by_key]
            if all(dep.end_ms is not None for dep in deps):
                times.append(max([run.running_at, *(dep.end_ms or 0 for dep in deps)]))
    if not run.tasks:
        times.append(run.running_at)
    return min(times) if times else None


# ------------------------------------------------------------------------------------------ rendering


def _state_json(life: str, result: str | None, message: str, queue_reason: str | None) -> Json:
    state: Json = {
        "life_cycle_state": life,
        "state_message": message,
        "user_cancelled_or_timedout": False,
    }
    if result is not None:
        state["result_state"] = result
    if queue_reason is not None and life == "QUEUED":
        state["queue_reason"] = queue_reason
    return state


def _status_json(life: str, result: str | None, message: str, queue_reason: str | None) -> Json:
    status: Json = {"state": "TERMINATED" if life == "SKIPPED" else life}
    if life == "SKIPPED":
        status["termination_details"] = {
            "code": "MAX_CONCURRENT_RUNS_EXCEEDED",
            "type": "CLIENT_ERROR",
            "message": message,
        }
    elif result is not None:
        code, kind = _TERMINATION.get(result, ("RUN_EXECUTION_ERROR", "CLIENT_ERROR"))
        status["termination_details"] = {"code": code, "type": kind, "message": message}
    if life == "QUEUED" and queue_reason is not None:
        status["queue_details"] = {"code": "MAX_CONCURRENT_RUNS_REACHED", "message": queue_reason}
    return status


def task_json(run: Run, task: TaskRun, now_ms: int, base_url: str) -> Json:
    """RunTask."""
    life = task.life_at(now_ms)
    result = task.result if life == "TERMINATED" else None
    message = task.message if life == "TERMINATED" else ""
    body: Json = {
        **task.settings,
        "run_id": task.run_id,
        "task_key": task.task_key,
        "attempt_number": 0,
        "state": _state_json(life, result, message, None),
        "status": _status_json(life, result, message, None),
        "run_if": task.run_if,
        "setup_duration": 0,
        "cleanup_duration": 0,
        "execution_duration": 0,
        "run_page_url": f"{base_url}/#job/{run.job_id}/run/{task.run_id}",
    }
    if task.depends_on:
        body["depends_on"] = [{"task_key": key} for key in task.depends_on]
    if task.start_ms is not None and task.start_ms <= now_ms:
        body["start_time"] = task.start_ms
        if task.end_ms is not None and task.end_ms <= now_ms:
            body["end_time"] = task.end_ms
            body["execution_duration"] = task.end_ms - task.start_ms
    return body


def run_json(run: Run, now_ms: int, base_url: str, tasks: list[TaskRun] | None) -> Json:
    """Run (BaseRun when `tasks` is None)."""
    life = run.life_at(now_ms)
    terminated = life in ("TERMINATED", "SKIPPED")
    result = run.result_state if life == "TERMINATED" else None
    message = run.state_message if terminated else ""
    end = run.terminated_at if terminated else None

    def passed(at: int | None) -> bool:
        return at is not None and at <= now_ms

    body: Json = {
        "run_id": run.run_id,
        "job_id": run.job_id,
        "run_name": run.run_name,
        "number_in_job": run.number_in_job,
        "original_attempt_run_id": run.run_id,
        "attempt_number": 0,
        "creator_user_name": run.creator,
        "run_type": "JOB_RUN",
        "trigger": run.trigger,
        "format": "MULTI_TASK",
        "start_time": run.start_time,
        "state": _state_json(life, result, message, run.queue_reason),
        "status": _status_json(life, result, message, run.queue_reason),
        "queue_duration": 0
        if run.skipped
        else (
            (run.pending_at if run.pending_at is not None and passed(run.pending_at) else now_ms)
            - run.start_time
        ),
        "setup_duration": (
            run.running_at - run.pending_at
            if passed(run.running_at) and run.pending_at is not None and run.running_at is not None
            else 0
        ),
        "execution_duration": (
            run.terminating_at - run.running_at
            if passed(run.terminating_at)
            and run.running_at is not None
            and run.terminating_at is not None
            else 0
        ),
        "cleanup_duration": (
            run.terminated_at - run.terminating_at
            if passed(run.terminated_at)
            and run.terminating_at is not None
            and run.terminated_at is not None
            else 0
        ),
        "run_duration": (end if end is not None else now_ms) - run.start_time,
        "run_page_url": f"{base_url}/#job/{run.job_id}/run/{run.run_id}",
    }
    if end is not None:
        body["end_time"] = end
    if run.job_parameters:
        body["job_parameters"] = [dict(p) for p in run.job_parameters]
    if tasks is not None:
        body["tasks"] = [task_json(run, task, now_ms, base_url) for task in tasks]
    return body
