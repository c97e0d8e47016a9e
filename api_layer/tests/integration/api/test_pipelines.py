"""Pipeline endpoints through HTTP, the real databricks-sdk and the emulator (docs/API.md §7, §11.4-11.7)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from databricks.sdk import WorkspaceClient
from fastapi.testclient import TestClient

from fixtures.pipelines_api import (
    LIBRARY_PATH,
    NOTEBOOK_PATH,
    api_calls,
    wait_for,
)

pytestmark = pytest.mark.integration

ORDERS = "main.sales.orders"  # change data feed on; key order_id


def create(papi: TestClient, name: str, **fields: Any) -> dict[str, Any]:
    body = {
        "name": name,
        "target_catalog_name": "share_cat",
        "target_schema_name": "sales_ext",
        "source_table": ORDERS,
        "key_columns": ["order_id"],
        **fields,
    }
    response = papi.post("/pipelines", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def path(name: str) -> str:
    return "/pipelines/" + quote(name, safe="")


def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = dict(response.json())
    assert body["code"] == code, body
    assert response.headers["content-type"].startswith("application/problem+json")
    return body


# ------------------------------------------------------------------------------------------ create and read


def test_create_then_read_by_name_and_id(
    papi: TestClient, emu: Any, emu_client: WorkspaceClient
) -> None:
    emu.reset_stats()
    response = papi.post(
        "/pipelines",
        json={
            "name": "orders_share",
            "target_catalog_name": "share_cat",
            "target_schema_name": "sales_ext",
            "source_table": ORDERS,
            "key_columns": "order_id",
            "notifications": ["ops@example.com"],
            "tags": {"team": "data"},
        },
    )
    assert response.status_code == 201, response.text
    created = response.json()
    pid = created["pipeline_id"]
    assert response.headers["location"] == f"/pipelines/{pid}"
    assert created["state"] is None
    assert created["scd_type"] == "2"
    assert created["libraries"] == [{"kind": "file", "path": LIBRARY_PATH}]
    # spec docs/API.md §7.3: typically 4 upstream calls
    assert api_calls(emu) == 4

    spec = emu_client.pipelines.get(pid).spec
    assert spec is not None
    assert spec.configuration is not None
    assert spec.configuration["pipelines.source_table"] == ORDERS
    assert spec.configuration["pipelines.keys"] == "order_id"
    assert spec.catalog == "share_cat"
    assert spec.schema == "sales_ext"
    assert spec.serverless
    assert spec.notifications
    assert spec.notifications[0].email_recipients == ["ops@example.com"]

    by_name = papi.get("/pipelines/orders_share")
    assert by_name.status_code == 200, by_name.text
    by_id = papi.get(f"/pipelines/{pid}").json()
    assert by_name.json()["pipeline_id"] == by_id["pipeline_id"] == pid
    assert by_id["state"] == "IDLE"
    assert by_id["key_columns"] == ["order_id"]
    assert by_id["notifications"]["recipients"] == ["ops@example.com"]
    assert by_id["tags"] == {"team": "data"}
    assert by_id["schema"] == "sales_ext"

    listed = papi.get("/pipelines", params={"contains": "ORDERS"}).json()
    assert [p["pipeline_id"] for p in listed["items"]] == [pid]


def test_full_copy_and_scd1_need_no_keys(papi: TestClient, emu_client: WorkspaceClient) -> None:
    # customers has no change data feed: fine for a full copy
    full = create(
        papi,
        "customers_copy",
        source_table="main.sales.customers",
        scd_type="full_refresh",
        key_columns=None,
    )
    configuration = emu_client.pipelines.get(full["pipeline_id"]).spec.configuration  # type: ignore[union-attr]
    assert configuration is not None
    assert "pipelines.keys" not in configuration
    scd1 = create(papi, "orders_scd1", scd_type="1", key_columns=None)
    assert scd1["key_columns"] == []


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ({"target_catalog_name": "nope"}, 404, "catalog_not_found"),
        ({"target_schema_name": "nope"}, 404, "schema_not_found"),
        ({"source_table": "main.sales.nope"}, 404, "table_not_found"),
        (
            {"source_table": "main.sales.customers", "key_columns": ["customer_id"]},
            400,
            "cdf_not_enabled",
        ),
        ({"key_columns": ["order_id", "nope"]}, 400, "key_columns_invalid"),
        ({"key_columns": None}, 400, "key_columns_invalid"),
        ({"scd_type": "3"}, 422, "validation_failed"),
        ({"unknown_field": 1}, 422, "validation_failed"),
    ],
)
def test_create_errors_write_nothing(
    papi: TestClient, emu: Any, fields: dict[str, Any], status: int, code: str
) -> None:
    body = {
        "name": "p",
        "target_catalog_name": "share_cat",
        "target_schema_name": "sales_ext",
        "source_table": ORDERS,
        "key_columns": ["order_id"],
        **fields,
    }
    emu.reset_stats()
    problem(papi.post("/pipelines", json=body), status, code)
    assert emu.mutating_total() == 0


def test_duplicate_name_is_409(papi: TestClient) -> None:
    create(papi, "orders_share")
    problem(
        papi.post(
            "/pipelines",
            json={
                "name": "orders_share",
                "target_catalog_name": "share_cat",
                "target_schema_name": "sales_ext",
                "source_table": ORDERS,
                "key_columns": ["order_id"],
            },
        ),
        409,
        "pipeline_already_exists",
    )


def test_missing_target_schema_is_created_on_request(
    papi: TestClient, emu_client: WorkspaceClient
) -> None:
    create(papi, "new_schema_share", target_schema_name="fresh", create_target_schema=True)
    assert emu_client.schemas.get("share_cat.fresh").name == "fresh"


def test_lookalike_names_are_never_confused(papi: TestClient, emu: Any) -> None:
    # `%` is refused in names (docs/API.md §1.6); `_` and quotes stay literal characters.
    problem(papi.get(path("sales_2024%")), 422, "name_invalid")
    percent = create(papi, "sales_2024y")["pipeline_id"]
    other = create(papi, "sales_2024x")["pipeline_id"]
    quoted = create(papi, "it's_sales")["pipeline_id"]
    assert papi.get(path("sales_2024y")).json()["pipeline_id"] == percent
    assert papi.get(path("sales_2024x")).json()["pipeline_id"] == other
    assert papi.get(path("it's_sales")).json()["pipeline_id"] == quoted
    # `sales_2024_` would match both under LIKE; it names neither.
    problem(papi.get(path("sales_2024_")), 404, "pipeline_not_found")
    problem(papi.get(path("SALES_2024X")), 404, "pipeline_not_found")
    # Deleting one leaves the other.
    deleted = papi.delete(path("sales_2024y"))
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["pipeline_id"] == percent
    assert papi.get(path("sales_2024x")).status_code == 200
    problem(papi.get(path("sales_2024y")), 404, "pipeline_not_found")
    # Creating `sales_2024y` again is not blocked by `sales_2024x`.
    create(papi, "sales_2024y")


def test_ambiguous_name_is_409_with_ids(papi: TestClient, emu_client: WorkspaceClient) -> None:
    ids = sorted(
        emu_client.pipelines.create(
            name="twin", catalog="share_cat", schema="sales_ext", allow_duplicate_names=True
        ).pipeline_id
        or ""
        for _ in range(2)
    )
    body = problem(papi.get("/pipelines/twin"), 409, "pipeline_name_ambiguous")
    assert body["pipeline_ids"] == ids
    assert papi.get(f"/pipelines/{ids[0]}").status_code == 200


def test_unknown_pipeline_is_404_everywhere(papi: TestClient) -> None:
    for method, url, body in [
        ("GET", "/pipelines/ghost", None),
        ("GET", "/pipelines/0f6e1c2a-1b2c-4d5e-8f90-a1b2c3d4e5f6", None),
        ("PATCH", "/pipelines/ghost/continuous", {"continuous": True}),
        ("POST", "/pipelines/ghost/full-refresh", None),
        ("DELETE", "/pipelines/ghost", None),
        ("PUT", "/pipelines/ghost/configuration", {"target_table": "x"}),
        ("PUT", "/pipelines/ghost/libraries", {"root_path": "/Workspace/Shared"}),
        ("PUT", "/pipelines/ghost/notifications/add", {"notifications": ["a@example.com"]}),
        ("PUT", "/pipelines/ghost/notifications/remove", {"notifications": ["a@example.com"]}),
    ]:
        problem(papi.request(method, url, json=body), 404, "pipeline_not_found")


# ------------------------------------------------------------------------------------------ edits


def test_continuous_switch_keeps_the_rest_of_the_spec(
    papi: TestClient, emu: Any, emu_client: WorkspaceClient
) -> None:
    pid = create(papi, "orders_share", notifications=["ops@example.com"], tags={"team": "data"})[
        "pipeline_id"
    ]
    before = emu_client.pipelines.get(pid).spec
    response = papi.patch("/pipelines/orders_share/continuous", json={"continuous": True})
    assert response.status_code == 200, response.text
    assert response.json() == {
        "pipeline_id": pid,
        "name": "orders_share",
        "continuous": True,
        "mode": "continuous",
        "changed": True,
    }
    after = emu_client.pipelines.get(pid).spec
    assert before is not None
    assert after is not None
    assert after.continuous is True
    after.continuous = before.continuous
    assert after == before  # PUT replaced the spec: nothing else may have changed

    emu.reset_stats()
    again = papi.patch(f"/pipelines/{pid}/continuous", json={"continuous": True}).json()
    assert again["changed"] is False
    assert emu.count("pipelines.update") == 0


def test_configuration_update(papi: TestClient, emu_client: WorkspaceClient) -> None:
    create(papi, "items_share", source_table="main.sales.order_items", key_columns=["order_id"])
    response = papi.put(
        "/pipelines/items_share/configuration",
        json={"key_columns": "order_id, LINE_NO", "target_table": "items_v2"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["changed"] is True
    assert body["fields_updated"] == ["key_columns", "target_table"]
    assert body["configuration"]["pipelines.keys"] == "order_id,line_no"
    assert body["configuration"]["pipelines.sequence_by"] == "_commit_version"
    spec = emu_client.pipelines.get(body["pipeline_id"]).spec
    assert spec is not None
    assert spec.configuration == body["configuration"]

    problem(
        papi.put(
            "/pipelines/items_share/configuration", json={"target_table": "x", "scd_type": "1"}
        ),
        400,
        "pipeline_immutable_field",
    )
    problem(
        papi.put("/pipelines/items_share/configuration", json={"key_columns": ["sku", "nope"]}),
        400,
        "key_columns_invalid",
    )
    problem(papi.put("/pipelines/items_share/configuration", json={}), 422, "validation_failed")


def test_libraries_update(papi: TestClient, emu_client: WorkspaceClient) -> None:
    pid = create(papi, "orders_share")["pipeline_id"]
    problem(
        papi.put(
            "/pipelines/orders_share/libraries",
            json={"library_path": "/Workspace/Shared/missing.py"},
        ),
        404,
        "library_not_found",
    )
    response = papi.put("/pipelines/orders_share/libraries", json={"library_path": NOTEBOOK_PATH})
    assert response.status_code == 200, response.text
    assert response.json()["libraries"] == [{"kind": "notebook", "path": NOTEBOOK_PATH}]
    libraries = emu_client.pipelines.get(pid).spec.libraries  # type: ignore[union-attr]
    assert libraries is not None
    assert libraries[0].notebook is not None
    assert libraries[0].notebook.path == NOTEBOOK_PATH
    # a notebook path given as a .py file is the wrong object type
    problem(
        papi.put("/pipelines/orders_share/libraries", json={"library_path": NOTEBOOK_PATH + ".py"}),
        404,
        "library_not_found",
    )
    problem(
        papi.put("/pipelines/orders_share/libraries", json={"library_path": "/dbfs/x.py"}),
        422,
        "validation_failed",
    )


def test_notifications_add_and_remove(
    papi: TestClient, emu: Any, emu_client: WorkspaceClient
) -> None:
    pid = create(papi, "orders_share")["pipeline_id"]
    added = papi.put(
        "/pipelines/orders_share/notifications/add",
        json={"notifications": ["a@example.com", "Data Team"]},
    ).json()
    assert added["added"] == ["a@example.com", "Data Team"]
    notifications = emu_client.pipelines.get(pid).spec.notifications  # type: ignore[union-attr]
    assert notifications
    assert notifications[0].alerts == [
        "on-update-failure",
        "on-update-fatal-failure",
        "on-update-success",
        "on-flow-failure",
    ]
    emu.reset_stats()
    again = papi.put(
        "/pipelines/orders_share/notifications/add", json={"notifications": ["A@example.com"]}
    )
    assert again.json()["already_present"] == ["A@example.com"]
    assert emu.count("pipelines.update") == 0

    removed = papi.put(
        "/pipelines/orders_share/notifications/remove",
        json={"notifications": ["a@example.com", "Data Team", "x@example.com"]},
    ).json()
    assert removed["not_present"] == ["x@example.com"]
    assert removed["notifications"] == []
    assert removed["warnings"]
    assert not emu_client.pipelines.get(pid).spec.notifications  # type: ignore[union-attr]
    problem(
        papi.put(
            "/pipelines/orders_share/notifications/add", json={"notifications": ["not an@email"]}
        ),
        422,
        "validation_failed",
    )


# ------------------------------------------------------------------------------------------ full refresh


def test_full_refresh_idle_busy_and_deferred(
    papi: TestClient, emu: Any, emu_client: WorkspaceClient
) -> None:
    pid = create(papi, "orders_share")["pipeline_id"]
    started = papi.post("/pipelines/orders_share/full-refresh")
    assert started.status_code == 202, started.text
    first = started.json()
    assert first["status"] == "started"
    assert first["update_id"]
    update = emu_client.pipelines.get_update(pid, first["update_id"]).update
    assert update is not None
    assert update.full_refresh is True

    # Running: 409 with the active update, nothing started or stopped.
    emu.reset_stats()
    busy = problem(papi.post("/pipelines/orders_share/full-refresh"), 409, "pipeline_busy")
    assert busy["active_update_id"] == first["update_id"]
    assert emu.mutating_total() == 0

    # Stop then start in the background: the request returns at once.
    deferred = papi.post("/pipelines/orders_share/full-refresh", params={"stop_if_running": True})
    assert deferred.status_code == 202, deferred.text
    assert deferred.json() == {
        "pipeline_id": pid,
        "name": "orders_share",
        "action": "full_refresh",
        "status": "stopping_then_start",
        "update_id": None,
        "stopped_update_id": first["update_id"],
    }
    emu.settle()  # the stop completes in emulator time; the background poll then starts the refresh

    def new_update() -> Any:
        updates = emu_client.pipelines.list_updates(pid).updates or []
        fresh = [u for u in updates if u.update_id != first["update_id"]]
        return fresh[0] if fresh else None

    second = wait_for(new_update, what="the deferred full refresh")
    assert second.full_refresh is True
    stopped = emu_client.pipelines.get_update(pid, first["update_id"]).update
    assert stopped is not None
    assert stopped.state is not None
    assert stopped.state.value == "CANCELED"


# ------------------------------------------------------------------------------------------ delete


def test_delete_with_schedules_keeps_tables(
    papi: TestClient, emu: Any, emu_client: WorkspaceClient
) -> None:
    from databricks.sdk.service.jobs import NotebookTask, PipelineTask, Task

    pid = create(papi, "orders_share")["pipeline_id"]
    papi.post("/pipelines/orders_share/full-refresh")
    emu.settle()  # the first successful update creates share_cat.sales_ext.orders
    assert emu_client.tables.get("share_cat.sales_ext.orders").pipeline_id == pid
    schedule = papi.post(
        "/pipelines/orders_share/schedules", json={"cron_expression": "0 0 2 * * ?"}
    )
    assert schedule.status_code == 201, schedule.text
    mixed = emu_client.jobs.create(
        name="mixed",
        tasks=[
            Task(task_key="p", pipeline_task=PipelineTask(pipeline_id=pid)),
            Task(task_key="n", notebook_task=NotebookTask(notebook_path=NOTEBOOK_PATH)),
        ],
    ).job_id

    response = papi.delete("/pipelines/orders_share")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["deleted"] is True
    assert body["deleted_schedules"] == [
        {"job_id": schedule.json()["job_id"], "job_name": "orders_share_schedule"}
    ]
    assert [j["job_id"] for j in body["kept_jobs"]] == [mixed]
    problem(papi.get(f"/pipelines/{pid}"), 404, "pipeline_not_found")
    assert emu_client.tables.get("share_cat.sales_ext.orders").name == "orders"
    assert mixed is not None
    assert emu_client.jobs.get(mixed).job_id == mixed
