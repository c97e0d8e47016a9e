"""Windowed pipeline update metrics and job run metrics (docs/API.md §9) against an autospec'd client."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from unittest.mock import DEFAULT

import pytest
from databricks.sdk.service.jobs import (
    BaseRun,
    RunLifeCycleState,
    RunResultState,
    RunState,
    TriggerType,
)
from databricks.sdk.service.pipelines import (
    ListUpdatesResponse,
    UpdateInfo,
    UpdateInfoCause,
    UpdateInfoState,
)

from dbrx_api.metrics.job_runs import job_run_metrics
from dbrx_api.metrics.updates import pipeline_update_metrics, triggered_by
from dbrx_api.schemas.common import to_epoch_ms
from fixtures.pipelines import PID, job, listing_pages, pipeline_response, workspace_client

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def update(
    n: int, *, cause: str = "JOB_TASK", state: str = "COMPLETED", hours_ago: float
) -> UpdateInfo:
    return UpdateInfo(
        update_id=f"u{n}",
        pipeline_id=PID,
        state=UpdateInfoState(state),
        cause=UpdateInfoCause(cause),
        creation_time=to_epoch_ms(NOW - timedelta(hours=hours_ago)),
        full_refresh=n == 1,
    )


def pages(updates: list[UpdateInfo], size: int = 100) -> list[ListUpdatesResponse]:
    chunks = [updates[i : i + size] for i in range(0, len(updates), size)]
    return [
        ListUpdatesResponse(
            updates=chunk, next_page_token=f"p{i + 1}" if i + 1 < len(chunks) else None
        )
        for i, chunk in enumerate(chunks)
    ]


def events_for(update_id: str) -> dict[str, Any]:
    return {
        "events": [
            {
                "event_type": "flow_progress",
                "level": "METRICS",
                "timestamp": "2026-02-28T23:00:05.000Z",
                "origin": {"flow_name": "orders", "update_id": update_id},
                "details": {
                    "flow_progress": {"status": "COMPLETED", "metrics": {"num_output_rows": 10}}
                },
            }
        ]
    }


@pytest.fixture
def ws() -> Any:
    ws = workspace_client()
    ws.pipelines.get.return_value = pipeline_response(PID, "orders")

    def answer(*args: Any, **kwargs: Any) -> Any:
        page = listing_pages(
            ws, *args, **kwargs
        )  # the jobs listing; every other request reads events
        return events_for("x") if page is DEFAULT else page

    ws.api_client.do.side_effect = answer
    return ws


def test_paging_stops_at_the_window_start(ws: Any) -> None:
    # 1 000 updates, one per hour, newest first; the window holds the 10 newest (hours 0..9).
    history = [update(n, hours_ago=n + 0.5) for n in range(1000)]
    ws.pipelines.list_updates.side_effect = pages(history)
    result = pipeline_update_metrics(ws, PID, start=NOW - timedelta(hours=10), end=NOW)
    assert [m.update_id for m in result.items] == [f"u{n}" for n in range(10)]
    assert (result.count, result.total, result.truncated) == (10, 10, False)
    ws.pipelines.list_updates.assert_called_once_with(PID, max_results=100, page_token=None)
    assert ws.api_client.do.call_count == 10
    first = result.items[0]
    assert first.triggered_by == "job"
    assert first.rows is not None
    assert first.rows.output == 10
    assert result.items[1].is_full_refresh


def test_updates_after_the_window_are_skipped_and_pages_followed(ws: Any) -> None:
    history = [update(n, hours_ago=n + 0.5) for n in range(300)]
    ws.pipelines.list_updates.side_effect = pages(history)
    result = pipeline_update_metrics(
        ws, PID, start=NOW - timedelta(hours=160), end=NOW - timedelta(hours=150), limit=3
    )
    # Updates 150..159 are inside; pages 1 and 2 were read, page 3 never.
    assert result.total == 10
    assert [m.update_id for m in result.items] == ["u150", "u151", "u152"]
    assert result.truncated
    assert ws.pipelines.list_updates.call_count == 2
    assert ws.pipelines.list_updates.call_args_list[1].kwargs["page_token"] == "p1"
    assert ws.api_client.do.call_count == 3


def test_empty_window_is_an_empty_list(ws: Any) -> None:
    ws.pipelines.list_updates.side_effect = pages([update(1, hours_ago=500)])
    result = pipeline_update_metrics(ws, PID, start=NOW - timedelta(hours=1), end=NOW)
    assert result.items == []
    assert result.total == 0
    assert result.catalog == "share_cat"
    assert result.schema_ == "sales_ext"
    ws.api_client.do.assert_not_called()


def test_without_rows_no_flow_events_are_read(ws: Any) -> None:
    ws.pipelines.list_updates.side_effect = pages([update(1, hours_ago=0.5, cause="API_CALL")])
    result = pipeline_update_metrics(
        ws, PID, start=NOW - timedelta(hours=1), end=NOW, include_rows=False
    )
    assert result.items[0].rows is None
    assert result.items[0].triggered_by == "api"
    query = ws.api_client.do.call_args.kwargs["query"]
    assert query["filter"].endswith("event_type in ('update_progress')")


@pytest.mark.parametrize(
    ("cause", "who"),
    [
        ("JOB_TASK", "job"),
        ("USER_ACTION", "user"),
        ("API_CALL", "api"),
        ("RETRY_ON_FAILURE", "retry"),
        ("SCHEMA_CHANGE", "system"),
        (None, "system"),
    ],
)
def test_triggered_by(cause: str | None, who: str) -> None:
    assert triggered_by(cause) == who


def run(
    run_id: int, job_id: int, *, minutes_ago: int, trigger: str = "PERIODIC", ended: bool = True
) -> BaseRun:
    start = to_epoch_ms(NOW - timedelta(minutes=minutes_ago))
    return BaseRun(
        run_id=run_id,
        job_id=job_id,
        run_name="orders_schedule",
        trigger=TriggerType(trigger),
        start_time=start,
        end_time=start + 120_000 if ended else 0,
        run_duration=120_000 if ended else None,
        queue_duration=1_500,
        state=RunState(
            life_cycle_state=RunLifeCycleState.TERMINATED if ended else RunLifeCycleState.RUNNING,
            result_state=RunResultState.SUCCESS if ended else None,
        ),
    )


def test_job_runs_are_filtered_upstream_and_merged_newest_first(ws: Any) -> None:
    ws.pipelines.list_pipelines.return_value = iter([])
    ws.jobs.list.return_value = iter([job(1, "a"), job(2, "b"), job(3, "unrelated", ["p-x"])])
    runs = {
        1: [run(11, 1, minutes_ago=30)],
        2: [
            run(21, 2, minutes_ago=10, trigger="ONE_TIME", ended=False),
            run(22, 2, minutes_ago=50, trigger="RETRY"),
        ],
    }
    ws.jobs.list_runs.side_effect = lambda **kw: iter(runs[kw["job_id"]])
    start, end = NOW - timedelta(hours=2), NOW
    result = job_run_metrics(ws, PID, start=start, end=end, limit=2)
    assert [r.run_id for r in result.items] == [21, 11]
    assert (result.total, result.truncated) == (3, True)
    assert [j.job_id for j in result.jobs] == [1, 2]
    active, done = result.items
    assert active.triggered_by == "manual"
    assert active.end_time is None
    assert active.duration_seconds is None
    assert done.triggered_by == "schedule"
    assert done.duration_seconds == 120.0
    assert done.queue_duration_seconds == 1.5
    assert done.result_state == "SUCCESS"
    for call in ws.jobs.list_runs.call_args_list:
        assert call.kwargs["start_time_from"] == to_epoch_ms(start)
        assert call.kwargs["start_time_to"] == to_epoch_ms(end)
        assert call.kwargs["limit"] == 25
    assert {c.kwargs["job_id"] for c in ws.jobs.list_runs.call_args_list} == {1, 2}


def test_job_runs_with_rows_pair_each_run_with_its_update(ws: Any) -> None:
    ws.jobs.list.return_value = iter([job(1, "a")])
    ws.jobs.list_runs.return_value = iter([run(11, 1, minutes_ago=30), run(12, 1, minutes_ago=90)])
    ws.pipelines.list_updates.side_effect = pages(
        [
            update(2, hours_ago=29 / 60),  # created a minute after run 11 started
            update(9, hours_ago=40 / 60, cause="API_CALL"),  # not from a job
            update(1, hours_ago=89 / 60),
            update(0, hours_ago=30),  # before the window: paging stops here
        ]
    )
    result = job_run_metrics(ws, PID, start=NOW - timedelta(hours=2), end=NOW, include_rows=True)
    paired = {
        r.run_id: r.pipeline_update.update_id if r.pipeline_update else None for r in result.items
    }
    assert paired == {11: "u2", 12: "u1"}
    event_reads = [c for c in ws.api_client.do.call_args_list if "/events" in str(c.args[1])]
    assert len(event_reads) == 2  # the jobs listing also reads pages through `api_client.do`
