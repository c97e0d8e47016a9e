"""Pipeline update metrics over a time window (docs/API.md §9.1).

Upstream cost is bounded by the window, not by the pipeline's history: `list_updates` pages come newest first and
paging stops at the first update created before the window; events are read only for updates inside it (up to
`limit`, concurrently with a bound). Total ≈ 2 + ⌈U_scanned/100⌉ + U_window calls.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from databricks.sdk import WorkspaceClient
from databricks.sdk.service.pipelines import UpdateInfo

from dbrx_api.concurrency import DEFAULT_MAX_PARALLEL, bounded_map
from dbrx_api.errors import upstream
from dbrx_api.jobs.resolution import resolve_pipeline
from dbrx_api.metrics.events import read_update_events, summarize
from dbrx_api.schemas.common import enum_text, from_epoch_ms
from dbrx_api.schemas.metrics import MetricsWindow, PipelineMetrics, UpdateMetrics, UpdateTrigger
from dbrx_api.schemas.paths import path_segment

UPDATES_PAGE = 100
_TRIGGERED_BY: dict[str, UpdateTrigger] = {
    "JOB_TASK": "job",
    "USER_ACTION": "user",
    "API_CALL": "api",
    "RETRY_ON_FAILURE": "retry",
}


def triggered_by(cause: str | None) -> UpdateTrigger:
    """Who started an update, from its `cause`."""
    return _TRIGGERED_BY.get(cause or "", "system")


def updates_in_window(
    ws: WorkspaceClient,
    pipeline_id: str,
    window: MetricsWindow,
    *,
    keep: Callable[[UpdateInfo], bool] | None = None,
) -> list[UpdateInfo]:
    """Updates created inside `window` (inclusive), newest first, reading pages only until the window's start.

    Pages come newest first, so paging stops at the first update created before `window.start`; updates after
    `window.end` are skipped. `keep` narrows the result further (e.g. `JOB_TASK` updates only).
    """
    found: list[UpdateInfo] = []
    page_token: str | None = None
    while True:
        with upstream("pipeline", pipeline_id):
            page = ws.pipelines.list_updates(
                path_segment(pipeline_id), max_results=UPDATES_PAGE, page_token=page_token
            )
        for update in page.updates or []:
            created = from_epoch_ms(update.creation_time)
            if created is None:
                continue
            if created < window.start:
                return found
            if created <= window.end and (keep is None or keep(update)):
                found.append(update)
        page_token = page.next_page_token
        if not page_token:
            return found


@dataclass(frozen=True, slots=True)
class MeasuredUpdate:
    metrics: UpdateMetrics
    truncated: bool


def measure_update(
    ws: WorkspaceClient,
    pipeline_id: str,
    update: UpdateInfo,
    *,
    include_rows: bool,
    include_flows: bool,
    max_events: int,
) -> MeasuredUpdate:
    """One update's metrics: fields from the update listing, end time/rows/flows/error from its events."""
    read = read_update_events(
        ws,
        pipeline_id,
        update.update_id or "",
        with_flows=include_rows or include_flows,
        cap=max_events,
    )
    summary = summarize(read.events)
    start = from_epoch_ms(update.creation_time)
    assert start is not None  # noqa: S101 - updates without a creation time are filtered out earlier
    state = enum_text(update.state)
    cause = enum_text(update.cause)
    duration = None
    if summary.end_time is not None:
        duration = round((summary.end_time - start).total_seconds(), 3)
    metrics = UpdateMetrics(
        update_id=update.update_id or "",
        state=state,
        cause=cause,
        triggered_by=triggered_by(cause),
        is_full_refresh=bool(update.full_refresh),
        start_time=start,
        end_time=summary.end_time,
        duration_seconds=duration,
        rows=summary.rows if include_rows else None,
        flows=summary.flows if include_flows else None,
        error_message=summary.error_message if state == "FAILED" else None,
    )
    return MeasuredUpdate(metrics, read.truncated)


def measure_updates(
    ws: WorkspaceClient,
    pipeline_id: str,
    updates: list[UpdateInfo],
    *,
    include_rows: bool,
    include_flows: bool,
    max_events: int,
    max_parallel: int,
) -> list[MeasuredUpdate]:
    """`measure_update` for each update, with at most `max_parallel` event reads in flight."""
    return bounded_map(
        lambda update: measure_update(
            ws,
            pipeline_id,
            update,
            include_rows=include_rows,
            include_flows=include_flows,
            max_events=max_events,
        ),
        updates,
        max_parallel,
    )


def pipeline_update_metrics(
    ws: WorkspaceClient,
    pipeline: str,
    *,
    start: datetime,
    end: datetime,
    include_rows: bool = True,
    include_flows: bool = False,
    limit: int = 100,
    max_events: int = 10_000,
    max_parallel: int = DEFAULT_MAX_PARALLEL,
) -> PipelineMetrics:
    """Metrics of the pipeline's updates created in `[start, end]`, newest first (an empty window is no error)."""
    ref = resolve_pipeline(ws, pipeline, with_spec=True)
    detail = ref.require_detail()
    window = MetricsWindow(start=start, end=end)
    in_window = updates_in_window(ws, ref.pipeline_id, window)
    measured = measure_updates(
        ws,
        ref.pipeline_id,
        in_window[:limit],
        include_rows=include_rows,
        include_flows=include_flows,
        max_events=max_events,
        max_parallel=max_parallel,
    )
    spec = detail.spec
    return PipelineMetrics.model_validate(
        {
            "pipeline_id": ref.pipeline_id,
            "pipeline_name": ref.name,
            "state": enum_text(detail.state),
            "catalog": spec.catalog if spec else None,
            "schema": (spec.schema or spec.target) if spec else None,
            "window": window,
            "items": [m.metrics for m in measured],
            "count": len(measured),
            "total": len(in_window),
            "next_offset": None,
            "truncated": len(in_window) > limit or any(m.truncated for m in measured),
        }
    )
