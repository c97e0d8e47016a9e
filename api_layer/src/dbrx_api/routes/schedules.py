"""Schedules (docs/API.md §8, §11.8): thin routes over `jobs.schedules`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status
from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from dbrx_api.dependencies import SettingsDep, WorkspaceClientDep
from dbrx_api.jobs import schedules as schedule_service
from dbrx_api.routes.common import ListQueryDep, operation, set_location
from dbrx_api.routes.pipelines import PipelinePath
from dbrx_api.schemas.common import PIPELINE_NAME_PATTERN
from dbrx_api.schemas.pipelines import pipeline_name_problem
from dbrx_api.schemas.schedules import (
    CronUpdate,
    PipelineSchedules,
    Schedule,
    ScheduleChange,
    ScheduleCreate,
    ScheduleDeleted,
    ScheduleList,
    SchedulesDeleted,
    TimezoneUpdate,
)

router = APIRouter(tags=["Schedules"])


def _job_value(value: str) -> str:
    # Job names follow the pipeline-name rule: no character that changes what a URL addresses (docs/API.md §1.6).
    problem = pipeline_name_problem(value)
    if problem:
        raise PydanticCustomError("name_invalid", "job {problem}", {"problem": problem})
    return value


JobPath = Annotated[
    str,
    Path(
        description="Job name (exact, case-insensitive) or numeric job id; the job must run the pipeline",
        min_length=1,
        max_length=255,
        json_schema_extra={"pattern": PIPELINE_NAME_PATTERN},
    ),
    AfterValidator(_job_value),
]


@router.get("/schedules", **operation("schedules_list", "reader"))
def list_schedules(ws: WorkspaceClientDep, query: ListQueryDep) -> ScheduleList:
    """Every job that runs a pipeline (every upstream page, no cap), filtered by job name."""
    return schedule_service.list_schedules(ws, query)


@router.get(
    "/schedules/pipeline/{name}",
    **operation("schedules_list_for_pipeline", "reader", errors=[404, 409]),
)
def list_pipeline_schedules(name: PipelinePath, ws: WorkspaceClientDep) -> PipelineSchedules:
    """The schedule jobs of one pipeline (`items: []` when it has none)."""
    return schedule_service.list_pipeline_schedules(ws, name)


@router.post(
    "/pipelines/{name}/schedules",
    status_code=status.HTTP_201_CREATED,
    **operation("schedules_create", "writer", body=True, errors=[404, 409]),
)
def create_schedule(
    name: PipelinePath,
    body: ScheduleCreate,
    ws: WorkspaceClientDep,
    settings: SettingsDep,
    request: Request,
    response: Response,
) -> Schedule:
    """Create a Quartz-cron job running the pipeline; a 5-field Unix cron gets a 422 suggesting the Quartz form."""
    created = schedule_service.create_schedule(
        ws, name, body, defaults=settings.databricks.schedules
    )
    pipeline_id = created.pipelines[0].pipeline_id if created.pipelines else name
    set_location(request, response, "list_pipeline_schedules", name=pipeline_id)
    return created


@router.patch(
    "/pipelines/{name}/schedules/{job}/cron",
    **operation("schedules_set_cron", "writer", body=True, errors=[404, 409]),
)
def set_cron(
    name: PipelinePath, job: JobPath, body: CronUpdate, ws: WorkspaceClientDep
) -> ScheduleChange:
    """Change a schedule's cron expression (time zone and pause status are kept)."""
    return schedule_service.set_cron(ws, name, job, body.cron_expression)


@router.patch(
    "/pipelines/{name}/schedules/{job}/timezone",
    **operation("schedules_set_timezone", "writer", body=True, errors=[404, 409]),
)
def set_timezone(
    name: PipelinePath, job: JobPath, body: TimezoneUpdate, ws: WorkspaceClientDep
) -> ScheduleChange:
    """Change a schedule's time zone (cron and pause status are kept)."""
    return schedule_service.set_timezone(ws, name, job, body.timezone)


@router.delete(
    "/pipelines/{name}/schedules/{job}",
    **operation("schedules_delete", "admin", errors=[404, 409]),
)
def delete_schedule(name: PipelinePath, job: JobPath, ws: WorkspaceClientDep) -> ScheduleDeleted:
    """Delete one schedule job of the pipeline."""
    return schedule_service.delete_schedule(ws, name, job)


@router.delete(
    "/pipelines/{name}/schedules",
    **operation("schedules_delete_all", "admin", errors=[404, 409]),
)
def delete_all_schedules(name: PipelinePath, ws: WorkspaceClientDep) -> SchedulesDeleted:
    """Delete every job that only schedules this pipeline; jobs running other work are kept and reported."""
    return schedule_service.delete_all_schedules(ws, name)
