"""Shares (docs/API.md §4): thin routes over `dltshr.shares`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from dbrx_api.dependencies import MaxParallelDep, WorkspaceClientDep
from dbrx_api.dltshr import shares as share_service
from dbrx_api.routes.common import ListQueryDep, UcNamePath, json_body, operation, set_location
from dbrx_api.schemas.common import DeleteResult
from dbrx_api.schemas.shares import (
    ObjectsAdded,
    ObjectsRemoved,
    ObjectsRequest,
    RecipientNames,
    RecipientsAdded,
    RecipientsRemoved,
    ShareCreate,
    ShareDetail,
    ShareList,
)

router = APIRouter(prefix="/shares", tags=["Shares"])


@router.get("", response_model=ShareList, **operation("shares_list", "reader"))
def list_shares(ws: WorkspaceClientDep, query: ListQueryDep) -> Response:
    """List the workspace's shares (every upstream page), filtered by literal name prefix/substring."""
    return json_body(share_service.list_shares(ws, query))


@router.get("/{name}", **operation("shares_get", "reader", errors=[404]))
def get_share(
    name: UcNamePath,
    ws: WorkspaceClientDep,
    include_objects: Annotated[bool, Query(description="Include the shared objects")] = True,
    include_recipients: Annotated[bool, Query(description="Include the recipient grants")] = True,
) -> ShareDetail:
    """A share with its objects and the recipients granted on it."""
    return share_service.get_share(
        ws, name, include_objects=include_objects, include_recipients=include_recipients
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    **operation("shares_create", "writer", body=True, errors=[409]),
)
def create_share(
    body: ShareCreate, ws: WorkspaceClientDep, request: Request, response: Response
) -> ShareDetail:
    """Create a share; 409 `share_already_exists` when the name is taken."""
    created = share_service.create_share(ws, body)
    set_location(request, response, "get_share", name=created.name)
    return created


@router.delete("/{name}", **operation("shares_delete", "admin", errors=[404]))
def delete_share(name: UcNamePath, ws: WorkspaceClientDep) -> DeleteResult:
    """Delete a share; its grants disappear with it, pipelines feeding it are not touched."""
    return share_service.delete_share(ws, name)


@router.put(
    "/{name}/dataobject/add",
    **operation("shares_add_objects", "writer", body=True, errors=[404, 409]),
)
def add_objects(
    name: UcNamePath, body: ObjectsRequest, ws: WorkspaceClientDep, max_parallel: MaxParallelDep
) -> ObjectsAdded:
    """Add tables, views, schemas or notebooks (idempotent; batched ≤ 100 changes per upstream call)."""
    return share_service.add_objects(ws, name, body, max_parallel=max_parallel)


@router.put(
    "/{name}/dataobject/revoke",
    **operation("shares_revoke_objects", "writer", body=True, errors=[404]),
)
def revoke_objects(
    name: UcNamePath, body: ObjectsRequest, ws: WorkspaceClientDep
) -> ObjectsRemoved:
    """Remove objects from a share; names not in the share are reported in `not_present`."""
    return share_service.revoke_objects(ws, name, body)


@router.put(
    "/{name}/recipients/add",
    **operation("shares_add_recipients", "writer", body=True, errors=[404]),
)
def add_recipients(
    name: UcNamePath, body: RecipientNames, ws: WorkspaceClientDep, max_parallel: MaxParallelDep
) -> RecipientsAdded:
    """Grant recipients SELECT on the share, in one upstream write."""
    return share_service.add_recipients(ws, name, body, max_parallel=max_parallel)


@router.put(
    "/{name}/recipients/remove",
    **operation("shares_remove_recipients", "writer", body=True, errors=[404]),
)
def remove_recipients(
    name: UcNamePath, body: RecipientNames, ws: WorkspaceClientDep
) -> RecipientsRemoved:
    """Revoke recipients' access to the share, in one upstream write."""
    return share_service.remove_recipients(ws, name, body)
