"""Job run metrics of a pipeline's schedule jobs (docs/API.md §9.2).

The window is applied upstream (`start_time_from` / `start_time_to` on `runs/list`); every page is read. With
`include_rows`, each run is paired with the `JOB_TASK` update of the pipeline created during the run, and only those
updates' events are read.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from databricks.sdk import WorkspaceClient
from databricks.sdk.service.jobs import BaseJob, BaseRun
from databricks.sdk.service.pipelines import UpdateInfo

from dbrx_api.concurrency import DEFAULT_MAX_PARALLEL, bounded_map
from dbrx_api.errors import upstream
from dbrx_api.jobs.resolution import (
    job_name,
    jobs_of_pipeline,
    list_pipeline_jobs,
    resolve_pipeline,
)
from dbrx_api.metrics.updates import measure_updates, updates_in_window
from dbrx_api.schemas.common import enum_text, from_epoch_ms, to_epoch_ms
from dbrx_api.schemas.metrics import (
    JobRunMetrics,
    JobRunMetricsList,
    MetricsWindow,
    RunTrigger,
    UpdateMetrics,
)
from dbrx_api.schemas.pipelines import JobRef

RUNS_PAGE = 25  # the largest page `runs/list` accepts
_TRIGGERED_BY: dict[str, RunTrigger] = {
    "PERIODIC": "schedule",
    "ONE_TIME": "manual",
    "RETRY": "retry",
}


def run_triggered_by(trigger: str | None) -> RunTrigger:
    """Why a run started, from its Databricks `trigger`."""
    return _TRIGGERED_BY.get(trigger or "", "other")


def _ms(value: int | None) -> datetime | None:
    # Runs report 0 for times that are not reached yet (e.g. `end_time` of an active run).
    return from_epoch_ms(value) if value else None


def _seconds(value: int | None) -> float | None:
    return None if value is None else round(value / 1000, 3)


def run_metrics(
    job: BaseJob, run: BaseRun, pipeline_update: UpdateMetrics | None = None
) -> JobRunMetrics:
    """The API's view of one job run."""
    start, end = _ms(run.start_time), _ms(run.end_time)
    duration = _seconds(run.run_duration) if run.run_duration else None
    if duration is None and start is not None and end is not None:
        duration = round((end - start).total_seconds(), 3)
    trigger = enum_text(run.trigger)
    state = run.state
    return JobRunMetrics(
        job_id=run.job_id or job.job_id or 0,
        job_name=job_name(job),
        run_id=run.run_id or 0,
        run_name=run.run_name,
        trigger=trigger,
        triggered_by=run_triggered_by(trigger),
        run_type=enum_text(run.run_type),
        life_cycle_state=enum_text(state.life_cycle_state) if state else None,
        result_state=enum_text(state.result_state) if state else None,
        state_message=(state.state_message or None) if state else None,
        start_time=start,
        end_time=end,
        duration_seconds=duration,
        queue_duration_seconds=_seconds(run.queue_duration),
        run_page_url=run.run_page_url,
        pipeline_update=pipeline_update,
    )


def _runs_of(ws: WorkspaceClient, job: BaseJob, window: MetricsWindow) -> list[BaseRun]:
    with upstream("job", str(job.job_id)):
        return list(
            ws.jobs.list_runs(
                job_id=job.job_id,
                start_time_from=to_epoch_ms(window.start),
                start_time_to=to_epoch_ms(window.end),
                limit=RUNS_PAGE,
            )
        )


def _update_of_run(run: BaseRun, updates: list[UpdateInfo]) -> UpdateInfo | None:
    """The earliest `JOB_TASK` update created between the run's start and end (end = now while running)."""
    if not run.start_time:
        return None
    end = run.end_time or to_epoch_ms(datetime.now(UTC))
    during = [u for u in updates if u.creation_time and run.start_time <= u.creation_time <= end]
    return min(during, key=lambda u: u.creation_time or 0) if during else None


def job_run_metrics(
    ws: WorkspaceClient,
    pipeline: str,
    *,
    start: datetime,
    end: datetime,
    limit: int = 100,
    include_rows: bool = False,
    max_events: int = 10_000,
    max_parallel: int = DEFAULT_MAX_PARALLEL,
) -> JobRunMetricsList:
    """Runs of the pipeline's schedule jobs started in `[start, end]`, newest first."""
    ref = resolve_pipeline(ws, pipeline, with_spec=False)
    window = MetricsWindow(start=start, end=end)
    jobs = sorted(
        jobs_of_pipeline(list_pipeline_jobs(ws), ref.pipeline_id), key=lambda j: j.job_id or 0
    )
    runs_per_job = bounded_map(lambda job: _runs_of(ws, job, window), jobs, max_parallel)
    pairs = [(job, run) for job, runs in zip(jobs, runs_per_job, strict=True) for run in runs]
    pairs.sort(key=lambda pair: (pair[1].start_time or 0, pair[1].run_id or 0), reverse=True)
    selected = pairs[:limit]
    updates_by_run: dict[int, UpdateMetrics] = {}
    truncated_events = False
    if include_rows and selected:
        # The update of a run starts after the run, possibly after the window's end.
        update_window = MetricsWindow(start=start, end=max(end, datetime.now(UTC)))
        job_updates = updates_in_window(
            ws,
            ref.pipeline_id,
            update_window,
            keep=lambda u: enum_text(u.cause) == "JOB_TASK",
        )
        matched: dict[int, UpdateInfo] = {}
        for _, run in selected:
            update = _update_of_run(run, job_updates)
            if update is not None and run.run_id is not None:
                matched[run.run_id] = update
        unique: dict[str, UpdateInfo] = {u.update_id or "": u for u in matched.values()}
        measured = measure_updates(
            ws,
            ref.pipeline_id,
            list(unique.values()),
            include_rows=True,
            include_flows=False,
            max_events=max_events,
            max_parallel=max_parallel,
        )
        by_update = {m.metrics.update_id: m.metrics for m in measured}
        truncated_events = any(m.truncated for m in measured)
        updates_by_run = {
            run_id: by_update[update.update_id or ""] for run_id, update in matched.items()
        }
    items = [run_metrics(job, run, updates_by_run.get(run.run_id or -1)) for job, run in selected]
    body: dict[str, Any] = {
        "pipeline_id": ref.pipeline_id,
        "pipeline_name": ref.name,
        "window": window,
        "jobs": [JobRef(job_id=job.job_id or 0, job_name=job_name(job)) for job in jobs],
        "items": items,
        "count": len(items),
        "total": len(pairs),
        "next_offset": None,
        "truncated": len(pairs) > limit or truncated_events,
    }
    return JobRunMetricsList.model_validate(body)
