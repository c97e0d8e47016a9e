"""Schedule services (docs/API.md §8, §11.8) against an autospec'd client raising real SDK errors."""

from __future__ import annotations

import json
from typing import Any

import pytest
from databricks.sdk.errors import InternalError, InvalidParameterValue
from databricks.sdk.service.jobs import (
    CronSchedule,
    JobEmailNotifications,
    JobSettings,
    PauseStatus,
    PipelineTask,
    Task,
)

from dbrx_api.errors import ConflictError, NotFoundError, UpstreamError, ValidationFailed
from dbrx_api.jobs import schedules as svc
from dbrx_api.schemas.common import ListQuery
from dbrx_api.schemas.schedules import ScheduleCreate
from dbrx_api.settings import ScheduleDefaults
from fixtures.pipelines import PID, PID2, job, state_info, workspace_client

DEFAULTS = ScheduleDefaults()


@pytest.fixture
def ws() -> Any:
    ws = workspace_client()
    ws.pipelines.list_pipelines.return_value = iter([state_info(PID, "orders")])
    return ws


def body(**fields: Any) -> ScheduleCreate:
    return ScheduleCreate.model_validate({"cron_expression": "0 0 2 * * ?", **fields})


def test_list_keeps_pipeline_jobs_and_fills_names(ws: Any) -> None:
    ws.jobs.list.return_value = iter(
        [
            job(3, "b_job", [PID, PID2]),
            job(1, "a_job", [], other_tasks=1),  # no pipeline task: not a schedule
            job(2, "B_job", [PID], trigger="file_arrival"),
        ]
    )
    ws.pipelines.list_pipelines.return_value = iter([state_info(PID, "orders")])
    result = svc.list_schedules(ws, ListQuery())
    assert [(s.job_name, s.job_id) for s in result.items] == [("B_job", 2), ("b_job", 3)]
    first, second = result.items
    assert first.schedule_type == "trigger"
    assert first.cron_expression is None
    assert first.pause_status == "UNPAUSED"
    assert [(p.pipeline_id, p.name) for p in second.pipelines] == [(PID, "orders"), (PID2, None)]
    assert second.schedule_type == "cron"
    assert second.timezone == "UTC"
    ws.jobs.list.assert_called_once_with(expand_tasks=True, limit=100)
    ws.pipelines.list_pipelines.assert_called_once_with(max_results=100)


def test_list_filters_on_the_job_name(ws: Any) -> None:
    ws.jobs.list.return_value = iter([job(1, "sales_x"), job(2, "other_sales"), job(3, "SALES_y")])
    result = svc.list_schedules(ws, ListQuery(prefix="sales_", limit=1))
    assert [s.job_id for s in result.items] == [1]
    assert (result.total, result.next_offset) == (2, 1)


def test_schedules_of_one_pipeline(ws: Any) -> None:
    ws.jobs.list.return_value = iter([job(1, "x", [PID2]), job(2, "orders_schedule", [PID])])
    result = svc.list_pipeline_schedules(ws, "orders")
    assert (result.pipeline_id, result.pipeline_name) == (PID, "orders")
    assert [s.job_id for s in result.items] == [2]
    assert result.items[0].pipelines[0].name == "orders"


@pytest.mark.parametrize(
    ("fields", "error_type", "fragment"),
    [
        ({"cron_expression": "0 2 * * 1-5"}, "cron_not_quartz", 'equivalent: "0 0 2 ? * 2-6"'),
        ({"cron_expression": "0 0 2 * * *"}, "cron_invalid", "are both set"),
        ({"timezone": "+02:00"}, "timezone_invalid", "UTC offset"),
        ({"timezone": "Europe/Atlantis"}, "timezone_invalid", "IANA"),
    ],
)
def test_invalid_cron_or_zone_is_422_before_any_upstream_call(
    ws: Any, fields: dict[str, Any], error_type: str, fragment: str
) -> None:
    ws.reset_mock()
    with pytest.raises(ValidationFailed) as caught:
        svc.create_schedule(ws, "orders", body(**fields), defaults=DEFAULTS)
    (error,) = caught.value.extra["errors"]
    assert error["type"] == error_type
    assert fragment in error["msg"]
    assert ws.mock_calls == []


def test_create_builds_the_job(ws: Any) -> None:
    ws.jobs.list.side_effect = [iter([]), iter([job(9, "other", [PID], cron="0 0 3 * * ?")])]
    ws.api_client.do.return_value = {"job_id": 42}
    created = svc.create_schedule(
        ws,
        "orders",
        body(
            cron_expression="'0 0 2 ? * mon-fri'",
            time_zone="europe/paris",
            email_notifications=["ops@example.com"],
            tags={"team": "data"},
            description="nightly",
            full_refresh=True,
            paused=True,
        ),
        defaults=DEFAULTS,
    )
    ws.jobs.list.assert_any_call(name="orders_schedule")
    expected = JobSettings(
        name="orders_schedule",
        tasks=[
            Task(
                task_key="run_pipeline",
                pipeline_task=PipelineTask(pipeline_id=PID, full_refresh=True),
            )
        ],
        schedule=CronSchedule(
            quartz_cron_expression="0 0 2 ? * MON-FRI",
            timezone_id="Europe/Paris",
            pause_status=PauseStatus.PAUSED,
        ),
        max_concurrent_runs=1,
        email_notifications=JobEmailNotifications(
            on_failure=["ops@example.com"], on_success=["ops@example.com"]
        ),
        tags={"team": "data"},
        description="nightly",
    )
    # Sent once (never replayed by the SDK): the job's settings as the POST body of jobs/create.
    ((method, path), sent) = ws.api_client.do.call_args
    assert (method, path) == ("POST", "/api/2.2/jobs/create")
    assert json.loads(sent["data"].read()) == expected.as_dict()
    assert created.job_id == 42
    assert created.job_name == "orders_schedule"
    assert created.pipelines[0].name == "orders"
    assert created.email_notifications.on_failure == ["ops@example.com"]


def test_existing_job_name_is_409(ws: Any) -> None:
    ws.jobs.list.return_value = iter([job(5, "Orders_Schedule", [PID2])])
    with pytest.raises(ConflictError) as caught:
        svc.create_schedule(ws, "orders", body(), defaults=DEFAULTS)
    assert caught.value.code == "schedule_already_exists"
    ws.api_client.do.assert_not_called()


def test_same_cron_and_zone_on_the_pipeline_is_409(ws: Any) -> None:
    ws.jobs.list.side_effect = [
        iter([]),
        iter([job(5, "first", [PID], cron="0  0 2 * * ?", timezone="utc")]),
    ]
    with pytest.raises(ConflictError) as caught:
        svc.create_schedule(ws, "orders", body(job_name="second"), defaults=DEFAULTS)
    assert caught.value.code == "schedule_duplicate_cron"
    assert caught.value.extra["job_id"] == 5


def test_same_cron_on_another_zone_or_pipeline_is_fine(ws: Any) -> None:
    ws.jobs.list.side_effect = [
        iter([]),
        iter(
            [
                job(5, "first", [PID], timezone="Europe/Paris"),
                job(6, "other", [PID2]),
                job(7, "trigger", [PID], trigger="file_arrival"),
            ]
        ),
    ]
    ws.api_client.do.return_value = {"job_id": 8}
    assert svc.create_schedule(ws, "orders", body(job_name="second"), defaults=DEFAULTS).job_id == 8


def test_set_cron_keeps_zone_and_pause_status(ws: Any) -> None:
    ws.jobs.list.return_value = iter([job(5, "orders_schedule", timezone="Europe/Paris")])
    result = svc.set_cron(ws, "orders", "orders_schedule", "0 30 1 * * ?")
    ws.jobs.update.assert_called_once_with(
        5,
        fields_to_remove=None,
        new_settings=JobSettings(
            schedule=CronSchedule(
                quartz_cron_expression="0 30 1 * * ?",
                timezone_id="Europe/Paris",
                pause_status=PauseStatus.UNPAUSED,
            )
        ),
    )
    assert result.changed
    assert result.cron_expression == "0 30 1 * * ?"
    assert result.timezone == "Europe/Paris"


def test_unchanged_cron_writes_nothing(ws: Any) -> None:
    ws.jobs.list.return_value = iter([job(5, "orders_schedule")])
    result = svc.set_cron(ws, "orders", "orders_schedule", "'0 0 2 * * ?'")
    assert not result.changed
    ws.jobs.update.assert_not_called()


def test_set_timezone(ws: Any) -> None:
    ws.jobs.list.return_value = iter([job(5, "orders_schedule")])
    result = svc.set_timezone(ws, "orders", "orders_schedule", "america/new_york")
    schedule = ws.jobs.update.call_args.kwargs["new_settings"].schedule
    assert (schedule.quartz_cron_expression, schedule.timezone_id) == (
        "0 0 2 * * ?",
        "America/New_York",
    )
    assert result.changed
    assert result.timezone == "America/New_York"


@pytest.mark.parametrize("trigger", ["file_arrival", "continuous"])
def test_non_cron_job_is_409(ws: Any, trigger: str) -> None:
    ws.jobs.list.return_value = iter([job(5, "orders_schedule", trigger=trigger)])
    with pytest.raises(ConflictError) as caught:
        svc.set_timezone(ws, "orders", "orders_schedule", "UTC")
    assert caught.value.code == "schedule_not_cron"


def test_delete_one_schedule_by_id(ws: Any) -> None:
    from databricks.sdk.service.jobs import Job

    ws.jobs.get.return_value = Job(job_id=5, settings=job(5, "orders_schedule").settings)
    result = svc.delete_schedule(ws, "orders", "5")
    ws.jobs.delete.assert_called_once_with(5)
    assert result.deleted
    assert result.job_name == "orders_schedule"


def test_delete_missing_job_is_404(ws: Any) -> None:
    ws.jobs.get.side_effect = InvalidParameterValue("Job 5 does not exist.")
    with pytest.raises(NotFoundError) as caught:
        svc.delete_schedule(ws, "orders", "5")
    assert caught.value.code == "job_not_found"
    ws.jobs.delete.assert_not_called()


def test_delete_all_reports_applied_on_partial_failure(ws: Any) -> None:
    ws.jobs.list.return_value = iter([job(1, "a"), job(2, "b"), job(3, "c", other_tasks=2)])
    ws.jobs.delete.side_effect = [None, InternalError("boom")]
    with pytest.raises(UpstreamError) as caught:
        svc.delete_all_schedules(ws, "orders")
    assert caught.value.extra["applied"] == ["schedule job 1 'a' deleted"]


def test_delete_all_keeps_jobs_with_other_work(ws: Any) -> None:
    ws.jobs.list.return_value = iter([job(1, "a"), job(3, "c", other_tasks=2), job(4, "d", [PID2])])
    result = svc.delete_all_schedules(ws, "orders")
    assert [j.job_id for j in result.deleted] == [1]
    assert [(j.job_id, j.reason) for j in result.kept_jobs] == [
        (3, "it also runs 2 task(s) that are not pipeline tasks")
    ]
