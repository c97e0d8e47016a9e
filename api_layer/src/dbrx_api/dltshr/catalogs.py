"""Unity Catalog catalogs: list, read (optionally with schema names) and create (docs/API.md §6, §11.1)."""

from __future__ import annotations

from databricks.sdk import WorkspaceClient
from databricks.sdk.service.catalog import CatalogInfo, CatalogType

from dbrx_api.errors import upstream
from dbrx_api.passthrough import Item, enum_values, known_enum, list_all
from dbrx_api.schemas.catalogs import CatalogCreate, CatalogDetail
from dbrx_api.schemas.common import ListQuery, enum_text, epoch_ms_text, from_epoch_ms, list_body
from dbrx_api.schemas.paths import path_segment


def _summary_fields(info: CatalogInfo) -> dict[str, object]:
    return {
        "name": info.name or "",
        "catalog_type": enum_text(info.catalog_type),
        "owner": info.owner,
        "comment": info.comment,
        "storage_root": info.storage_root,
        "created_at": from_epoch_ms(info.created_at),
        "updated_at": from_epoch_ms(info.updated_at),
    }


def _detail(info: CatalogInfo, schemas: list[str] | None) -> CatalogDetail:
    return CatalogDetail.model_validate(
        {
            **_summary_fields(info),
            "created_by": info.created_by,
            "updated_by": info.updated_by,
            "isolation_mode": enum_text(info.isolation_mode),
            "properties": dict(info.properties or {}),
            "provider_name": info.provider_name,
            "share_name": info.share_name,
            "metastore_id": info.metastore_id,
            "schemas": schemas,
        }
    )


CATALOGS_PATH = "/api/2.1/unity-catalog/catalogs"
_CATALOG_TYPES = enum_values(CatalogType)


def catalog_summary_item(catalog: Item) -> Item:
    """A **CatalogSummary** (docs/API.md §2.3) from a catalog as Databricks sends it, members in the model's order."""
    get = catalog.get
    return {
        "name": get("name") or "",
        "catalog_type": known_enum(get("catalog_type"), _CATALOG_TYPES),
        "owner": get("owner"),
        "comment": get("comment"),
        "storage_root": get("storage_root"),
        "created_at": epoch_ms_text(get("created_at")),
        "updated_at": epoch_ms_text(get("updated_at")),
    }


def list_catalogs(
    ws: WorkspaceClient, query: ListQuery, *, catalog_type: str | None = None
) -> bytes:
    """The JSON body of `GET /catalogs` (a **CatalogList**): every catalog (all upstream pages); upstream errors
    propagate, never an empty list.

    `catalog_type` is a Databricks enum, compared case-insensitively like every enum query value (docs/API.md §1.7).
    A pass-through read (`dbrx_api.passthrough`): the pages the SDK's `catalogs.list()` requests, shaped from the
    decoded JSON, serialised once (docs/API.md §6.1).
    """
    with upstream("catalog"):
        catalogs = list_all(ws, CATALOGS_PATH, "catalogs", {"max_results": 0})
    wanted = catalog_type.upper() if catalog_type is not None else None
    items = [catalog_summary_item(catalog) for catalog in catalogs]
    if wanted is not None:
        items = [item for item in items if (item["catalog_type"] or "").upper() == wanted]
    return list_body(items, query)


def get_catalog(ws: WorkspaceClient, name: str, *, include_schemas: bool = False) -> CatalogDetail:
    """A catalog, with its schema names when asked (every page)."""
    with upstream("catalog", name):
        info = ws.catalogs.get(path_segment(name))
    schemas: list[str] | None = None
    if include_schemas:
        with upstream("catalog", name):
            schemas = sorted(
                (s.name or "" for s in ws.schemas.list(catalog_name=name)), key=str.lower
            )
    return _detail(info, schemas)


def create_catalog(ws: WorkspaceClient, name: str, body: CatalogCreate) -> CatalogDetail:
    """Create a catalog owned by the service principal; no privileges are granted to anyone."""
    storage_root = body.storage_root
    if body.external_location:
        with upstream("external_location", body.external_location):
            storage_root = ws.external_locations.get(body.external_location).url
    with upstream("catalog", name):
        info = ws.catalogs.create(name, comment=body.description, storage_root=storage_root)
    return _detail(info, None)
