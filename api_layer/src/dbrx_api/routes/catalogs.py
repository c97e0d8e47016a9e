"""Catalogs (docs/API.md §6, §11.1): thin routes over `dltshr.catalogs`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Request, Response, status

from dbrx_api.dependencies import WorkspaceClientDep
from dbrx_api.dltshr import catalogs as catalog_service
from dbrx_api.routes.common import ListQueryDep, UcNamePath, json_body, operation, set_location
from dbrx_api.schemas.catalogs import CatalogCreate, CatalogDetail, CatalogList

router = APIRouter(prefix="/catalogs", tags=["Catalogs"])


@router.get("", response_model=CatalogList, **operation("catalogs_list", "reader"))
def list_catalogs(
    ws: WorkspaceClientDep,
    query: ListQueryDep,
    catalog_type: Annotated[
        str | None,
        Query(max_length=64, description="Databricks catalog type, e.g. MANAGED_CATALOG"),
    ] = None,
) -> Response:
    """List catalogs (every upstream page)."""
    return json_body(catalog_service.list_catalogs(ws, query, catalog_type=catalog_type))


@router.get("/{name}", **operation("catalogs_get", "reader", errors=[404]))
def get_catalog(
    name: UcNamePath,
    ws: WorkspaceClientDep,
    include_schemas: Annotated[
        bool, Query(description="Also list the catalog's schema names")
    ] = False,
) -> CatalogDetail:
    """A catalog; 404 `catalog_not_found` when it does not exist."""
    return catalog_service.get_catalog(ws, name, include_schemas=include_schemas)


@router.post(
    "/{name}",
    status_code=status.HTTP_201_CREATED,
    **operation("catalogs_create", "writer", body=True, errors=[404, 409]),
)
def create_catalog(
    name: UcNamePath,
    ws: WorkspaceClientDep,
    request: Request,
    response: Response,
    body: Annotated[CatalogCreate | None, Body()] = None,
) -> CatalogDetail:
    """Create a catalog owned by the service principal (no privileges are granted)."""
    created = catalog_service.create_catalog(ws, name, body or CatalogCreate())
    set_location(request, response, "get_catalog", name=created.name)
    return created
