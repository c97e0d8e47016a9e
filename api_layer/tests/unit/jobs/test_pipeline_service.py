"""Pipeline services (docs/API.md §7, §11.4-11.7) against an autospec'd client raising real SDK errors."""

from __future__ import annotations

import dataclasses
from typing import Any
from unittest.mock import create_autospec

import pytest
from databricks.sdk.errors import NotFound, ResourceConflict
from databricks.sdk.service.pipelines import (
    CreatePipelineResponse,
    FileLibrary,
    NotebookLibrary,
    Notifications,
    PipelineLibrary,
    StartUpdateCause,
    StartUpdateResponse,
)
from databricks.sdk.service.workspace import ObjectInfo, ObjectType

from dbrx_api.errors import AppError, ConflictError, InvalidRequest, NotFoundError
from dbrx_api.jobs import pipelines as svc
from dbrx_api.jobs.deferred import DeferredStart, DeferredStarter
from dbrx_api.schemas.pipelines import (
    ConfigurationUpdate,
    LibrariesUpdate,
    PipelineCreate,
)
from dbrx_api.settings import PipelineDefaults
from fixtures.pipelines import (
    LAST_MODIFIED,
    PID,
    job,
    pipeline_response,
    sharing_spec,
    state_info,
    table,
    workspace_client,
)

DEFAULTS = PipelineDefaults(library_path="/Workspace/Shared/deltashare/cdf_share_loader.py")


@pytest.fixture
def ws() -> Any:
    return workspace_client()


def by_name(ws: Any, *names: tuple[str, str]) -> None:
    """`list_pipelines` answers with these (id, name) pairs."""
    ws.pipelines.list_pipelines.return_value = iter([state_info(pid, n) for pid, n in names])


def create_body(**overrides: Any) -> PipelineCreate:
    fields: dict[str, Any] = {
        "name": "orders_share",
        "target_catalog_name": "share_cat",
        "target_schema_name": "sales_ext",
        "source_table": "main.sales.orders",
        "key_columns": "ORDER_ID",
    }
    fields.update(overrides)
    return PipelineCreate.model_validate(fields)


def upstream_names(ws: Any) -> list[str]:
    """Names of the SDK methods called, in order (e.g. `pipelines.create`)."""
    names = []
    for name, _, _ in ws.mock_calls:
        names.append(name)
    return names


# ------------------------------------------------------------------------------------------ create


def test_create_sends_the_configured_spec(ws: Any) -> None:
    by_name(ws)
    ws.tables.get.return_value = table()
    ws.pipelines.create.return_value = CreatePipelineResponse(pipeline_id=PID)
    detail = svc.create_pipeline(ws, create_body(), defaults=DEFAULTS)

    assert upstream_names(ws) == [
        "pipelines.list_pipelines",
        "schemas.get",
        "tables.get",
        "pipelines.create",
    ]
    ws.schemas.get.assert_called_once_with("share_cat.sales_ext")
    kwargs = ws.pipelines.create.call_args.kwargs
    assert kwargs["allow_duplicate_names"] is False
    assert kwargs["libraries"] == [PipelineLibrary(file=FileLibrary(path=DEFAULTS.library_path))]
    assert kwargs["configuration"] == {
        "pipelines.source_table": "main.sales.orders",
        "pipelines.target_table": "orders",
        "pipelines.scd_type": "2",
        "pipelines.keys": "order_id",  # spelled as the table spells it
        "pipelines.sequence_by": "_commit_version",
        "pipelines.delete_expr": "_change_type = 'delete'",
    }
    assert kwargs["serverless"] is True
    assert "clusters" not in kwargs  # fields the spec leaves unset are not sent
    assert (kwargs["catalog"], kwargs["schema"], kwargs["continuous"]) == (
        "share_cat",
        "sales_ext",
        False,
    )
    assert "notifications" not in kwargs
    assert detail.pipeline_id == PID
    assert detail.state is None
    assert detail.key_columns == ["order_id"]
    assert detail.scd_type == "2"


def test_create_classic_pipeline_with_notifications_and_notebook_library(ws: Any) -> None:
    by_name(ws)
    ws.tables.get.return_value = table(cdf=False)
    ws.pipelines.create.return_value = CreatePipelineResponse(pipeline_id=PID)
    defaults = PipelineDefaults(library_path="/Workspace/Shared/loader_notebook")
    body = create_body(
        scd_type="full_refresh",
        key_columns=None,
        serverless=False,
        notifications=["ops@example.com", "Data Team"],
        tags={"team": "data"},
    )
    detail = svc.create_pipeline(ws, body, defaults=defaults)
    kwargs = ws.pipelines.create.call_args.kwargs
    assert kwargs["libraries"] == [
        PipelineLibrary(notebook=NotebookLibrary(path="/Workspace/Shared/loader_notebook"))
    ]
    # A full copy needs neither change data feed nor keys nor the change-feed settings.
    assert "pipelines.keys" not in kwargs["configuration"]
    assert "pipelines.sequence_by" not in kwargs["configuration"]
    assert kwargs["clusters"][0].autoscale.max_workers == 2
    assert kwargs["notifications"] == [
        Notifications(
            email_recipients=["ops@example.com", "Data Team"],
            alerts=defaults.notification_alerts,
        )
    ]
    assert detail.cluster is not None
    assert detail.notifications.recipients == [
        "ops@example.com",
        "Data Team",
    ]


def test_scd1_needs_no_keys_but_cdf(ws: Any) -> None:
    by_name(ws)
    ws.tables.get.return_value = table(cdf=False)
    with pytest.raises(InvalidRequest) as caught:
        svc.create_pipeline(ws, create_body(scd_type="1", key_columns=None), defaults=DEFAULTS)
    assert caught.value.code == "cdf_not_enabled"
    ws.pipelines.create.assert_not_called()


def test_scd2_without_keys_fails_before_any_upstream_call(ws: Any) -> None:
    with pytest.raises(InvalidRequest) as caught:
        svc.create_pipeline(ws, create_body(key_columns=None), defaults=DEFAULTS)
    assert caught.value.code == "key_columns_invalid"
    assert ws.mock_calls == []


def test_existing_name_is_409_without_further_calls(ws: Any) -> None:
    by_name(ws, (PID, "orders_share"))
    with pytest.raises(ConflictError) as caught:
        svc.create_pipeline(ws, create_body(), defaults=DEFAULTS)
    assert caught.value.code == "pipeline_already_exists"
    assert upstream_names(ws) == ["pipelines.list_pipelines"]


def test_lookalike_name_is_not_a_duplicate(ws: Any) -> None:
    by_name(ws, (PID, "orders%share"), (PID, "ordersXshare"))
    ws.tables.get.return_value = table()
    ws.pipelines.create.return_value = CreatePipelineResponse(pipeline_id=PID)
    svc.create_pipeline(ws, create_body(name="orders_share"), defaults=DEFAULTS)
    ws.pipelines.create.assert_called_once()


@pytest.mark.parametrize(
    ("catalog_exists", "code"), [(True, "schema_not_found"), (False, "catalog_not_found")]
)
def test_missing_schema_or_catalog(ws: Any, catalog_exists: bool, code: str) -> None:
    by_name(ws)
    ws.schemas.get.side_effect = NotFound(
        "Schema 'share_cat.sales_ext' does not exist.", error_code="SCHEMA_DOES_NOT_EXIST"
    )
    if not catalog_exists:
        ws.catalogs.get.side_effect = NotFound(
            "Catalog 'share_cat' does not exist.", error_code="CATALOG_DOES_NOT_EXIST"
        )
    with pytest.raises(NotFoundError) as caught:
        svc.create_pipeline(ws, create_body(), defaults=DEFAULTS)
    assert caught.value.code == code
    ws.tables.get.assert_not_called()


def test_schema_is_created_only_after_every_check(ws: Any) -> None:
    by_name(ws)
    ws.schemas.get.side_effect = NotFound("no", error_code="SCHEMA_DOES_NOT_EXIST")
    ws.tables.get.return_value = table(columns=["id"])
    with pytest.raises(InvalidRequest) as caught:
        svc.create_pipeline(ws, create_body(create_target_schema=True), defaults=DEFAULTS)
    assert caught.value.code == "key_columns_invalid"
    assert caught.value.extra["unknown"] == ["ORDER_ID"]
    assert caught.value.extra["available"] == ["id"]
    ws.schemas.create.assert_not_called()

    ws.tables.get.return_value = table()
    ws.pipelines.create.return_value = CreatePipelineResponse(pipeline_id=PID)
    by_name(ws)
    svc.create_pipeline(ws, create_body(create_target_schema=True), defaults=DEFAULTS)
    ws.schemas.create.assert_called_once_with(
        name="sales_ext", catalog_name="share_cat", comment=None
    )
    names = upstream_names(ws)
    assert names.index("schemas.create") < names.index("pipelines.create")


def test_pipeline_create_failure_after_schema_creation_reports_applied(ws: Any) -> None:
    by_name(ws)
    ws.schemas.get.side_effect = NotFound("no", error_code="SCHEMA_DOES_NOT_EXIST")
    ws.tables.get.return_value = table()
    ws.pipelines.create.side_effect = ResourceConflict(
        "The pipeline name 'orders_share' is already used by another pipeline."
    )
    with pytest.raises(ConflictError) as caught:
        svc.create_pipeline(ws, create_body(create_target_schema=True), defaults=DEFAULTS)
    assert caught.value.code == "pipeline_already_exists"
    assert caught.value.extra["applied"] == ["schema share_cat.sales_ext created"]


def test_missing_source_table(ws: Any) -> None:
    by_name(ws)
    ws.tables.get.side_effect = NotFound("gone", error_code="TABLE_DOES_NOT_EXIST")
    with pytest.raises(NotFoundError) as caught:
        svc.create_pipeline(ws, create_body(), defaults=DEFAULTS)
    assert caught.value.code == "table_not_found"


def test_library_path_must_be_configured(ws: Any) -> None:
    by_name(ws)
    ws.tables.get.return_value = table()
    with pytest.raises(AppError) as caught:
        svc.create_pipeline(ws, create_body(), defaults=PipelineDefaults())
    assert caught.value.status_code == 500
    ws.pipelines.create.assert_not_called()


# ------------------------------------------------------------------------------------------ edits


def assert_full_spec_resent(kwargs: dict[str, Any], changed: dict[str, Any]) -> None:
    """Every field of the fixture's spec (and run_as/parameters) is re-sent; only `changed` differs."""
    spec = sharing_spec()
    for field in dataclasses.fields(spec):
        value = getattr(spec, field.name)
        if value is None:
            continue
        expected = changed.get(field.name, value)
        if expected is None:
            assert field.name not in kwargs, field.name
        else:
            assert kwargs[field.name] == expected, field.name
    assert kwargs["run_as"].service_principal_name == "sp-1"
    assert kwargs["parameters"] == {"p": "v"}
    assert kwargs["expected_last_modified"] == LAST_MODIFIED


def test_set_continuous_resends_the_whole_spec(ws: Any) -> None:
    ws.pipelines.get.return_value = pipeline_response()
    result = svc.set_continuous(ws, PID, True)
    assert result.changed
    assert result.mode == "continuous"
    args, kwargs = ws.pipelines.update.call_args
    assert args == (PID,)
    assert_full_spec_resent(kwargs, {"continuous": True})


def test_set_continuous_without_change_writes_nothing(ws: Any) -> None:
    ws.pipelines.get.return_value = pipeline_response()
    result = svc.set_continuous(ws, PID, False)
    assert not result.changed
    assert result.mode == "triggered"
    ws.pipelines.update.assert_not_called()


def test_concurrent_edit_is_conflict(ws: Any) -> None:
    ws.pipelines.get.return_value = pipeline_response()
    ws.pipelines.update.side_effect = ResourceConflict("settings were modified")
    with pytest.raises(ConflictError) as caught:
        svc.set_continuous(ws, PID, True)
    assert caught.value.code == "conflict"


def test_set_configuration_changes_keys_and_keeps_other_keys(ws: Any) -> None:
    ws.pipelines.get.return_value = pipeline_response()
    ws.tables.get.return_value = table(columns=["order_id", "Line_No"])
    body = ConfigurationUpdate.model_validate(
        {"key_columns": "order_id, line_no", "target_table": "orders_v2", "scd_type": "2"}
    )
    result = svc.set_configuration(ws, PID, body)
    assert result.changed
    assert result.fields_updated == ["key_columns", "target_table"]
    configuration = ws.pipelines.update.call_args.kwargs["configuration"]
    assert configuration["pipelines.keys"] == "order_id,Line_No"
    assert configuration["pipelines.target_table"] == "orders_v2"
    assert configuration["custom.key"] == "kept"
    assert_full_spec_resent(
        ws.pipelines.update.call_args.kwargs, {"configuration": result.configuration}
    )


@pytest.mark.parametrize(
    "body",
    [
        {"target_table": "t", "source_table": "main.other.t"},
        {"key_columns": ["order_id"], "scd_type": "1"},
    ],
)
def test_immutable_fields(ws: Any, body: dict[str, Any]) -> None:
    ws.pipelines.get.return_value = pipeline_response()
    with pytest.raises(InvalidRequest) as caught:
        svc.set_configuration(ws, PID, ConfigurationUpdate.model_validate(body))
    assert caught.value.code == "pipeline_immutable_field"
    ws.pipelines.update.assert_not_called()


def test_same_configuration_writes_nothing(ws: Any) -> None:
    ws.pipelines.get.return_value = pipeline_response()
    body = ConfigurationUpdate.model_validate(
        {"key_columns": ["ORDER_ID"], "target_table": "orders"}
    )
    result = svc.set_configuration(ws, PID, body)
    assert not result.changed
    assert result.fields_updated == []
    ws.tables.get.assert_not_called()
    ws.pipelines.update.assert_not_called()


def test_scd2_keys_cannot_be_emptied(ws: Any) -> None:
    ws.pipelines.get.return_value = pipeline_response()
    with pytest.raises(InvalidRequest) as caught:
        svc.set_configuration(ws, PID, ConfigurationUpdate.model_validate({"key_columns": []}))
    assert caught.value.code == "key_columns_invalid"


def test_set_libraries_checks_the_object_type(ws: Any) -> None:
    ws.pipelines.get.return_value = pipeline_response()
    ws.workspace.get_status.return_value = ObjectInfo(object_type=ObjectType.NOTEBOOK)
    with pytest.raises(NotFoundError) as caught:
        svc.set_libraries(ws, PID, LibrariesUpdate(library_path="/Workspace/lib/new.py"))
    assert caught.value.code == "library_not_found"

    ws.workspace.get_status.side_effect = NotFound("missing", error_code="RESOURCE_DOES_NOT_EXIST")
    with pytest.raises(NotFoundError) as caught:
        svc.set_libraries(ws, PID, LibrariesUpdate(root_path="/Workspace/missing"))
    assert caught.value.code == "library_not_found"
    ws.pipelines.update.assert_not_called()


def test_set_libraries_replaces_all_libraries(ws: Any) -> None:
    ws.pipelines.get.return_value = pipeline_response()
    ws.workspace.get_status.return_value = ObjectInfo(object_type=ObjectType.FILE)
    result = svc.set_libraries(ws, PID, LibrariesUpdate(library_path="/Workspace/lib/v2.sql"))
    assert result.changed
    assert [(lib.kind, lib.path) for lib in result.libraries] == [("file", "/Workspace/lib/v2.sql")]
    libraries = [PipelineLibrary(file=FileLibrary(path="/Workspace/lib/v2.sql"))]
    assert_full_spec_resent(ws.pipelines.update.call_args.kwargs, {"libraries": libraries})

    ws.pipelines.update.reset_mock()
    result = svc.set_libraries(ws, PID, LibrariesUpdate(library_path="/Workspace/lib/loader.py"))
    assert not result.changed
    ws.pipelines.update.assert_not_called()


def test_add_notifications_is_idempotent(ws: Any) -> None:
    ws.pipelines.get.return_value = pipeline_response()
    result = svc.add_notifications(ws, PID, ["A@example.com", "b@example.com"], defaults=DEFAULTS)
    assert result.added == ["b@example.com"]
    assert result.already_present == ["A@example.com"]
    blocks = ws.pipelines.update.call_args.kwargs["notifications"]
    assert blocks == [
        Notifications(
            email_recipients=["a@example.com", "b@example.com"], alerts=["on-update-failure"]
        )
    ]

    ws.pipelines.update.reset_mock()
    result = svc.add_notifications(ws, PID, ["a@example.com"], defaults=DEFAULTS)
    assert result.added == []
    ws.pipelines.update.assert_not_called()


def test_removing_the_last_recipient_removes_the_block_and_warns(ws: Any) -> None:
    ws.pipelines.get.return_value = pipeline_response()
    result = svc.remove_notifications(ws, PID, ["a@example.com", "x@example.com"])
    assert result.removed == ["a@example.com"]
    assert result.not_present == ["x@example.com"]
    assert result.notifications == []
    assert result.warnings == [svc.NO_ALERTS_WARNING]
    kwargs = ws.pipelines.update.call_args.kwargs
    assert "notifications" not in kwargs
    assert_full_spec_resent(kwargs, {"notifications": None})


# ------------------------------------------------------------------------------------------ full refresh


def starter_mock() -> Any:
    starter = create_autospec(DeferredStarter, instance=True)
    starter.submit.return_value = (create_autospec(DeferredStart, instance=True), True)
    return starter


def test_idle_pipeline_starts_now(ws: Any) -> None:
    ws.pipelines.get.return_value = pipeline_response(latest=[("u1", "COMPLETED")])
    ws.pipelines.start_update.return_value = StartUpdateResponse(update_id="u2")
    starter = starter_mock()
    result = svc.full_refresh(ws, PID, stop_if_running=False, starter=starter, defaults=DEFAULTS)
    assert (result.status, result.update_id) == ("started", "u2")
    ws.pipelines.start_update.assert_called_once_with(
        PID, full_refresh=True, cause=StartUpdateCause.API_CALL
    )
    starter.submit.assert_not_called()


@pytest.mark.parametrize(
    ("state", "latest"),
    [("RUNNING", [("u1", "RUNNING")]), ("IDLE", [("u1", "WAITING_FOR_RESOURCES")])],
)
def test_busy_pipeline_is_409_with_the_active_update(
    ws: Any, state: str, latest: list[tuple[str, str]]
) -> None:
    ws.pipelines.get.return_value = pipeline_response(state=state, latest=latest)
    with pytest.raises(ConflictError) as caught:
        svc.full_refresh(ws, PID, stop_if_running=False, starter=starter_mock(), defaults=DEFAULTS)
    assert caught.value.code == "pipeline_busy"
    assert caught.value.extra["active_update_id"] == "u1"
    ws.pipelines.start_update.assert_not_called()
    ws.pipelines.stop.assert_not_called()


def test_busy_pipeline_with_stop_is_stopped_and_deferred(ws: Any) -> None:
    ws.pipelines.get.return_value = pipeline_response(state="RUNNING", latest=[("u1", "RUNNING")])
    starter = starter_mock()
    defaults = PipelineDefaults(library_path="/x.py", stop_poll_s=0.5, stop_timeout_s=30)
    result = svc.full_refresh(ws, PID, stop_if_running=True, starter=starter, defaults=defaults)
    assert (result.status, result.update_id, result.stopped_update_id) == (
        "stopping_then_start",
        None,
        "u1",
    )
    ws.pipelines.stop.assert_called_once_with(PID)
    ws.pipelines.start_update.assert_not_called()
    starter.submit.assert_called_once_with(
        ws, PID, name="sales_orders_share", poll_s=0.5, timeout_s=30
    )


def test_failed_stop_cancels_the_deferred_start(ws: Any) -> None:
    ws.pipelines.get.return_value = pipeline_response(state="RUNNING", latest=[("u1", "RUNNING")])
    ws.pipelines.stop.side_effect = NotFound("The specified pipeline x was not found.")
    starter = starter_mock()
    with pytest.raises(NotFoundError):
        svc.full_refresh(ws, PID, stop_if_running=True, starter=starter, defaults=DEFAULTS)
    handle, _ = starter.submit.return_value
    handle.cancel.assert_called_once_with()

    # A start already pending from an earlier request is left alone.
    earlier = create_autospec(DeferredStart, instance=True)
    starter.submit.return_value = (earlier, False)
    with pytest.raises(NotFoundError):
        svc.full_refresh(ws, PID, stop_if_running=True, starter=starter, defaults=DEFAULTS)
    earlier.cancel.assert_not_called()


def test_update_started_meanwhile_is_busy(ws: Any) -> None:
    ws.pipelines.get.return_value = pipeline_response()
    ws.pipelines.start_update.side_effect = ResourceConflict(
        "Pipeline x already has an active update y."
    )
    with pytest.raises(ConflictError) as caught:
        svc.full_refresh(ws, PID, stop_if_running=False, starter=starter_mock(), defaults=DEFAULTS)
    assert caught.value.code == "pipeline_busy"


# ------------------------------------------------------------------------------------------ read / delete


def test_detail_maps_the_spec(ws: Any) -> None:
    ws.pipelines.get.return_value = pipeline_response(
        latest=[("u2", "RUNNING"), ("u1", "COMPLETED")]
    )
    detail = svc.get_pipeline(ws, PID)
    assert detail.catalog == "share_cat"
    assert detail.schema_ == "sales_ext"
    assert detail.source_table == "main.sales.orders"
    assert detail.key_columns == ["order_id"]
    assert detail.cluster is not None
    assert detail.cluster.autoscale is not None
    assert detail.cluster.autoscale.max_workers == 3
    assert [u.update_id for u in detail.latest_updates] == ["u2", "u1"]
    assert detail.latest_update is not None
    assert detail.latest_update.state == "RUNNING"
    dumped = detail.model_dump(by_alias=True, mode="json")
    assert dumped["schema"] == "sales_ext"
    assert dumped["last_modified"].endswith("Z")


def test_delete_removes_only_jobs_that_run_nothing_else(ws: Any) -> None:
    ws.pipelines.get.return_value = pipeline_response()
    ws.jobs.list.return_value = iter(
        [
            job(1, "only_this"),
            job(2, "with_notebook", other_tasks=1),
            job(3, "other_pipeline", ["p-other"]),
            job(4, "both_pipelines", [PID, "p-other"]),
        ]
    )
    result = svc.delete_pipeline(ws, PID, delete_schedules=True, drop_tables=False)
    assert [(j.job_id, j.job_name) for j in result.deleted_schedules] == [(1, "only_this")]
    assert [j.job_id for j in result.kept_jobs] == [2, 4]
    ws.jobs.delete.assert_called_once_with(1)
    ws.pipelines.delete.assert_called_once_with(PID, cascade=False)
    ws.jobs.list.assert_called_once_with(expand_tasks=True, limit=100)


def test_delete_failure_after_job_deletion_reports_applied(ws: Any) -> None:
    ws.pipelines.get.return_value = pipeline_response()
    ws.jobs.list.return_value = iter([job(1, "only_this")])
    ws.pipelines.delete.side_effect = ResourceConflict("busy")
    with pytest.raises(ConflictError) as caught:
        svc.delete_pipeline(ws, PID, delete_schedules=True, drop_tables=True)
    assert caught.value.extra["applied"] == ["schedule job 1 'only_this' deleted"]


def test_delete_without_schedules_keeps_jobs(ws: Any) -> None:
    ws.pipelines.list_pipelines.return_value = iter([state_info(PID, "orders")])
    svc.delete_pipeline(ws, "orders", delete_schedules=False, drop_tables=True)
    ws.jobs.list.assert_not_called()
    ws.pipelines.delete.assert_called_once_with(PID, cascade=True)
