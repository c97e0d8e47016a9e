"""Metrics endpoints through HTTP, the real databricks-sdk and the emulator (docs/API.md §9)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from databricks.sdk import WorkspaceClient
from fastapi.testclient import TestClient

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


def rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def emulator_now(emu: Any) -> datetime:
    return datetime.fromtimestamp(emu.now_ms() / 1000, tz=UTC)


def test_ten_in_window_out_of_ten_thousand_updates(
    papi: TestClient, emu: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    history = 10_000
    # one update per hour, the newest an hour ago: the 10 newest are younger than 10 h 30 min
    generated = {"count": history, "every": "1h", "last": "-1h", "cause": "JOB_TASK"}
    seed_with(emu, pipelines=[sharing_pipeline_seed("busy_share", history=generated)])
    pid = papi.get("/pipelines/busy_share").json()["pipeline_id"]
    start = emulator_now(emu) - timedelta(hours=10, minutes=30)
    emu.reset_stats()
    response = papi.get(f"/pipelines/{pid}/metrics", params={"start_timestamp": rfc3339(start)})
    assert response.status_code == 200, response.text
    body = response.json()
    calls = api_calls(emu)
    with (
        capsys.disabled()
    ):  # shown in every run, not only on failure: the measurement issue 3 asks for
        print(  # noqa: T201
            f"\n[metrics] GET /pipelines/{{id}}/metrics over {history} updates, 10 in the window: "
            f"{calls} upstream calls (budget 6 + 10)"
        )
    assert calls <= 6 + 10
    assert (body["count"], body["total"], body["truncated"]) == (10, 10, False)
    assert emu.count("pipelines.list_updates") == 1
    assert emu.count("pipelines.list_pipeline_events") == 10
    times = [item["start_time"] for item in body["items"]]
    assert times == sorted(times, reverse=True)
    assert times[-1] >= rfc3339(start)
    # every update in the window carries rows from flow_progress events
    assert all(
        item["rows"] is not None and item["rows"]["output"] is not None for item in body["items"]
    )
    # events are read per update, filtered upstream by update id
    first_events = emu.calls("pipelines.list_pipeline_events")[0]
    assert "update_id = " in str(first_events["query"])


def test_metrics_match_the_emulator_truth(
    papi: TestClient, emu: Any, emu_client: WorkspaceClient
) -> None:
    seed_with(
        emu,
        pipelines=[
            sharing_pipeline_seed(
                "orders_share",
                updates=[
                    {"start": "-3d", "cause": "JOB_TASK", "full_refresh": True},
                    {
                        "start": "-2d",
                        "cause": "JOB_TASK",
                        "outcome": "FAILED",
                        "error": "Source table changed schema",
                    },
                    {
                        "start": "-1d",
                        "cause": "API_CALL",
                        "rows": {"output": 420, "upserted": 400, "deleted": 20},
                    },
                ],
            )
        ],
    )
    # The emulator's manual clock is behind the wall clock: windows are given in emulator time.
    week = {"start_timestamp": rfc3339(emulator_now(emu) - timedelta(days=7))}
    response = papi.get("/pipelines/orders_share/metrics", params={**week, "include_flows": True})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["pipeline_name"] == "orders_share"
    assert body["catalog"] == "share_cat"
    assert [i["state"] for i in body["items"]] == ["COMPLETED", "FAILED", "COMPLETED"]
    newest, failed, oldest = body["items"]
    assert newest["triggered_by"] == "api"
    assert oldest["is_full_refresh"] is True
    assert newest["rows"] == {"output": 420, "upserted": 400, "deleted": 20, "dropped": 0}
    assert newest["flows"]
    assert newest["flows"][0]["flow_name"] == "orders_share"
    assert failed["error_message"]
    assert "Source table changed schema" in failed["error_message"]
    assert newest["end_time"] > newest["start_time"]
    assert newest["duration_seconds"] > 0
    for item in body["items"]:
        truth = emu.control.get(
            f"/pipelines/{body['pipeline_id']}/updates/{item['update_id']}/truth"
        ).json()
        if truth.get("rows") and item["rows"] is not None:
            assert item["rows"] == truth["rows"]

    without_rows = papi.get(
        "/pipelines/orders_share/metrics", params={**week, "include_rows": False}
    ).json()
    assert len(without_rows["items"]) == 3
    assert all(item["rows"] is None for item in without_rows["items"])


def test_empty_window_and_bad_timestamps(papi: TestClient, emu: Any) -> None:
    seed_with(emu, pipelines=[sharing_pipeline_seed("orders_share", updates=[{"start": "-30d"}])])
    week = {"start_timestamp": rfc3339(emulator_now(emu) - timedelta(days=7))}
    empty = papi.get("/pipelines/orders_share/metrics", params=week)
    assert empty.status_code == 200, empty.text
    assert (empty.json()["items"], empty.json()["count"], empty.json()["total"]) == ([], 0, 0)
    assert emu.count("pipelines.list_pipeline_events") == 0

    bad = problem(
        papi.get("/pipelines/orders_share/metrics", params={"start_timestamp": "yesterday"}),
        422,
        "validation_failed",
    )
    assert bad["errors"][0]["type"] == "timestamp_invalid"
    reversed_window = problem(
        papi.get(
            "/pipelines/orders_share/metrics",
            params={"start_timestamp": "2026-01-02", "end_timestamp": "2026-01-01T00:00:00Z"},
        ),
        422,
        "validation_failed",
    )
    assert reversed_window["errors"][0]["type"] == "timestamp_invalid"
    problem(papi.get("/pipelines/ghost/metrics"), 404, "pipeline_not_found")
    problem(papi.get("/pipelines/ghost/job-runs/metrics"), 404, "pipeline_not_found")


def test_job_run_metrics(papi: TestClient, emu: Any) -> None:
    seed_with(
        emu,
        pipelines=[sharing_pipeline_seed("orders_share")],
        jobs=[
            {
                "name": "orders_share_schedule",
                "settings": {
                    "tasks": [
                        {"task_key": "run_pipeline", "pipeline_task": {"pipeline": "orders_share"}}
                    ],
                    "schedule": {
                        "quartz_cron_expression": "0 0 2 * * ?",
                        "timezone_id": "UTC",
                        "pause_status": "PAUSED",
                    },
                },
                "runs": [
                    {"start": "-20d", "trigger": "PERIODIC"},
                    {"start": "-2d", "trigger": "PERIODIC"},
                    {"start": "-1d", "trigger": "ONE_TIME", "outcome": "FAILED"},
                ],
            }
        ],
    )
    emu.reset_stats()
    week = {"start_timestamp": rfc3339(emulator_now(emu) - timedelta(days=7))}
    response = papi.get(
        "/pipelines/orders_share/job-runs/metrics", params={**week, "include_rows": True}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert [j["job_name"] for j in body["jobs"]] == ["orders_share_schedule"]
    assert [i["triggered_by"] for i in body["items"]] == [
        "manual",
        "schedule",
    ]  # the -20d run is outside
    assert body["items"][1]["result_state"] == "SUCCESS"
    assert body["items"][1]["duration_seconds"] > 0
    assert body["items"][1]["pipeline_update"] is not None
    assert body["items"][1]["pipeline_update"]["triggered_by"] == "job"
    runs_calls = emu.calls("jobs.list_runs")
    assert runs_calls
    assert all("start_time_from" in call["query"] for call in runs_calls)

    none = papi.get(
        "/pipelines/orders_share/job-runs/metrics",
        params={"start_timestamp": "2020-01-01", "end_timestamp": "2020-01-02"},
    ).json()
    assert none["items"] == []
    assert none["total"] == 0
