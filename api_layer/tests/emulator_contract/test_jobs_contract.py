"""Contract tests: the Jobs 2.2 surface (C03, C07, C11 jobs part, C12 jobs part, C17 jobs.create, X07, X08) and the
run simulation of docs/EMULATOR.md §9.3 (run timelines, pipeline tasks, concurrency, run history seeds).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import (
    InvalidParameterValue,
    InvalidState,
    NotFound,
    ResourceDoesNotExist,
)
from databricks.sdk.service.jobs import (
    CronSchedule,
    JobEmailNotifications,
    JobSettings,
    NotebookTask,
    PipelineParams,
    PipelineTask,
    QueueSettings,
    Task,
    TaskDependency,
)

from dbrx_emulator.testing import Emu

pytestmark = pytest.mark.contract

STEP_MS = 1000
LIBRARY = "/Workspace/Shared/deltashare/pipelines/cdf_share_loader.py"
JOBS = "/api/2.2/jobs"


def pipeline_seed(name: str, source: str = "main.sales.orders", **extra: Any) -> dict[str, Any]:
    """A seeded sharing pipeline."""
    return {
        "name": name,
        "spec": {
            "catalog": "share_cat",
            "schema": "sales_ext",
            "serverless": True,
            "libraries": [{"file": {"path": LIBRARY}}],
            "configuration": {
                "pipelines.source_table": source,
                "pipelines.target_table": name,
                "pipelines.scd_type": "2",
            },
        },
        **extra,
    }


def seed_pipeline(emu: Emu, w: WorkspaceClient, name: str = "orders_share", **extra: Any) -> str:
    """Reset to `minimal` plus one pipeline; returns its id."""
    emu.reset(seed={"extends": "minimal", "pipelines": [pipeline_seed(name, **extra)]})
    return next(iter(w.pipelines.list_pipelines())).pipeline_id or ""


def notebook_tasks(count: int) -> list[Task]:
    """`count` independent notebook tasks."""
    return [
        Task(task_key=f"t{i:03d}", notebook_task=NotebookTask(notebook_path="/Workspace/nb"))
        for i in range(count)
    ]


def pipeline_job(
    w: WorkspaceClient, pid: str, name: str = "orders_share_schedule", **extra: Any
) -> int:
    """A job with one pipeline task."""
    created = w.jobs.create(
        name=name,
        tasks=[Task(task_key="run_pipeline", pipeline_task=PipelineTask(pipeline_id=pid))],
        **extra,
    )
    assert created.job_id
    return created.job_id


def job_names(jobs: Any) -> list[str]:
    """Names of listed jobs, in listing order."""
    names = []
    for job in jobs:
        assert job.settings is not None
        names.append(str(job.settings.name))
    return names


def run_now(w: WorkspaceClient, job_id: int, **kwargs: Any) -> int:
    """`jobs.run_now` without waiting; the new run's id."""
    run_id = w.jobs.run_now(job_id, **kwargs).bind()["run_id"]
    assert isinstance(run_id, int)
    return run_id


def life(w: WorkspaceClient, run_id: int) -> tuple[str, str | None]:
    """(life_cycle_state, result_state) of a run."""
    state = w.jobs.get_run(run_id).state
    assert state is not None
    assert state.life_cycle_state is not None
    return state.life_cycle_state.value, state.result_state.value if state.result_state else None


# ------------------------------------------------------------------------------------------ jobs


def test_c12_server_filled_defaults(emu: Emu, emu_client: WorkspaceClient) -> None:
    job_id = emu_client.jobs.create(
        tasks=[
            Task(task_key="b", notebook_task=NotebookTask(notebook_path="/nb")),
            Task(
                task_key="a",
                notebook_task=NotebookTask(notebook_path="/nb"),
                depends_on=[TaskDependency(task_key="b"), TaskDependency(task_key="a0")],
            ),
            Task(task_key="a0", notebook_task=NotebookTask(notebook_path="/nb")),
        ]
    ).job_id

    raw = emu_client.api_client.do("GET", f"{JOBS}/get", query={"job_id": job_id})

    settings = raw["settings"]
    assert settings["name"] == "Untitled"
    assert settings["email_notifications"] == {}
    assert settings["webhook_notifications"] == {}
    assert (settings["timeout_seconds"], settings["max_concurrent_runs"], settings["format"]) == (
        0,
        1,
        "MULTI_TASK",
    )
    for task in settings["tasks"]:
        assert (task["email_notifications"], task["run_if"], task["timeout_seconds"]) == (
            {},
            "ALL_SUCCESS",
            0,
        )
    assert settings["tasks"][1]["depends_on"] == [{"task_key": "a0"}, {"task_key": "b"}]
    assert raw["creator_user_name"] == "00000000-0000-0000-0000-00000000c0de"
    assert raw["created_time"] == emu.now_ms()
    assert raw["job_id"] == 1000
    assert "next_page_token" not in raw
    typed = emu_client.jobs.get(job_id or 0)
    assert typed.settings is not None
    assert typed.settings.max_concurrent_runs == 1


def test_create_validation(emu: Emu, emu_client: WorkspaceClient) -> None:
    def schedule(cron: str, tz: str = "UTC") -> CronSchedule:
        return CronSchedule(quartz_cron_expression=cron, timezone_id=tz)

    with pytest.raises(
        InvalidParameterValue, match="Invalid quartz_cron_expression '0 2 \\* \\* 1-5'"
    ):
        emu_client.jobs.create(name="j", schedule=schedule("0 2 * * 1-5"))
    with pytest.raises(InvalidParameterValue, match="Invalid quartz_cron_expression"):
        emu_client.jobs.create(name="j", schedule=schedule("0 0 * * * *"))  # both day fields set
    with pytest.raises(InvalidParameterValue, match="Invalid timezone_id 'Mars/Olympus'"):
        emu_client.jobs.create(name="j", schedule=schedule("0 0 2 * * ?", "Mars/Olympus"))
    with pytest.raises(InvalidParameterValue, match="Duplicate task_key 't000'"):
        emu_client.jobs.create(name="j", tasks=notebook_tasks(1) * 2)
    with pytest.raises(InvalidParameterValue, match="pipeline_id"):
        emu_client.api_client.do(
            "POST", f"{JOBS}/create", body={"tasks": [{"task_key": "p", "pipeline_task": {}}]}
        )
    with pytest.raises(InvalidParameterValue, match="depends on 'ghost'"):
        emu_client.jobs.create(
            tasks=[Task(task_key="a", depends_on=[TaskDependency(task_key="ghost")])]
        )
    with pytest.raises(InvalidParameterValue, match="pause_status"):
        emu_client.api_client.do(
            "POST",
            f"{JOBS}/create",
            body={
                "schedule": {
                    "quartz_cron_expression": "0 0 2 * * ?",
                    "timezone_id": "UTC",
                    "pause_status": "paused",
                }
            },
        )
    assert list(emu_client.jobs.list()) == []
    created = emu_client.jobs.create(
        name="ok", schedule=schedule("0 30 2 ? * MON-FRI 2026", "Europe/Paris")
    )
    got = emu_client.jobs.get(created.job_id or 0).settings
    assert got is not None
    assert got.schedule is not None
    assert got.schedule.pause_status is not None
    assert got.schedule.pause_status.value == "UNPAUSED"


def test_c07_missing_job_and_run_are_400(emu: Emu, emu_client: WorkspaceClient) -> None:
    with pytest.raises(ResourceDoesNotExist, match=r"Job 999 does not exist\."):
        emu_client.jobs.get(999)
    with pytest.raises(ResourceDoesNotExist, match=r"Run 999 does not exist\."):
        emu_client.jobs.get_run(999)
    for call in (
        lambda: emu_client.jobs.delete(999),
        lambda: emu_client.jobs.update(999, new_settings=JobSettings(name="x")),
        lambda: emu_client.jobs.reset(999, new_settings=JobSettings(name="x")),
        lambda: emu_client.jobs.run_now(999),
        lambda: list(emu_client.jobs.list_runs(job_id=999)),
    ):
        with pytest.raises(InvalidParameterValue) as raised:
            call()
        assert str(raised.value) == "Job 999 does not exist."
    statuses = emu.stats()["operations"]["jobs.get"]["statuses"]
    assert statuses == {"400": 1}
    emu.set_behaviour(jobs_not_found="not_found")
    with pytest.raises(NotFound, match=r"Job 999 does not exist\."):
        emu_client.jobs.delete(999)


def test_c03_jobs_get_pages_arrays_without_empty_tokens(
    emu: Emu, emu_client: WorkspaceClient
) -> None:
    job_id = emu_client.jobs.create(name="big", tasks=notebook_tasks(250)).job_id or 0
    emu.reset_stats()

    job = emu_client.jobs.get(job_id)

    assert job.settings is not None
    assert len(job.settings.tasks or []) == 250
    assert [t.task_key for t in job.settings.tasks or []] == [f"t{i:03d}" for i in range(250)]
    calls = emu.calls("jobs.get")
    assert len(calls) == 3
    assert "page_token" not in calls[0]["query"]
    assert all(c["query"]["page_token"] for c in calls[1:])
    api = emu_client.api_client
    page = api.do("GET", f"{JOBS}/get", query={"job_id": job_id})
    sizes = []
    while True:
        sizes.append(len(page["settings"]["tasks"]))
        token = page.get("next_page_token")
        assert token != ""
        if token is None:
            break
        page = api.do("GET", f"{JOBS}/get", query={"job_id": job_id, "page_token": token})
    assert sizes == [100, 100, 50]


def test_c03_get_run_pages_tasks(emu: Emu, emu_client: WorkspaceClient) -> None:
    job_id = emu_client.jobs.create(name="wide", tasks=notebook_tasks(150)).job_id or 0
    run_id = run_now(emu_client, job_id)
    emu.settle()
    emu.reset_stats()

    run = emu_client.jobs.get_run(run_id)

    assert len(run.tasks or []) == 150
    assert len({t.run_id for t in run.tasks or []}) == 150
    assert run.state is not None
    assert run.state.result_state is not None
    assert run.state.result_state.value == "SUCCESS"
    calls = emu.calls("jobs.get_run")
    assert len(calls) == 2
    raw = emu_client.api_client.do(
        "GET",
        f"{JOBS}/runs/get",
        query={"run_id": run_id, "page_token": calls[1]["query"]["page_token"]},
    )
    assert len(raw["tasks"]) == 50
    assert "next_page_token" not in raw


def test_c11_update_merges_and_reset_replaces(emu: Emu, emu_client: WorkspaceClient) -> None:
    job_id = emu_client.jobs.create(name="j", tasks=notebook_tasks(3), tags={"a": "1"}).job_id or 0

    emu_client.jobs.update(
        job_id,
        new_settings=JobSettings(
            tasks=[
                Task(task_key="t001", notebook_task=NotebookTask(notebook_path="/changed")),
                Task(task_key="new", notebook_task=NotebookTask(notebook_path="/nb")),
            ],
            max_concurrent_runs=3,
        ),
    )

    settings = emu_client.jobs.get(job_id).settings
    assert settings is not None
    tasks = {t.task_key: t for t in settings.tasks or []}
    assert list(tasks) == ["t000", "t001", "t002", "new"]
    assert tasks["t001"].notebook_task is not None
    assert tasks["t001"].notebook_task.notebook_path == "/changed"
    assert settings.max_concurrent_runs == 3
    assert settings.tags == {"a": "1"}
    assert settings.name == "j"

    emu_client.jobs.update(job_id, fields_to_remove=["tags", "tasks/t000"])
    settings = emu_client.jobs.get(job_id).settings
    assert settings is not None
    assert not settings.tags
    assert [t.task_key for t in settings.tasks or []] == ["t001", "t002", "new"]
    with pytest.raises(InvalidParameterValue, match="no such element"):
        emu_client.jobs.update(job_id, fields_to_remove=["tasks/ghost"])

    emu_client.jobs.reset(job_id, new_settings=JobSettings(name="only", tasks=notebook_tasks(1)))
    settings = emu_client.jobs.get(job_id).settings
    assert settings is not None
    assert settings.name == "only"
    assert [t.task_key for t in settings.tasks or []] == ["t000"]
    assert settings.max_concurrent_runs == 1  # defaults re-filled
    with pytest.raises(InvalidParameterValue, match="quartz"):
        emu_client.jobs.update(
            job_id,
            new_settings=JobSettings(
                schedule=CronSchedule(quartz_cron_expression="* * * * *", timezone_id="UTC")
            ),
        )
    assert emu_client.jobs.get(job_id).settings.schedule is None  # type: ignore[union-attr]


def test_c17_create_replayed_after_a_lost_response(emu: Emu, emu_client: WorkspaceClient) -> None:
    emu.add_fault(operation="jobs.create", kind="applied_response_lost", times=1)

    created = emu_client.jobs.create(name="replayed")

    assert created.job_id
    assert emu.count("jobs.create") == 2
    assert emu.stats()["operations"]["jobs.create"]["faults"] == {"applied_response_lost": 1}
    assert job_names(emu_client.jobs.list(name="replayed")) == ["replayed", "replayed"]


def test_x08_name_filter_is_exact_and_case_insensitive(
    emu: Emu, emu_client: WorkspaceClient
) -> None:
    exact = emu_client.jobs.create(name="x_schedule").job_id
    emu_client.jobs.create(name="x_schedule_old")
    emu_client.jobs.create(name="xXschedule")

    found = list(emu_client.jobs.list(name="X_SCHEDULE"))

    assert [j.job_id for j in found] == [exact]
    assert emu.calls("jobs.list")[0]["query"]["name"] == "X_SCHEDULE"
    assert sorted(job_names(emu_client.jobs.list())) == [
        "xXschedule",
        "x_schedule",
        "x_schedule_old",
    ]


def test_jobs_list_paging_and_expand_tasks(emu: Emu, emu_client: WorkspaceClient) -> None:
    ids = [emu_client.jobs.create(name=f"j{i}", tasks=notebook_tasks(2)).job_id for i in range(45)]
    wide = emu_client.jobs.create(name="wide", tasks=notebook_tasks(150)).job_id
    emu.reset_stats()

    plain = list(emu_client.jobs.list(limit=20))

    assert [j.job_id for j in plain] == [wide, *reversed(ids)]  # newest first
    assert all(not (j.settings and j.settings.tasks) for j in plain)
    assert emu.count("jobs.list") == 3
    pages = emu.calls("jobs.list")
    assert all(c["query"]["limit"] == "20" for c in pages)
    emu.reset_stats()
    expanded = list(emu_client.jobs.list(expand_tasks=True, limit=100))
    assert len(expanded[0].settings.tasks or []) == 150  # type: ignore[union-attr]
    gets = emu.calls("jobs.get")  # only the job whose tasks did not fit: its two pages
    assert [c["query"]["job_id"] for c in gets] == [str(wide), str(wide)]
    raw = emu_client.api_client.do(
        "GET", f"{JOBS}/list", query={"limit": 100, "expand_tasks": "true"}
    )
    assert raw["has_more"] is False
    assert "next_page_token" not in raw
    assert raw["jobs"][0]["has_more"] is True
    assert len(raw["jobs"][0]["settings"]["tasks"]) == 100
    first = emu_client.api_client.do("GET", f"{JOBS}/list", query={"limit": 40})
    assert first["has_more"] is True
    assert first["next_page_token"]
    rest = emu_client.api_client.do(
        "GET", f"{JOBS}/list", query={"page_token": first["next_page_token"]}
    )
    assert len(first["jobs"]) + len(rest["jobs"]) == 46
    assert rest["has_more"] is False
    offset = emu_client.api_client.do("GET", f"{JOBS}/list", query={"limit": 5, "offset": 44})
    assert [j["job_id"] for j in offset["jobs"]] == [ids[1], ids[0]]


def test_x07_jobs_limits(emu: Emu, emu_client: WorkspaceClient) -> None:
    job_id = emu_client.jobs.create(name="j", tasks=notebook_tasks(1)).job_id or 0
    for _ in range(60):
        emu.control.post(f"/jobs/{job_id}/fire")
    emu.settle()

    with pytest.raises(InvalidParameterValue, match="limit"):
        list(emu_client.jobs.list(limit=101))
    with pytest.raises(InvalidParameterValue, match="limit"):
        list(emu_client.jobs.list(limit=0))
    with pytest.raises(InvalidParameterValue, match="limit"):
        list(emu_client.jobs.list_runs(limit=26))
    emu.reset_stats()
    runs = list(emu_client.jobs.list_runs(job_id=job_id, limit=0))
    assert len(runs) == 60
    sizes = [
        len(emu_client.api_client.do("GET", f"{JOBS}/runs/list", query=c["query"])["runs"])
        for c in emu.calls("jobs.list_runs")
    ]
    assert sizes == [25, 25, 10]


# ------------------------------------------------------------------------------------------ runs


def test_x08_run_now_starts_a_job_task_update(emu: Emu, emu_client: WorkspaceClient) -> None:
    pid = seed_pipeline(emu, emu_client)
    job_id = pipeline_job(emu_client, pid)

    run_id = run_now(emu_client, job_id, pipeline_params=PipelineParams(full_refresh=True))

    assert life(emu_client, run_id) == ("PENDING", None)
    assert not (emu_client.pipelines.list_updates(pid).updates)
    assert not ([])
    emu.advance(STEP_MS)
    assert life(emu_client, run_id) == ("RUNNING", None)
    updates = emu_client.pipelines.list_updates(pid).updates or []
    assert len(updates) == 1
    assert updates[0].cause is not None
    assert updates[0].cause.value == "JOB_TASK"
    assert updates[0].full_refresh is True
    emu.settle()
    assert life(emu_client, run_id) == ("TERMINATED", "SUCCESS")
    run = emu_client.jobs.get_run(run_id)
    assert run.trigger is not None
    assert run.trigger.value == "ONE_TIME"
    assert run.number_in_job == 1
    assert run.run_name == "orders_share_schedule"
    assert run.run_page_url == f"{emu.url}/#job/{job_id}/run/{run_id}"
    update = updates[0]
    assert run.start_time is not None
    assert run.end_time is not None
    assert update.creation_time is not None
    assert run.start_time < update.creation_time < run.end_time
    assert run.setup_duration == STEP_MS
    assert run.cleanup_duration == STEP_MS
    assert run.run_duration == run.end_time - run.start_time
    assert run.status is not None
    assert run.status.termination_details is not None
    assert run.status.termination_details.code is not None
    assert run.status.termination_details.code.value == "SUCCESS"
    assert emu_client.pipelines.get(pid).state.value == "IDLE"  # type: ignore[union-attr]


def test_x08_list_runs_time_window_is_inclusive(emu: Emu, emu_client: WorkspaceClient) -> None:
    job_id = emu_client.jobs.create(name="j", tasks=notebook_tasks(1)).job_id or 0
    starts = []
    for _ in range(5):
        starts.append(emu.now_ms())
        run_now(emu_client, job_id)
        emu.settle()
        emu.advance(60_000)

    def listed(start_time_from: int | None = None, start_time_to: int | None = None) -> list[int]:
        runs = emu_client.jobs.list_runs(
            job_id=job_id, start_time_from=start_time_from, start_time_to=start_time_to
        )
        return [r.start_time or 0 for r in runs]

    assert listed() == sorted(starts, reverse=True)
    assert listed(start_time_from=starts[2]) == sorted(starts[2:], reverse=True)
    assert listed(start_time_to=starts[1]) == sorted(starts[:2], reverse=True)
    assert listed(start_time_from=starts[1], start_time_to=starts[3]) == sorted(
        starts[1:4], reverse=True
    )
    assert emu.calls("jobs.list_runs")[1]["query"]["start_time_from"] == str(starts[2])
    everything = [r.job_id for r in emu_client.jobs.list_runs(start_time_from=starts[4])]
    assert everything == [job_id]


def test_list_runs_state_filters_and_expand(emu: Emu, emu_client: WorkspaceClient) -> None:
    job_id = (
        emu_client.jobs.create(name="j", tasks=notebook_tasks(2), max_concurrent_runs=5).job_id or 0
    )
    done = run_now(emu_client, job_id)
    emu.settle()
    active = run_now(emu_client, job_id)

    assert [r.run_id for r in emu_client.jobs.list_runs(active_only=True)] == [active]
    assert [r.run_id for r in emu_client.jobs.list_runs(completed_only=True)] == [done]
    with pytest.raises(InvalidParameterValue, match="cannot both be true"):
        list(emu_client.jobs.list_runs(active_only=True, completed_only=True))
    expanded = list(emu_client.jobs.list_runs(expand_tasks=True))
    assert all(len(r.tasks or []) == 2 for r in expanded)
    assert all(not r.tasks for r in emu_client.jobs.list_runs())


def test_pipeline_task_failures(emu: Emu, emu_client: WorkspaceClient) -> None:
    pid = seed_pipeline(emu, emu_client)
    busy_job = pipeline_job(emu_client, pid)
    ghost_job = pipeline_job(emu_client, "00000000-0000-4000-8000-00000000dead", name="ghost")

    emu_client.pipelines.start_update(pid)  # the pipeline is busy when the run's task starts
    busy_run = run_now(emu_client, busy_job)
    ghost_run = run_now(emu_client, ghost_job)
    emu.settle()

    assert life(emu_client, busy_run) == ("TERMINATED", "FAILED")
    message = emu_client.jobs.get_run(busy_run).state.state_message  # type: ignore[union-attr]
    assert message is not None
    assert "already has an active update" in message
    assert life(emu_client, ghost_run) == ("TERMINATED", "FAILED")
    assert "was not found" in (emu_client.jobs.get_run(ghost_run).state.state_message or "")  # type: ignore[union-attr]
    emu.control.post(
        f"/pipelines/{pid}/next-outcome", json={"outcome": "FAILED", "error_message": "boom"}
    )
    failing = run_now(emu_client, busy_job)
    emu.settle()
    assert life(emu_client, failing) == ("TERMINATED", "FAILED")
    failed_run = emu_client.jobs.get_run(failing)
    assert "boom" in (failed_run.state.state_message or "")  # type: ignore[union-attr]
    assert failed_run.tasks is not None
    assert failed_run.tasks[0].state is not None
    assert failed_run.tasks[0].state.result_state is not None
    assert failed_run.tasks[0].state.result_state.value == "FAILED"


def test_stopping_the_update_fails_the_run(emu: Emu, emu_client: WorkspaceClient) -> None:
    pid = seed_pipeline(emu, emu_client)
    run_id = run_now(emu_client, pipeline_job(emu_client, pid))
    emu.advance(3 * STEP_MS)

    emu_client.pipelines.stop(pid)
    emu.settle()

    assert life(emu_client, run_id) == ("TERMINATED", "FAILED")
    assert "canceled" in (emu_client.jobs.get_run(run_id).state.state_message or "")  # type: ignore[union-attr]


def test_task_dependencies_run_in_order(emu: Emu, emu_client: WorkspaceClient) -> None:
    pid = seed_pipeline(emu, emu_client)
    job_id = (
        emu_client.jobs.create(
            name="chain",
            tasks=[
                Task(task_key="refresh", pipeline_task=PipelineTask(pipeline_id=pid)),
                Task(
                    task_key="report",
                    notebook_task=NotebookTask(notebook_path="/nb"),
                    depends_on=[TaskDependency(task_key="refresh")],
                ),
            ],
        ).job_id
        or 0
    )
    run_id = run_now(emu_client, job_id)
    emu.settle()

    tasks = {t.task_key: t for t in emu_client.jobs.get_run(run_id).tasks or []}
    update = (emu_client.pipelines.list_updates(pid).updates or [])[0]
    assert tasks["refresh"].end_time == tasks["report"].start_time
    ended = emu_client.pipelines.get_update(pid, update.update_id or "").update
    assert ended is not None
    assert ended.state is not None
    assert ended.state.value == "COMPLETED"
    assert (tasks["report"].end_time or 0) - (tasks["report"].start_time or 0) == 2 * STEP_MS


def test_concurrency_skips_or_queues(emu: Emu, emu_client: WorkspaceClient) -> None:
    job_id = emu_client.jobs.create(name="j", tasks=notebook_tasks(1)).job_id or 0
    first = run_now(emu_client, job_id)
    skipped = run_now(emu_client, job_id)

    assert life(emu_client, skipped) == ("SKIPPED", None)
    message = emu_client.jobs.get_run(skipped).state.state_message  # type: ignore[union-attr]
    assert (
        message
        == "Skipping this run because the limit of 1 maximum concurrent runs has been reached."
    )

    emu_client.jobs.update(job_id, new_settings=JobSettings(queue=QueueSettings(enabled=True)))
    queued = run_now(emu_client, job_id)
    assert life(emu_client, queued) == ("QUEUED", None)
    assert emu_client.jobs.get_run(queued).state.queue_reason  # type: ignore[union-attr]
    emu.settle()
    assert life(emu_client, first) == ("TERMINATED", "SUCCESS")
    assert life(emu_client, queued) == ("TERMINATED", "SUCCESS")
    first_end = emu_client.jobs.get_run(first).end_time or 0
    queued_run = emu_client.jobs.get_run(queued)
    assert queued_run.queue_duration == first_end - (queued_run.start_time or 0)


def test_idempotency_token_returns_the_same_run(emu: Emu, emu_client: WorkspaceClient) -> None:
    job_id = emu_client.jobs.create(name="j", max_concurrent_runs=10).job_id or 0

    first = run_now(emu_client, job_id, idempotency_token="once")
    again = run_now(emu_client, job_id, idempotency_token="once")
    other = run_now(emu_client, job_id, idempotency_token="twice")
    emu.advance(3_600_001)
    later = run_now(emu_client, job_id, idempotency_token="once")

    assert first == again
    assert len({first, other, later}) == 3


def test_delete_removes_runs(emu: Emu, emu_client: WorkspaceClient) -> None:
    job_id = emu_client.jobs.create(name="j").job_id or 0
    run_id = run_now(emu_client, job_id)

    emu_client.jobs.delete(job_id)

    with pytest.raises(ResourceDoesNotExist):
        emu_client.jobs.get_run(run_id)
    assert list(emu_client.jobs.list_runs()) == []


def test_job_creation_rate_limit(emu: Emu, emu_client: WorkspaceClient) -> None:
    emu.set_behaviour(job_create_rate_per_hour=2)
    emu_client.jobs.create(name="a")
    emu_client.jobs.create(name="b")

    with pytest.raises(
        InvalidState, match="exceeding rate limit: 2 job creations per 3600 seconds"
    ):
        emu_client.jobs.create(name="c")
    emu.advance(3_600_000)
    assert emu_client.jobs.create(name="c").job_id


# ------------------------------------------------------------------------------------------ seeds


def test_default_seed_schedule_job_and_linked_run(emu: Emu, emu_client: WorkspaceClient) -> None:
    emu.reset(seed_file="default")

    jobs = list(emu_client.jobs.list(name="sales_orders_share_schedule", expand_tasks=True))

    assert len(jobs) == 1
    assert jobs[0].settings is not None
    schedule = jobs[0].settings.schedule
    assert schedule is not None
    assert schedule.quartz_cron_expression == "0 0 2 * * ?"
    pid = (jobs[0].settings.tasks or [])[0].pipeline_task.pipeline_id  # type: ignore[union-attr]
    assert emu_client.pipelines.get(pid or "").name == "sales_orders_share"
    runs = list(emu_client.jobs.list_runs(job_id=jobs[0].job_id))
    results = [r.state.result_state.value for r in runs if r.state and r.state.result_state]
    assert results == ["SUCCESS", "FAILED", "SUCCESS"]  # newest first
    assert all(r.trigger is not None and r.trigger.value == "PERIODIC" for r in runs)
    assert "Source table changed schema" in (runs[1].state.state_message or "")  # type: ignore[union-attr]
    job_updates = [
        u
        for u in emu_client.pipelines.list_updates(pid or "").updates or []
        if u.cause and u.cause.value == "JOB_TASK"
    ]
    for run in runs:  # each run spans exactly one JOB_TASK update
        linked = [
            u
            for u in job_updates
            if (run.start_time or 0) <= (u.creation_time or 0) <= (run.end_time or 0)
        ]
        assert len(linked) == 1


def test_run_history_of_ten_thousand_pipeline_runs(emu: Emu, emu_client: WorkspaceClient) -> None:
    seed = {
        "extends": "minimal",
        "pipelines": [pipeline_seed("busy")],
        "jobs": [
            {
                "name": "busy_schedule",
                "settings": {"tasks": [{"task_key": "run", "pipeline_task": {"pipeline": "busy"}}]},
                "history": [
                    {"count": 9990, "every": "1h", "last": "-2d", "failed_every": 50},
                    {"count": 10, "every": "1h", "last": "-1h"},
                ],
            }
        ],
    }
    started = time.perf_counter()
    emu.reset(seed=seed)
    seconds = time.perf_counter() - started
    print(f"reset with 10,000 seeded pipeline runs: {seconds * 1000:.0f} ms")  # noqa: T201 - measured value, reported by -s runs
    job = next(iter(emu_client.jobs.list(name="busy_schedule")))
    day_ago = emu.now_ms() - 86_400_000
    emu.reset_stats()

    recent = list(emu_client.jobs.list_runs(job_id=job.job_id, start_time_from=day_ago, limit=25))

    assert len(recent) == 10
    assert emu.count("jobs.list_runs") == 1
    assert all(
        r.state and r.state.result_state and r.state.result_state.value == "SUCCESS" for r in recent
    )
    pid = next(iter(emu_client.pipelines.list_pipelines())).pipeline_id or ""
    updates = emu_client.pipelines.list_updates(pid, max_results=10).updates or []
    for run, update in zip(recent, updates, strict=True):
        assert update.cause is not None
        assert update.cause.value == "JOB_TASK"
        assert (run.start_time or 0) < (update.creation_time or 0) < (run.end_time or 0)
    failed = list(
        emu_client.jobs.list_runs(job_id=job.job_id, start_time_to=day_ago - 86_400_000, limit=25)
    )
    assert len(failed) == 9990
    assert (
        sum(
            1
            for r in failed
            if r.state and r.state.result_state and r.state.result_state.value == "FAILED"
        )
        == 9990 // 50
    )


def test_two_hundred_fifty_scheduled_pipelines(emu: Emu, emu_client: WorkspaceClient) -> None:
    seed = {
        "extends": "minimal",
        "pipelines": [{**pipeline_seed("p{n:03d}"), "count": 250}],
        "jobs": [
            {
                "name": "p{n:03d}_schedule",
                "count": 250,
                "settings": {
                    "tasks": [
                        {"task_key": "run_pipeline", "pipeline_task": {"pipeline": "p{n:03d}"}}
                    ],
                    "schedule": {"quartz_cron_expression": "0 0 2 * * ?", "timezone_id": "UTC"},
                },
            }
        ],
    }
    started = time.perf_counter()
    emu.reset(seed=seed)
    print(f"reset with 250 scheduled pipelines: {(time.perf_counter() - started) * 1000:.0f} ms")  # noqa: T201 - measured value, reported by -s runs
    emu.reset_stats()

    jobs = list(emu_client.jobs.list(expand_tasks=True, limit=100))

    assert sorted(job_names(jobs)) == [f"p{n:03d}_schedule" for n in range(250)]
    assert emu.count("jobs.list") == 3
    assert emu.count("jobs.get") == 0
    pipelines = {
        p.pipeline_id: p.name for p in emu_client.pipelines.list_pipelines(max_results=100)
    }
    for job in jobs:
        task = (job.settings.tasks or [])[0]  # type: ignore[union-attr]
        assert task.pipeline_task is not None
        assert f"{pipelines[task.pipeline_task.pipeline_id]}_schedule" == job.settings.name  # type: ignore[union-attr]
    assert emu.count("pipelines.list_pipelines") == 3


@pytest.mark.parametrize(
    ("job", "problem"),
    [
        (
            {"settings": {"tasks": [{"task_key": "r", "pipeline_task": {"pipeline": "ghost"}}]}},
            "is not in the seed",
        ),
        (
            {
                "settings": {
                    "schedule": {"quartz_cron_expression": "0 2 * * *", "timezone_id": "UTC"}
                }
            },
            "quartz",
        ),
        ({"runs": [{"start": "+1d"}]}, "cannot start in the future"),
        ({"history": {"count": 2, "every": "1s"}}, "must exceed the length of one run"),
    ],
)
def test_job_seed_errors(emu: Emu, job: dict[str, Any], problem: str) -> None:
    response = emu.control.post(
        "/reset", json={"seed": {"extends": "minimal", "jobs": [{"name": "j", **job}]}}
    )
    assert response.status_code == 400
    assert any(problem in p for p in response.json()["problems"]), response.json()


def test_email_notifications_round_trip(emu: Emu, emu_client: WorkspaceClient) -> None:
    job_id = (
        emu_client.jobs.create(
            name="n", email_notifications=JobEmailNotifications(on_failure=["ops@example.com"])
        ).job_id
        or 0
    )
    settings = emu_client.jobs.get(job_id).settings
    assert settings is not None
    assert settings.email_notifications is not None
    assert settings.email_notifications.on_failure == ["ops@example.com"]


def test_a_seeded_run_still_starting_continues_live(emu: Emu, emu_client: WorkspaceClient) -> None:
    emu.reset(
        seed={
            "extends": "minimal",
            "pipelines": [pipeline_seed("busy", updates=[{"start": "-1h"}])],
            "jobs": [
                {
                    "name": "busy_schedule",
                    "settings": {
                        "tasks": [{"task_key": "run", "pipeline_task": {"pipeline": "busy"}}]
                    },
                    "runs": [{"start": "-0s", "outcome": "FAILED"}],
                }
            ],
        }
    )
    run = next(iter(emu_client.jobs.list_runs()))
    assert life(emu_client, run.run_id or 0) == ("PENDING", None)

    emu.settle()

    # It ran for real: the seeded outcome applies only to runs that already ran.
    assert life(emu_client, run.run_id or 0) == ("TERMINATED", "SUCCESS")
    pid = next(iter(emu_client.pipelines.list_pipelines())).pipeline_id or ""
    newest = (emu_client.pipelines.list_updates(pid).updates or [])[0]
    assert newest.cause is not None
    assert newest.cause.value == "JOB_TASK"
