"""Which live job is a pipeline's schedule job: the plan adopts and the export describes the same one."""

from __future__ import annotations

from dbrx_api.settings import ScheduleDefaults
from dbrx_api.workflow.resources.schedule import jobs_running, running_job
from fixtures.sharepacks import FakeLiveLookup, live_job


def test_the_lowest_id_running_the_pipeline_comes_first_whatever_the_listing_order() -> None:
    lookup = FakeLiveLookup()
    lookup.jobs = [
        live_job(9, "orders_schedule", "p-1"),
        live_job(4, "orders_schedule", "p-2"),  # runs another pipeline
        live_job(7, "orders_schedule", "p-1"),
        live_job(2, "other_schedule", "p-1"),  # another name
    ]

    assert [job.job_id for job in jobs_running(lookup, "orders_schedule", "p-1")] == [7, 9]
    chosen = running_job(lookup, "orders", "p-1", ScheduleDefaults())
    assert chosen is not None
    assert chosen.job_id == 7


def test_a_pipeline_without_an_id_has_no_running_job() -> None:
    lookup = FakeLiveLookup()
    lookup.jobs = [live_job(1, "orders_schedule", "p-1")]

    assert jobs_running(lookup, "orders_schedule", None) == []
    assert jobs_running(lookup, "orders_schedule", "p-9") == []
