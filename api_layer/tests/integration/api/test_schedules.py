"""Schedule endpoints through HTTP, the real databricks-sdk and the emulator (docs/API.md §8, §11.8)."""

from __future__ import annotations

from typing import Any

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.service.jobs import Continuous, PauseStatus, PipelineTask, Task
from fastapi.testclient import TestClient

from fixtures.api import align_emulator_clock
from fixtures.pipelines_api import (
    api_calls,
    seed_with,
    sharing_pipeline_seed,
)

pytestmark = pytest.mark.integration


def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = dict(response.json())
    assert body["code"] == code, body
    return body


@pytest.fixture
def pid(papi: TestClient, emu: Any) -> str:
    """A seeded pipeline `orders_share` (no schedule yet)."""
    seed_with(emu, pipelines=[sharing_pipeline_seed("orders_share")])
    response = papi.get("/pipelines/orders_share")
    assert response.status_code == 200, response.text
    return str(response.json()["pipeline_id"])


def schedule(papi: TestClient, **body: Any) -> dict[str, Any]:
    response = papi.post(
        "/pipelines/orders_share/schedules", json={"cron_expression": "0 0 2 * * ?", **body}
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_create_and_list(papi: TestClient, pid: str, emu_client: WorkspaceClient) -> None:
    response = papi.post(
        "/pipelines/orders_share/schedules",
        json={
            "cron_expression": "0 30 2 ? * MON-FRI",
            "time_zone": "europe/paris",
            "email_notifications": ["ops@example.com"],
            "tags": {"team": "data"},
            "description": "weekday nights",
        },
    )
    assert response.status_code == 201, response.text
    assert response.headers["location"] == f"/schedules/pipeline/{pid}"
    created = response.json()
    assert created["job_name"] == "orders_share_schedule"
    assert created["pipelines"] == [{"pipeline_id": pid, "name": "orders_share"}]
    assert (created["cron_expression"], created["timezone"], created["pause_status"]) == (
        "0 30 2 ? * MON-FRI",
        "Europe/Paris",
        "UNPAUSED",
    )
    settings = emu_client.jobs.get(created["job_id"]).settings
    assert settings is not None
    assert settings.schedule is not None
    assert settings.tasks is not None
    assert settings.schedule.timezone_id == "Europe/Paris"
    assert settings.tasks[0].task_key == "run_pipeline"
    assert settings.tasks[0].pipeline_task is not None
    assert settings.tasks[0].pipeline_task.pipeline_id == pid
    assert settings.max_concurrent_runs == 1
    assert settings.email_notifications is not None
    assert settings.email_notifications.on_failure == ["ops@example.com"]

    listed = papi.get("/schedules/pipeline/orders_share").json()
    assert listed["pipeline_id"] == pid
    assert [s["job_id"] for s in listed["items"]] == [created["job_id"]]
    everything = papi.get("/schedules").json()
    assert [s["job_id"] for s in everything["items"]] == [created["job_id"]]
    assert everything["items"][0]["pipelines"][0]["name"] == "orders_share"


@pytest.mark.parametrize(
    ("body", "error_type", "fragment"),
    [
        ({"cron_expression": "0 2 * * 1-5"}, "cron_not_quartz", "0 0 2 ? * 2-6"),
        ({"cron_expression": "0 0 2 * * *"}, "cron_invalid", "are both set"),
        ({"cron_expression": "0 0 2 * * ?", "timezone": "+01:00"}, "timezone_invalid", "IANA"),
        (
            {"cron_expression": "0 0 2 * * ?", "timezone": "Mars/Olympus"},
            "timezone_invalid",
            "IANA",
        ),
    ],
)
def test_invalid_cron_and_timezone_are_422_without_upstream_calls(
    papi: TestClient, pid: str, emu: Any, body: dict[str, Any], error_type: str, fragment: str
) -> None:
    emu.reset_stats()
    response = problem(
        papi.post("/pipelines/orders_share/schedules", json=body), 422, "validation_failed"
    )
    (error,) = response["errors"]
    assert error["type"] == error_type
    assert fragment in error["msg"]
    assert error["loc"][0] == "body"
    assert api_calls(emu) == 0


def test_duplicates_are_409(papi: TestClient, pid: str, emu: Any) -> None:
    first = schedule(papi)
    problem(
        papi.post("/pipelines/orders_share/schedules", json={"cron_expression": "0 0 3 * * ?"}),
        409,
        "schedule_already_exists",
    )
    body = problem(
        papi.post(
            "/pipelines/orders_share/schedules",
            json={"job_name": "second", "cron_expression": " '0 0 2 * * ?' ", "timezone": "utc"},
        ),
        409,
        "schedule_duplicate_cron",
    )
    assert body["job_id"] == first["job_id"]
    # The same cron in another time zone is a different schedule.
    schedule(papi, job_name="second", timezone="Europe/London")


def test_change_cron_and_timezone(
    papi: TestClient, pid: str, emu: Any, emu_client: WorkspaceClient
) -> None:
    job_id = schedule(papi, timezone="Europe/Paris", paused=True)["job_id"]
    response = papi.patch(
        "/pipelines/orders_share/schedules/orders_share_schedule/cron",
        json={"cron_expression": "0 15 4 * * ?"},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "pipeline_id": pid,
        "pipeline_name": "orders_share",
        "job_id": job_id,
        "job_name": "orders_share_schedule",
        "cron_expression": "0 15 4 * * ?",
        "timezone": "Europe/Paris",
        "pause_status": "PAUSED",
        "changed": True,
    }
    changed = papi.patch(
        f"/pipelines/{pid}/schedules/{job_id}/timezone", json={"time_zone": "America/New_York"}
    )
    assert changed.json()["timezone"] == "America/New_York"
    assert changed.json()["cron_expression"] == "0 15 4 * * ?"
    settings = emu_client.jobs.get(job_id).settings
    assert settings is not None
    assert settings.schedule is not None
    assert settings.schedule.quartz_cron_expression == "0 15 4 * * ?"
    assert settings.schedule.timezone_id == "America/New_York"
    assert settings.schedule.pause_status == PauseStatus.PAUSED
    assert settings.tasks
    assert settings.tasks[0].pipeline_task is not None

    emu.reset_stats()
    same = papi.patch(
        f"/pipelines/{pid}/schedules/{job_id}/cron", json={"cron_expression": "0 15 4 * * ?"}
    )
    assert same.json()["changed"] is False
    assert emu.count("jobs.update") == 0
    bad = problem(
        papi.patch(
            f"/pipelines/{pid}/schedules/{job_id}/cron", json={"cron_expression": "*/5 * * * *"}
        ),
        422,
        "validation_failed",
    )
    assert bad["errors"][0]["type"] == "cron_not_quartz"
    problem(
        papi.patch(
            f"/pipelines/{pid}/schedules/{job_id}/timezone", json={"timezone": "Nowhere/City"}
        ),
        422,
        "validation_failed",
    )


def test_unknown_or_unlinked_job_is_404(
    papi: TestClient, pid: str, emu_client: WorkspaceClient
) -> None:
    for job in ("nope", "987654"):
        problem(
            papi.patch(
                f"/pipelines/orders_share/schedules/{job}/cron",
                json={"cron_expression": "0 0 1 * * ?"},
            ),
            404,
            "job_not_found",
        )
        problem(papi.delete(f"/pipelines/orders_share/schedules/{job}"), 404, "job_not_found")
    other = emu_client.pipelines.create(
        name="other", catalog="share_cat", schema="sales_ext"
    ).pipeline_id
    foreign = emu_client.jobs.create(
        name="foreign",
        tasks=[Task(task_key="t", pipeline_task=PipelineTask(pipeline_id=other or ""))],
    ).job_id
    body = problem(
        papi.delete(f"/pipelines/orders_share/schedules/{foreign}"), 404, "job_not_found"
    )
    assert "not a schedule of pipeline" in body["detail"]
    assert emu_client.jobs.get(foreign or 0).job_id == foreign
    problem(papi.get("/schedules/pipeline/ghost"), 404, "pipeline_not_found")
    problem(
        papi.post("/pipelines/ghost/schedules", json={"cron_expression": "0 0 1 * * ?"}),
        404,
        "pipeline_not_found",
    )


def test_continuous_job_is_not_a_cron_schedule(
    papi: TestClient, pid: str, emu_client: WorkspaceClient
) -> None:
    job_id = emu_client.jobs.create(
        name="always_on",
        tasks=[Task(task_key="t", pipeline_task=PipelineTask(pipeline_id=pid))],
        continuous=Continuous(pause_status=PauseStatus.UNPAUSED),
    ).job_id
    problem(
        papi.patch(f"/pipelines/{pid}/schedules/{job_id}/timezone", json={"timezone": "UTC"}),
        409,
        "schedule_not_cron",
    )
    listed = papi.get("/schedules/pipeline/orders_share").json()["items"]
    assert listed[0]["schedule_type"] == "continuous"
    assert listed[0]["cron_expression"] is None


def test_delete_one_and_all(papi: TestClient, pid: str, emu_client: WorkspaceClient) -> None:
    first = schedule(papi)["job_id"]
    second = schedule(papi, job_name="weekly", cron_expression="0 0 5 ? * SUN")["job_id"]
    third = schedule(papi, job_name="monthly", cron_expression="0 0 5 1 * ?")["job_id"]
    deleted = papi.delete(f"/pipelines/orders_share/schedules/{first}")
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["deleted"] is True
    assert deleted.json()["job_name"] == "orders_share_schedule"
    all_deleted = papi.delete("/pipelines/orders_share/schedules").json()
    assert sorted(j["job_id"] for j in all_deleted["deleted"]) == sorted([second, third])
    assert papi.get("/schedules/pipeline/orders_share").json()["items"] == []
    assert papi.delete("/pipelines/orders_share/schedules").json()["deleted"] == []
    assert pid


def test_every_schedule_is_listed(
    papi: TestClient, emu: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    count = 250
    pipelines = [sharing_pipeline_seed(f"p{i:03d}") for i in range(count)]
    jobs = [
        {
            "name": f"p{i:03d}_schedule",
            "settings": {
                "tasks": [{"task_key": "run_pipeline", "pipeline_task": {"pipeline": f"p{i:03d}"}}],
                "schedule": {
                    "quartz_cron_expression": "0 0 2 * * ?",
                    "timezone_id": "UTC",
                    "pause_status": "PAUSED",
                },
            },
        }
        for i in range(count)
    ]
    jobs.append(
        {
            "name": "not_a_schedule",
            "settings": {
                "tasks": [{"task_key": "n", "notebook_task": {"notebook_path": "/Workspace/x"}}]
            },
        }
    )
    seed_with(emu, pipelines=pipelines, jobs=jobs)
    response = papi.get("/schedules")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["count"], body["total"], body["next_offset"]) == (count, count, None)
    assert [s["job_name"] for s in body["items"]] == [f"p{i:03d}_schedule" for i in range(count)]
    assert all(
        s["pipelines"][0]["name"] == s["job_name"].removesuffix("_schedule") for s in body["items"]
    )
    pages = emu.count("jobs.list")
    with capsys.disabled():  # shown in every run: the measurement issue 3 asks for
        print(  # noqa: T201
            f"\n[schedules] GET /schedules over {count} scheduled pipelines: {body['count']} schedules "
            f"from {pages} jobs.list pages"
        )
    assert pages >= 3  # more than two upstream pages were read
    sliced = papi.get("/schedules", params={"prefix": "P24", "limit": 5, "offset": 5}).json()
    assert [s["job_name"] for s in sliced["items"]] == [f"p{i}_schedule" for i in range(245, 250)]
    assert sliced["total"] == 10


def test_create_is_not_replayed_after_a_lost_response(
    make_api: Any, pid: str, emu: Any, emu_client: WorkspaceClient
) -> None:
    """The SDK replays a POST whose answer was lost (a second job); the API sends `jobs.create` once and finds
    the job it made by name instead."""
    api = make_api(databricks={"sdk": {"retry_timeout_s": 2, "http_timeout_s": 2}})
    align_emulator_clock(
        emu
    )  # `pid` reseeded the emulator; the read-back compares creation times with now
    emu.add_fault(operation="jobs.create", kind="applied_response_lost", times=1)
    response = api.post(
        "/pipelines/orders_share/schedules", json={"cron_expression": "0 0 2 * * ?"}
    )
    assert response.status_code == 201, response.text
    assert emu.count("jobs.create") == 1
    jobs = list(emu_client.jobs.list(name="orders_share_schedule"))
    assert [job.job_id for job in jobs] == [response.json()["job_id"]]
    settings = emu_client.jobs.get(response.json()["job_id"]).settings
    assert settings is not None
    assert settings.tasks is not None
    assert settings.tasks[0].pipeline_task is not None
    assert settings.tasks[0].pipeline_task.pipeline_id == pid


def test_create_lost_and_not_applied_is_an_honest_502(make_api: Any, pid: str, emu: Any) -> None:
    api = make_api(databricks={"sdk": {"retry_timeout_s": 2, "http_timeout_s": 2}})
    emu.add_fault(operation="jobs.create", kind="drop_before_apply", times=1)
    response = api.post(
        "/pipelines/orders_share/schedules", json={"cron_expression": "0 0 2 * * ?"}
    )
    problem(response, 502, "upstream_unreachable")
    assert emu.count("jobs.create") == 1
