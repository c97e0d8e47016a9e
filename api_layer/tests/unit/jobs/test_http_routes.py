"""The pipeline, schedule and metrics routes over HTTP with an autospec'd client (statuses, headers, check order).

The emulator-backed integration tests cover behaviour end to end; these pin the HTTP layer itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from databricks.sdk.service.pipelines import CreatePipelineResponse, StartUpdateResponse
from fastapi.testclient import TestClient

from dbrx_api.dbrx_auth.workspaces import Workspace
from dbrx_api.dependencies import WorkspaceDep, get_workspace_client
from dbrx_api.main import create_app
from fixtures.api import api_settings_for
from fixtures.pipelines import PID, pipeline_response, table, workspace_client

URL = "http://127.0.0.1:8765"


@pytest.fixture
def ws() -> Any:
    return workspace_client()


@pytest.fixture
def client(ws: Any) -> Iterator[TestClient]:
    settings = api_settings_for(
        URL, "dapi-test", databricks={"pipelines": {"library_path": "/Workspace/lib/loader.py"}}
    )
    app = create_app(settings)

    # The header is still resolved and checked (400/403); only the SDK client is replaced.
    def fake_client(workspace: WorkspaceDep) -> Any:
        assert isinstance(workspace, Workspace)
        return ws

    app.dependency_overrides[get_workspace_client] = fake_client
    with TestClient(app, headers={"X-Workspace-URL": URL}, raise_server_exceptions=False) as c:
        yield c


def test_create_is_201_with_location(client: TestClient, ws: Any) -> None:
    ws.pipelines.list_pipelines.return_value = iter([])
    ws.tables.get.return_value = table()
    ws.pipelines.create.return_value = CreatePipelineResponse(pipeline_id=PID)
    response = client.post(
        "/pipelines",
        json={
            "name": "orders_share",
            "target_catalog_name": "share_cat",
            "target_schema_name": "sales_ext",
            "source_table": "main.sales.orders",
            "key_columns": ["order_id"],
        },
    )
    assert response.status_code == 201, response.text
    assert response.headers["location"] == f"/pipelines/{PID}"
    body = response.json()
    assert body["schema"] == "sales_ext"
    assert body["libraries"] == [{"kind": "file", "path": "/Workspace/lib/loader.py"}]


def test_full_refresh_is_202(client: TestClient, ws: Any) -> None:
    ws.pipelines.get.return_value = pipeline_response()
    ws.pipelines.start_update.return_value = StartUpdateResponse(update_id="u9")
    response = client.post(f"/pipelines/{PID}/full-refresh")
    assert response.status_code == 202, response.text
    assert response.json()["update_id"] == "u9"


def test_busy_full_refresh_is_a_problem_with_the_active_update(client: TestClient, ws: Any) -> None:
    ws.pipelines.get.return_value = pipeline_response(state="RUNNING", latest=[("u1", "RUNNING")])
    response = client.post(f"/pipelines/{PID}/full-refresh")
    assert response.status_code == 409
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert (body["code"], body["active_update_id"]) == ("pipeline_busy", "u1")


def test_unix_cron_is_422_suggesting_quartz(client: TestClient, ws: Any) -> None:
    response = client.post("/pipelines/orders/schedules", json={"cron_expression": "0 2 * * 1-5"})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_failed"
    assert body["errors"] == [
        {
            "loc": ["body", "cron_expression"],
            "msg": body["errors"][0]["msg"],
            "type": "cron_not_quartz",
        }
    ]
    assert 'Quartz equivalent: "0 0 2 ? * 2-6".' in body["errors"][0]["msg"]
    assert body["detail"].endswith('Quartz equivalent: "0 0 2 ? * 2-6".')  # one full stop
    assert ws.mock_calls == []


def test_time_zone_alias_and_both_names(client: TestClient, ws: Any) -> None:
    both = client.post(
        "/pipelines/orders/schedules",
        json={"cron_expression": "0 0 2 * * ?", "timezone": "UTC", "time_zone": "UTC"},
    )
    assert both.status_code == 422
    assert both.json()["errors"][0]["type"] == "mutually_exclusive"
    bad = client.patch("/pipelines/orders/schedules/5/timezone", json={"time_zone": "+01:00"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["type"] == "timezone_invalid"
    assert ws.mock_calls == []


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"start_timestamp": "not a time"}, ["query", "start_timestamp"]),
        (
            {"start_timestamp": "2026-01-02", "end_timestamp": "2026-01-01"},
            ["query", "end_timestamp"],
        ),
        ({"limit": 0}, ["query", "limit"]),
    ],
)
def test_metrics_query_validation(
    client: TestClient, ws: Any, params: dict[str, Any], loc: list[str]
) -> None:
    response = client.get(f"/pipelines/{PID}/metrics", params=params)
    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert error["loc"] == loc
    if "timestamp" in loc[-1]:
        assert error["type"] == "timestamp_invalid"
    assert ws.mock_calls == []


def test_workspace_header_is_checked_before_the_window(client: TestClient) -> None:
    response = client.get(
        f"/pipelines/{PID}/metrics",
        params={"start_timestamp": "2026-01-02", "end_timestamp": "2026-01-01"},
        headers={"X-Workspace-URL": ""},
    )
    assert response.status_code == 400
    assert response.json()["code"] == "workspace_header_missing"


def test_date_only_window_means_midnight_utc(client: TestClient, ws: Any) -> None:
    ws.pipelines.get.return_value = pipeline_response()
    ws.pipelines.list_updates.return_value.updates = []
    ws.pipelines.list_updates.return_value.next_page_token = None
    response = client.get(
        f"/pipelines/{PID}/metrics",
        params={"start_timestamp": "2026-01-01", "end_timestamp": "2026-01-02T12:00:00+02:00"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["window"] == {
        "start": "2026-01-01T00:00:00.000Z",
        "end": "2026-01-02T10:00:00.000Z",
    }
    assert response.json()["items"] == []


def test_pipeline_names_with_control_characters_are_422(client: TestClient, ws: Any) -> None:
    response = client.get("/pipelines/bad%01name")
    assert response.status_code == 422
    assert response.json()["errors"][0]["type"] == "name_invalid"
    assert ws.mock_calls == []


def test_percent_in_a_name_is_refused_before_any_lookup(client: TestClient, ws: Any) -> None:
    # `%` begins a URL escape, so names may not hold it (docs/API.md §1.6); `_` stays a literal character.
    response = client.get("/pipelines/sales_2024%25")
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "name_invalid"
    assert response.json()["detail"] == (
        "Invalid name in path parameter 'name': pipeline must not contain '%'."
    )
    assert ws.mock_calls == []
