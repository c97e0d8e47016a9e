"""Metrics response models and query timestamps (docs/API.md §2.6, §9)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from dbrx_api.schemas.common import ResponseModel, Timestamp
from dbrx_api.schemas.pipelines import JobRef

UpdateTrigger = Literal["job", "user", "api", "retry", "system"]
RunTrigger = Literal["schedule", "manual", "retry", "other"]

_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(9999, 1, 1, tzinfo=UTC)


def parse_query_timestamp(value: object) -> datetime:
    """An RFC 3339 query value as an aware UTC datetime: no offset means UTC, a date alone means 00:00 UTC.

    Raises:
        PydanticCustomError: `timestamp_invalid` for anything else.
    """
    if isinstance(value, datetime):
        parsed = value
    else:
        text = str(value).strip()
        try:
            if _DATE_ONLY.match(text):
                parsed = datetime.fromisoformat(f"{text}T00:00:00+00:00")
            else:
                parsed = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
        except ValueError:
            raise PydanticCustomError(
                "timestamp_invalid",
                "'{value}' is not an RFC 3339 timestamp (e.g. 2026-03-01T10:15:30Z or 2026-03-01)",
                {"value": text[:64]},
            ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        parsed = parsed.astimezone(UTC)
    except OverflowError:
        parsed = _EARLIEST - timedelta(days=1)  # reported as out of range below
    # Databricks times are epoch milliseconds; the window arithmetic must stay inside datetime's range.
    if not _EARLIEST <= parsed < _LATEST:
        raise PydanticCustomError(
            "timestamp_invalid",
            "'{value}' is outside the supported range 1970-01-01 to 9999-01-01",
            {"value": str(value)[:64]},
        )
    return parsed


QueryTimestamp = Annotated[
    datetime,
    BeforeValidator(parse_query_timestamp),
    WithJsonSchema({"type": "string", "format": "date-time", "example": "2026-03-01T00:00:00Z"}),
]


class MetricsWindow(ResponseModel):
    start: Timestamp
    end: Timestamp


class RowCounts(ResponseModel):
    output: int | None = None
    upserted: int | None = None
    deleted: int | None = None
    dropped: int | None = None


class FlowMetrics(ResponseModel):
    flow_name: str
    dataset_name: str | None = None
    status: str | None = None
    rows_output: int | None = None
    rows_upserted: int | None = None
    rows_deleted: int | None = None
    dropped_records: int | None = None


class UpdateMetrics(ResponseModel):
    update_id: str
    state: str | None = None
    cause: str | None = None
    triggered_by: UpdateTrigger
    is_full_refresh: bool = False
    start_time: Timestamp
    end_time: Timestamp | None = None
    duration_seconds: float | None = None
    rows: RowCounts | None = None
    flows: list[FlowMetrics] | None = None
    error_message: str | None = None


class PipelineMetrics(ResponseModel):
    pipeline_id: str
    pipeline_name: str
    state: str | None = None
    catalog: str | None = None
    schema_: str | None = Field(None, alias="schema", serialization_alias="schema")
    window: MetricsWindow
    items: list[UpdateMetrics]
    count: int
    total: int
    next_offset: int | None = None
    truncated: bool = False


class JobRunMetrics(ResponseModel):
    job_id: int
    job_name: str
    run_id: int
    run_name: str | None = None
    trigger: str | None = None
    triggered_by: RunTrigger
    run_type: str | None = None
    life_cycle_state: str | None = None
    result_state: str | None = None
    state_message: str | None = None
    start_time: Timestamp | None = None
    end_time: Timestamp | None = None
    duration_seconds: float | None = None
    queue_duration_seconds: float | None = None
    run_page_url: str | None = None
    pipeline_update: UpdateMetrics | None = None


class JobRunMetricsList(ResponseModel):
    pipeline_id: str
    pipeline_name: str
    window: MetricsWindow
    jobs: list[JobRef]
    items: list[JobRunMetrics]
    count: int
    total: int
    next_offset: int | None = None
    truncated: bool = False
