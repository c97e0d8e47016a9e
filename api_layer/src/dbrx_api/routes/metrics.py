"""Metrics (docs/API.md §9): thin routes over `metrics.updates` and `metrics.job_runs`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from dbrx_api.dependencies import MaxParallelDep, SettingsDep, WorkspaceClientDep
from dbrx_api.errors import ValidationFailed
from dbrx_api.metrics import job_runs as job_run_service
from dbrx_api.metrics import updates as update_service
from dbrx_api.routes.common import operation
from dbrx_api.routes.pipelines import PipelinePath
from dbrx_api.schemas.metrics import JobRunMetricsList, PipelineMetrics, QueryTimestamp

router = APIRouter(prefix="/pipelines", tags=["Metrics"])


@dataclass(frozen=True, slots=True)
class Window:
    start: datetime
    end: datetime


# Declared after the workspace dependency in each route, so a bad header (400/403) is reported before a bad
# window (422), as docs/API.md §1.2 orders the checks.
def metrics_window(
    settings: SettingsDep,
    start_timestamp: Annotated[
        QueryTimestamp | None,
        Query(
            description="Window start, RFC 3339 (default: end minus metrics.default_window_days)"
        ),
    ] = None,
    end_timestamp: Annotated[
        QueryTimestamp | None, Query(description="Window end, RFC 3339 (default: now)")
    ] = None,
) -> Window:
    """The requested time window; 422 `timestamp_invalid` when the end is not after the start."""
    end = end_timestamp or datetime.now(UTC)
    start = start_timestamp or end - timedelta(days=settings.metrics.default_window_days)
    if end <= start:
        message = "end_timestamp must be after start_timestamp"
        raise ValidationFailed(
            f"The request is invalid: query.end_timestamp: {message}.",
            errors=[
                {"loc": ["query", "end_timestamp"], "msg": message, "type": "timestamp_invalid"}
            ],
        )
    return Window(start, end)


WindowDep = Annotated[Window, Depends(metrics_window)]
LimitQuery = Annotated[int, Query(ge=1, le=1000, description="Maximum items, newest first")]


@router.get(
    "/{pipeline_id}/metrics",
    **operation("metrics_pipeline_updates", "reader", errors=[404, 409]),
)
def pipeline_metrics(
    pipeline_id: PipelinePath,
    ws: WorkspaceClientDep,
    window: WindowDep,
    settings: SettingsDep,
    max_parallel: MaxParallelDep,
    include_rows: Annotated[bool, Query(description="Row counts from flow_progress events")] = True,
    include_flows: Annotated[bool, Query(description="Per-flow metrics")] = False,
    limit: LimitQuery = 100,
) -> PipelineMetrics:
    """Metrics of the pipeline's updates in the window (an empty window is 200 with no items)."""
    return update_service.pipeline_update_metrics(
        ws,
        pipeline_id,
        start=window.start,
        end=window.end,
        include_rows=include_rows,
        include_flows=include_flows,
        limit=limit,
        max_events=settings.metrics.max_events_per_update,
        max_parallel=max_parallel,
    )


@router.get(
    "/{name}/job-runs/metrics",
    **operation("metrics_job_runs", "reader", errors=[404, 409]),
)
def job_run_metrics(
    name: PipelinePath,
    ws: WorkspaceClientDep,
    window: WindowDep,
    settings: SettingsDep,
    max_parallel: MaxParallelDep,
    include_rows: Annotated[
        bool, Query(description="Attach the pipeline update each run started, with row counts")
    ] = False,
    limit: LimitQuery = 100,
) -> JobRunMetricsList:
    """Runs of the pipeline's schedule jobs started in the window, newest first."""
    return job_run_service.job_run_metrics(
        ws,
        name,
        start=window.start,
        end=window.end,
        limit=limit,
        include_rows=include_rows,
        max_events=settings.metrics.max_events_per_update,
        max_parallel=max_parallel,
    )
