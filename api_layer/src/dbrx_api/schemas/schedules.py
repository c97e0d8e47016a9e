"""Schedule request and response models (docs/API.md §2.5, §8, §11.8).

Cron expressions and time zones are checked by the schedule service (`jobs.cron`), which reports them as
422 `validation_failed` with the error types `cron_not_quartz`, `cron_invalid` and `timezone_invalid`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from dbrx_api.schemas.common import RequestModel, ResponseModel, Timestamp
from dbrx_api.schemas.pipelines import (
    MAX_NOTIFICATIONS,
    JobRef,
    KeptJob,
    check_principals,
    check_tags,
    pipeline_name_problem,
)

ScheduleType = Literal["cron", "trigger", "continuous", "none"]


def _timezone_alias(data: object) -> object:
    """Accept `time_zone` as an alias of `timezone` (not both)."""
    if isinstance(data, dict) and "time_zone" in data:
        if "timezone" in data:
            raise PydanticCustomError(
                "mutually_exclusive", "give either 'timezone' or its alias 'time_zone', not both"
            )
        data = {("timezone" if key == "time_zone" else key): value for key, value in data.items()}
    return data


class ScheduleCreate(RequestModel):
    """Body of `POST /pipelines/{name}/schedules` (docs/API.md §8.3)."""

    job_name: str | None = None
    cron_expression: str = Field(min_length=1, max_length=200)
    timezone: str | None = Field(None, max_length=100)
    paused: bool = False
    email_notifications: list[str] | None = Field(None, max_length=MAX_NOTIFICATIONS)
    tags: dict[str, str] | None = None
    description: str | None = Field(None, max_length=1000)
    full_refresh: bool = False

    @model_validator(mode="before")
    @classmethod
    def _alias(cls, data: object) -> object:
        return _timezone_alias(data)

    @field_validator("job_name")
    @classmethod
    def _job_name(cls, value: str | None) -> str | None:
        if value is None:
            return None
        problem = pipeline_name_problem(value)
        if problem:
            raise PydanticCustomError("name_invalid", "job name {problem}", {"problem": problem})
        return value

    @field_validator("email_notifications")
    @classmethod
    def _emails(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else check_principals(value, "email_notifications")

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        return check_tags(value)


class CronUpdate(RequestModel):
    """Body of `PATCH /pipelines/{name}/schedules/{job}/cron`."""

    cron_expression: str = Field(min_length=1, max_length=200)


class TimezoneUpdate(RequestModel):
    """Body of `PATCH /pipelines/{name}/schedules/{job}/timezone` (alias `time_zone`)."""

    timezone: str = Field(min_length=1, max_length=100)

    @model_validator(mode="before")
    @classmethod
    def _alias(cls, data: object) -> object:
        return _timezone_alias(data)


# ------------------------------------------------------------------------------------------ responses


class SchedulePipeline(ResponseModel):
    pipeline_id: str
    name: str | None = None


class EmailNotifications(ResponseModel):
    on_start: list[str] = Field(default_factory=list)
    on_success: list[str] = Field(default_factory=list)
    on_failure: list[str] = Field(default_factory=list)


class Schedule(ResponseModel):
    job_id: int
    job_name: str
    pipelines: list[SchedulePipeline] = Field(default_factory=list)
    schedule_type: ScheduleType
    cron_expression: str | None = None
    timezone: str | None = None
    pause_status: Literal["PAUSED", "UNPAUSED"] | None = None
    max_concurrent_runs: int
    email_notifications: EmailNotifications = Field(default_factory=EmailNotifications)
    tags: dict[str, str] = Field(default_factory=dict)
    description: str | None = None
    other_task_count: int = 0
    created_time: Timestamp | None = None
    creator_user_name: str | None = None


class ScheduleList(ResponseModel):
    items: list[Schedule]
    count: int
    total: int
    next_offset: int | None = None


class PipelineSchedules(ResponseModel):
    pipeline_id: str
    pipeline_name: str
    items: list[Schedule]
    count: int
    total: int
    next_offset: int | None = None


class ScheduleChange(ResponseModel):
    pipeline_id: str
    pipeline_name: str
    job_id: int
    job_name: str
    cron_expression: str | None = None
    timezone: str | None = None
    pause_status: Literal["PAUSED", "UNPAUSED"] | None = None
    changed: bool


class ScheduleDeleted(ResponseModel):
    pipeline_id: str
    pipeline_name: str
    job_id: int
    job_name: str
    deleted: bool = True


class SchedulesDeleted(ResponseModel):
    pipeline_id: str
    pipeline_name: str
    deleted: list[JobRef] = Field(default_factory=list)
    kept_jobs: list[KeptJob] = Field(default_factory=list)
