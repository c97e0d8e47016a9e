"""Pipelines (docs/API.md §7, §11.4-11.7): thin routes over `jobs.pipelines`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status
from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from dbrx_api.dependencies import DeferredStarterDep, SettingsDep, WorkspaceClientDep
from dbrx_api.jobs import pipelines as pipeline_service
from dbrx_api.routes.common import ListQueryDep, json_body, operation, set_location
from dbrx_api.schemas.common import PIPELINE_NAME_PATTERN
from dbrx_api.schemas.pipelines import (
    ConfigurationResult,
    ConfigurationUpdate,
    ContinuousResult,
    ContinuousUpdate,
    FullRefreshResult,
    LibrariesResult,
    LibrariesUpdate,
    NotificationsAdded,
    NotificationsRemoved,
    NotificationsRequest,
    PipelineCreate,
    PipelineDeleted,
    PipelineDetail,
    PipelineList,
    pipeline_name_problem,
)

router = APIRouter(prefix="/pipelines", tags=["Pipelines"])


def _pipeline_value(value: str) -> str:
    problem = pipeline_name_problem(value)
    if problem:
        raise PydanticCustomError("name_invalid", "pipeline {problem}", {"problem": problem})
    return value


PipelinePath = Annotated[
    str,
    Path(
        description=(
            "Pipeline id, or its exact name (case-sensitive; `_` and quotes are literal; "
            "`/ ? # %`, control characters and whitespace at either end are refused)"
        ),
        max_length=255,
        # Documented only: `_pipeline_value` enforces it with the error type `name_invalid` (docs/API.md §1.6).
        json_schema_extra={"pattern": PIPELINE_NAME_PATTERN},
    ),
    AfterValidator(_pipeline_value),
]


@router.get("", response_model=PipelineList, **operation("pipelines_list", "reader"))
def list_pipelines(ws: WorkspaceClientDep, query: ListQueryDep) -> Response:
    """List every pipeline (all upstream pages), filtered by literal name prefix/substring."""
    return json_body(pipeline_service.list_pipelines(ws, query))


@router.get("/{name}", **operation("pipelines_get", "reader", errors=[404, 409]))
def get_pipeline(name: PipelinePath, ws: WorkspaceClientDep) -> PipelineDetail:
    """A pipeline with its spec, configuration and latest updates (by id or exact name)."""
    return pipeline_service.get_pipeline(ws, name)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    **operation("pipelines_create", "writer", body=True, errors=[404, 409]),
)
def create_pipeline(
    body: PipelineCreate,
    ws: WorkspaceClientDep,
    settings: SettingsDep,
    request: Request,
    response: Response,
) -> PipelineDetail:
    """Create a sharing pipeline (not started); 409 `pipeline_already_exists` when the name is taken."""
    created = pipeline_service.create_pipeline(ws, body, defaults=settings.databricks.pipelines)
    set_location(request, response, "get_pipeline", name=created.pipeline_id)
    return created


@router.patch(
    "/{name}/continuous",
    **operation("pipelines_set_continuous", "writer", body=True, errors=[404, 409]),
)
def set_continuous(
    name: PipelinePath, body: ContinuousUpdate, ws: WorkspaceClientDep
) -> ContinuousResult:
    """Switch between continuous and triggered mode (schedules are not touched)."""
    return pipeline_service.set_continuous(ws, name, body.continuous)


@router.post(
    "/{name}/full-refresh",
    status_code=status.HTTP_202_ACCEPTED,
    **operation("pipelines_full_refresh", "writer", errors=[404, 409]),
)
def full_refresh(
    name: PipelinePath,
    ws: WorkspaceClientDep,
    settings: SettingsDep,
    starter: DeferredStarterDep,
    stop_if_running: Annotated[
        bool,
        Query(description="Stop an active update, then start the refresh in the background"),
    ] = False,
) -> FullRefreshResult:
    """Start a full refresh; 409 `pipeline_busy` while an update runs unless `stop_if_running=true`."""
    return pipeline_service.full_refresh(
        ws,
        name,
        stop_if_running=stop_if_running,
        starter=starter,
        defaults=settings.databricks.pipelines,
    )


@router.delete("/{pipeline_id}", **operation("pipelines_delete", "admin", errors=[404, 409]))
def delete_pipeline(
    pipeline_id: PipelinePath,
    ws: WorkspaceClientDep,
    delete_schedules: Annotated[
        bool, Query(description="Delete the jobs that only schedule this pipeline first")
    ] = True,
    drop_tables: Annotated[
        bool, Query(description="Also drop the tables the pipeline maintains")
    ] = False,
) -> PipelineDeleted:
    """Delete a pipeline (by id or exact name); its tables are kept unless `drop_tables=true`."""
    return pipeline_service.delete_pipeline(
        ws, pipeline_id, delete_schedules=delete_schedules, drop_tables=drop_tables
    )


@router.put(
    "/{name}/configuration",
    **operation("pipelines_set_configuration", "writer", body=True, errors=[404, 409]),
)
def set_configuration(
    name: PipelinePath, body: ConfigurationUpdate, ws: WorkspaceClientDep
) -> ConfigurationResult:
    """Change the key columns and/or target table (source table and SCD type are immutable)."""
    return pipeline_service.set_configuration(ws, name, body)


@router.put(
    "/{name}/libraries",
    **operation("pipelines_set_libraries", "writer", body=True, errors=[404, 409]),
)
def set_libraries(
    name: PipelinePath, body: LibrariesUpdate, ws: WorkspaceClientDep
) -> LibrariesResult:
    """Replace the pipeline library and/or root path (both must exist in the workspace)."""
    return pipeline_service.set_libraries(ws, name, body)


@router.put(
    "/{name}/notifications/add",
    **operation("pipelines_add_notifications", "writer", body=True, errors=[404, 409]),
)
def add_notifications(
    name: PipelinePath, body: NotificationsRequest, ws: WorkspaceClientDep, settings: SettingsDep
) -> NotificationsAdded:
    """Add notification recipients (idempotent)."""
    return pipeline_service.add_notifications(
        ws, name, body.notifications, defaults=settings.databricks.pipelines
    )


@router.put(
    "/{name}/notifications/remove",
    **operation("pipelines_remove_notifications", "writer", body=True, errors=[404, 409]),
)
def remove_notifications(
    name: PipelinePath, body: NotificationsRequest, ws: WorkspaceClientDep
) -> NotificationsRemoved:
    """Remove notification recipients; names not present are reported in `not_present`."""
    return pipeline_service.remove_notifications(ws, name, body.notifications)
