"""Exact pipeline and job addressing (docs/API.md §1.9) against an autospec'd client raising real SDK errors."""

from __future__ import annotations

from typing import Any
from unittest.mock import call

import pytest
from databricks.sdk.errors import InvalidParameterValue, NotFound, ResourceDoesNotExist
from databricks.sdk.service.jobs import Job

from dbrx_api.errors import ConflictError, NotFoundError
from dbrx_api.jobs.resolution import (
    PipelineRef,
    find_pipelines_by_name,
    like_filter,
    resolve_pipeline,
    resolve_schedule_job,
)
from fixtures.pipelines import PID, PID2, job, pipeline_response, state_info, workspace_client


@pytest.fixture
def ws() -> Any:
    return workspace_client()


def test_like_filter_doubles_quotes() -> None:
    assert like_filter("it's") == "name LIKE 'it''s'"


def test_wildcards_in_names_are_literal(ws: Any) -> None:
    # `LIKE 'sales_2024%'` matches all three upstream; only the exact name is kept.
    ws.pipelines.list_pipelines.return_value = iter(
        [
            state_info(PID, "sales_2024%"),
            state_info(PID2, "sales_2024x"),
            state_info("p3", "sales_20245_more"),
        ]
    )
    found = find_pipelines_by_name(ws, "sales_2024%")
    assert [p.pipeline_id for p in found] == [PID]
    ws.pipelines.list_pipelines.assert_called_once_with(
        filter="name LIKE 'sales_2024%'", max_results=100
    )


def test_exact_match_is_case_sensitive(ws: Any) -> None:
    ws.pipelines.list_pipelines.return_value = iter([state_info(PID, "Sales")])
    assert find_pipelines_by_name(ws, "sales") == []


def test_backslash_names_are_looked_up_by_full_listing(ws: Any) -> None:
    ws.pipelines.list_pipelines.return_value = iter(
        [state_info(PID, "a\\b"), state_info(PID2, "a_b")]
    )
    assert [p.name for p in find_pipelines_by_name(ws, "a\\b")] == ["a\\b"]
    ws.pipelines.list_pipelines.assert_called_once_with(max_results=100)


def test_uuid_is_read_by_id_first(ws: Any) -> None:
    ws.pipelines.get.return_value = pipeline_response(PID, "p")
    ref = resolve_pipeline(ws, PID, with_spec=False)
    assert (ref.pipeline_id, ref.name) == (PID, "p")
    assert ref.detail is not None
    ws.pipelines.list_pipelines.assert_not_called()


def test_uuid_not_found_as_id_is_tried_as_a_name(ws: Any) -> None:
    ws.pipelines.get.side_effect = [
        ResourceDoesNotExist(f"The specified pipeline {PID} was not found."),
        pipeline_response(PID2, PID),
    ]
    ws.pipelines.list_pipelines.return_value = iter([state_info(PID2, PID)])
    ref = resolve_pipeline(ws, PID, with_spec=True)
    assert ref.pipeline_id == PID2
    assert ws.pipelines.get.call_args_list == [call(PID), call(PID2)]


def test_name_without_spec_costs_one_listing(ws: Any) -> None:
    ws.pipelines.list_pipelines.return_value = iter([state_info(PID, "orders")])
    ref = resolve_pipeline(ws, "orders", with_spec=False)
    assert ref == PipelineRef(PID, "orders", None)
    ws.pipelines.get.assert_not_called()


def test_unknown_pipeline_is_404(ws: Any) -> None:
    ws.pipelines.list_pipelines.return_value = iter([state_info(PID, "orders_x")])
    with pytest.raises(NotFoundError) as caught:
        resolve_pipeline(ws, "orders", with_spec=True)
    assert caught.value.code == "pipeline_not_found"


def test_ambiguous_name_lists_the_ids(ws: Any) -> None:
    ws.pipelines.list_pipelines.return_value = iter(
        [state_info(PID2, "orders"), state_info(PID, "orders")]
    )
    with pytest.raises(ConflictError) as caught:
        resolve_pipeline(ws, "orders", with_spec=True)
    assert caught.value.code == "pipeline_name_ambiguous"
    assert caught.value.extra["pipeline_ids"] == sorted([PID, PID2])
    ws.pipelines.get.assert_not_called()


# ------------------------------------------------------------------------------------------ jobs

REF = PipelineRef(PID, "orders")


def test_numeric_job_is_read_by_id_and_must_be_linked(ws: Any) -> None:
    linked = job(5, "orders_schedule")
    ws.jobs.get.return_value = Job(job_id=5, settings=linked.settings)
    assert resolve_schedule_job(ws, "5", REF).job_id == 5
    ws.jobs.get.assert_called_once_with(5)

    ws.jobs.get.return_value = Job(job_id=6, settings=job(6, "other", [PID2]).settings)
    with pytest.raises(NotFoundError) as caught:
        resolve_schedule_job(ws, "6", REF)
    assert caught.value.code == "job_not_found"
    assert "not a schedule of pipeline" in caught.value.detail


@pytest.mark.parametrize(
    "error",
    [
        InvalidParameterValue("Job 5 does not exist.", error_code="INVALID_PARAMETER_VALUE"),
        ResourceDoesNotExist("Job 5 does not exist.", error_code="INVALID_PARAMETER_VALUE"),
        NotFound("Job 5 does not exist.", error_code="NOT_FOUND"),
    ],
)
def test_missing_job_is_404_whatever_the_upstream_shape(ws: Any, error: Exception) -> None:
    ws.jobs.get.side_effect = error
    with pytest.raises(NotFoundError) as caught:
        resolve_schedule_job(ws, "5", REF)
    assert caught.value.code == "job_not_found"


def test_job_name_lookup_keeps_linked_jobs(ws: Any) -> None:
    ws.jobs.list.return_value = iter(
        [job(7, "Orders_Schedule", [PID2]), job(8, "orders_schedule", [PID])]
    )
    assert resolve_schedule_job(ws, "orders_schedule", REF).job_id == 8
    ws.jobs.list.assert_called_once_with(name="orders_schedule", expand_tasks=True)


def test_several_linked_jobs_with_the_name_are_ambiguous(ws: Any) -> None:
    ws.jobs.list.return_value = iter([job(7, "s"), job(8, "S")])
    with pytest.raises(ConflictError) as caught:
        resolve_schedule_job(ws, "s", REF)
    assert caught.value.code == "job_name_ambiguous"
    assert caught.value.extra["job_ids"] == [7, 8]


def test_unknown_job_name_is_404(ws: Any) -> None:
    ws.jobs.list.return_value = iter([])
    with pytest.raises(NotFoundError) as caught:
        resolve_schedule_job(ws, "nope", REF)
    assert caught.value.code == "job_not_found"
