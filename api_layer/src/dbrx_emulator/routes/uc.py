"""Unity Catalog operations (docs/EMULATOR.md §7.2), served under both UC prefixes."""

from __future__ import annotations

from dbrx_emulator.api import UC_PREFIXES, ApiCall, ApiRouter, Body, Json
from dbrx_emulator.errors import (
    ApiError,
    invalid,
    not_implemented,
    uc_already_exists,
    uc_not_found,
)
from dbrx_emulator.names import check_uc_name
from dbrx_emulator.routes.common import uc_list_page
from dbrx_emulator.state.uc import Audit, Catalog, Schema, UcState

router = ApiRouter(prefixes=UC_PREFIXES)


def _uc(call: ApiCall) -> UcState:
    return call.rt.store.area(UcState)


def _required_query(call: ApiCall, name: str) -> str:
    value = call.query.get_str(name)
    if not value:
        raise invalid(f"Missing required parameter: {name}")
    return value


@router.get("/catalogs", "catalogs.list")
def list_catalogs(call: ApiCall) -> Json:
    """CatalogInfo list, paged by name."""
    uc = _uc(call)
    return uc_list_page(
        call,
        "catalogs",
        uc.catalogs,
        uc.catalog_json,
        accept=lambda k: uc.visible(uc.catalogs[k].visible_from, call.now_ms),
    )


@router.get("/catalogs/{name}", "catalogs.get")
def get_catalog(call: ApiCall) -> Json:
    """CatalogInfo."""
    uc = _uc(call)
    return uc.catalog_json(uc.require_catalog(call.params["name"], call.now_ms))


@router.post("/catalogs", "catalogs.create")
def create_catalog(call: ApiCall) -> Json:
    """Create a catalog."""
    uc, body, rt = _uc(call), call.body, call.rt
    name = check_uc_name(
        body.require_str("name"), "CreateCatalog", "managedcatalog.CatalogInfo.name"
    )
    if name in uc.catalogs:
        raise uc_already_exists(rt.behaviour.already_exists_status, "Catalog", name)
    storage_root = body.str_("storage_root")
    if storage_root is None and rt.workspace.metastore_storage_root is None:
        raise invalid(
            "Metastore storage root URL does not exist. Please provide a storage location for the catalog."
        )
    catalog = Catalog(
        name=name,
        audit=uc.audit(None, call.now_ms),
        comment=body.str_("comment"),
        storage_root=storage_root,
        properties=body.str_map("properties") or {},
        visible_from=call.now_ms + rt.behaviour.read_after_write_lag_ms,
    )
    uc.catalogs.put(name, catalog)
    uc.add_builtin_schemas(catalog, call.now_ms)
    return uc.catalog_json(catalog)


def _apply_update(
    call: ApiCall, target: Catalog | Schema, audit: Audit, properties_field: str = "properties"
) -> None:
    """PATCH semantics of catalogs/schemas update: present fields change; renaming is not emulated (501)."""
    body: Body = call.body
    if body.str_("new_name") is not None:
        raise not_implemented(call.method, f"{call.path} (new_name)")
    comment, owner = body.str_("comment"), body.str_("owner")
    properties = body.str_map(properties_field)
    if comment is not None:
        target.comment = comment
    if owner is not None:
        audit.owner = owner
    if properties is not None:
        target.properties = dict(properties)
    audit.updated_at, audit.updated_by = call.now_ms, call.principal


def _not_empty(kind: str, name: str, what: str) -> ApiError:
    """400 `INVALID_STATE` for deleting a non-empty catalog or schema without `force` (emulator choice of text)."""
    return ApiError(
        400,
        "INVALID_STATE",
        f"{kind} '{name}' is not empty: it contains {what}. Use force=true to delete it with its contents.",
    )


@router.patch("/catalogs/{name}", "catalogs.update")
def update_catalog(call: ApiCall) -> Json:
    """Change a catalog's comment, owner or properties."""
    uc = _uc(call)
    catalog = uc.require_catalog(call.params["name"], call.now_ms)
    _apply_update(call, catalog, catalog.audit)
    return uc.catalog_json(catalog)


@router.delete("/catalogs/{name}", "catalogs.delete")
def delete_catalog(call: ApiCall) -> Json:
    """Delete a catalog; one holding schemas (an empty `default` aside) needs `force=true`."""
    uc = _uc(call)
    catalog = uc.require_catalog(call.params["name"], call.now_ms)
    if not call.query.get_bool("force"):
        holding = [
            s.name
            for s in uc.user_schemas(catalog)
            if s.name != "default" or uc.contents_of(s) is not None
        ]
        if holding:
            raise _not_empty("Catalog", catalog.name, f"schemas {', '.join(holding)}")
    uc.drop_catalog(catalog)
    return {}


@router.get("/schemas", "schemas.list")
def list_schemas(call: ApiCall) -> Json:
    """SchemaInfo list of one catalog, paged by name."""
    uc = _uc(call)
    catalog = uc.require_catalog(_required_query(call, "catalog_name"), call.now_ms)
    return uc_list_page(
        call,
        "schemas",
        uc.schemas,
        uc.schema_json,
        filters={"catalog_name": catalog.name},
        bounds=uc.schemas.prefix_range(catalog.name + "."),
        accept=lambda k: uc.visible(uc.schemas[k].visible_from, call.now_ms),
    )


@router.get("/schemas/{full_name}", "schemas.get")
def get_schema(call: ApiCall) -> Json:
    """SchemaInfo."""
    uc = _uc(call)
    return uc.schema_json(uc.require_schema(call.params["full_name"], call.now_ms))


@router.post("/schemas", "schemas.create")
def create_schema(call: ApiCall) -> Json:
    """Create a schema in an existing catalog."""
    uc, body, rt = _uc(call), call.body, call.rt
    name = check_uc_name(body.require_str("name"), "CreateSchema", "managedcatalog.SchemaInfo.name")
    catalog_name = body.require_str("catalog_name").lower()
    if catalog_name not in uc.catalogs:
        raise uc_not_found(rt.behaviour.not_found_style, "Catalog", catalog_name)
    full_name = f"{catalog_name}.{name}"
    if full_name in uc.schemas:
        raise uc_already_exists(rt.behaviour.already_exists_status, "Schema", full_name)
    schema = Schema(
        catalog_name=catalog_name,
        name=name,
        schema_id=rt.rng.uuid4(),
        audit=uc.audit(None, call.now_ms),
        comment=body.str_("comment"),
        storage_root=body.str_("storage_root"),
        properties=body.str_map("properties") or {},
        visible_from=call.now_ms + rt.behaviour.read_after_write_lag_ms,
    )
    uc.schemas.put(full_name, schema)
    return uc.schema_json(schema)


@router.patch("/schemas/{full_name}", "schemas.update")
def update_schema(call: ApiCall) -> Json:
    """Change a schema's comment, owner or properties."""
    uc = _uc(call)
    schema = uc.require_schema(call.params["full_name"], call.now_ms)
    _apply_update(call, schema, schema.audit)
    return uc.schema_json(schema)


@router.delete("/schemas/{full_name}", "schemas.delete")
def delete_schema(call: ApiCall) -> Json:
    """Delete a schema; one holding tables, volumes or models needs `force=true`."""
    uc = _uc(call)
    schema = uc.require_schema(call.params["full_name"], call.now_ms)
    contents = uc.contents_of(schema)
    if contents is not None and not call.query.get_bool("force"):
        raise _not_empty("Schema", schema.full_name, contents)
    uc.drop_schema(schema)
    return {}


@router.get("/tables", "tables.list")
def list_tables(call: ApiCall) -> Json:
    """TableInfo list of one schema, paged by name; `omit_columns`/`omit_properties`/`omit_username` honoured."""
    uc = _uc(call)
    catalog_name = _required_query(call, "catalog_name").lower()
    schema_name = _required_query(call, "schema_name").lower()
    schema = uc.require_schema(f"{catalog_name}.{schema_name}", call.now_ms)
    omit_columns = bool(call.query.get_bool("omit_columns"))
    omit_properties = bool(call.query.get_bool("omit_properties"))
    omit_username = bool(call.query.get_bool("omit_username"))
    return uc_list_page(
        call,
        "tables",
        uc.tables,
        lambda table: uc.table_json(
            table,
            omit_columns=omit_columns,
            omit_properties=omit_properties,
            omit_username=omit_username,
        ),
        filters={"catalog_name": catalog_name, "schema_name": schema_name},
        bounds=uc.tables.prefix_range(schema.full_name + "."),
    )


def _table_name(call: ApiCall) -> str:
    full_name = call.params["full_name"]
    if full_name.count(".") != 2:
        raise invalid(f"Invalid table name '{full_name}': expected <catalog>.<schema>.<table>.")
    return full_name


@router.get("/tables/{full_name}", "tables.get")
def get_table(call: ApiCall) -> Json:
    """TableInfo with columns and properties."""
    uc = _uc(call)
    return uc.table_json(uc.require_table(_table_name(call), call.now_ms))


@router.delete("/tables/{full_name}", "tables.delete")
def delete_table(call: ApiCall) -> Json:
    """Delete a table (metadata only; shares that hold it keep their entry, emulator choice)."""
    uc = _uc(call)
    table = uc.require_table(_table_name(call), call.now_ms)
    uc.drop_table(table.full_name)
    return {}


@router.get("/tables/{full_name}/exists", "tables.exists")
def table_exists(call: ApiCall) -> Json:
    """`{"table_exists": bool}`; a missing schema or catalog is a 404 (emulator choice)."""
    uc = _uc(call)
    full_name = _table_name(call).lower()
    uc.require_schema(full_name.rsplit(".", 1)[0], call.now_ms)
    return {"table_exists": full_name in uc.tables}


@router.get("/external-locations/{name}", "external_locations.get")
def get_external_location(call: ApiCall) -> Json:
    """ExternalLocationInfo."""
    uc = _uc(call)
    name = call.params["name"].lower()
    location = uc.external_locations.get(name)
    if location is None:
        raise uc_not_found(call.rt.behaviour.not_found_style, "External location", name)
    return uc.external_location_json(location)


def _three_part(call: ApiCall, kind: str) -> str:
    full_name = call.params["full_name"]
    if full_name.count(".") != 2:
        raise invalid(f"Invalid {kind} name '{full_name}': expected <catalog>.<schema>.<{kind}>.")
    return full_name


@router.get("/volumes", "volumes.list")
def list_volumes(call: ApiCall) -> Json:
    """VolumeInfo list of one schema (`catalog_name` and `schema_name` required), paged by name."""
    uc = _uc(call)
    catalog_name = _required_query(call, "catalog_name").lower()
    schema_name = _required_query(call, "schema_name").lower()
    schema = uc.require_schema(f"{catalog_name}.{schema_name}", call.now_ms)
    return uc_list_page(
        call,
        "volumes",
        uc.volumes,
        uc.volume_json,
        filters={"catalog_name": catalog_name, "schema_name": schema_name},
        bounds=uc.volumes.prefix_range(schema.full_name + "."),
    )


@router.get("/volumes/{full_name}", "volumes.read")
def read_volume(call: ApiCall) -> Json:
    """VolumeInfo; missing → 404 (volume, schema or catalog code)."""
    uc = _uc(call)
    return uc.volume_json(uc.require_volume(_three_part(call, "volume"), call.now_ms))


@router.get("/models", "registered_models.list")
def list_models(call: ApiCall) -> Json:
    """RegisteredModelInfo list of one schema, or of the metastore without `catalog_name`/`schema_name`."""
    uc = _uc(call)
    catalog_name = (call.query.get_str("catalog_name") or "").lower()
    schema_name = (call.query.get_str("schema_name") or "").lower()
    if bool(catalog_name) != bool(schema_name):
        raise invalid("catalog_name and schema_name must be given together.")
    bounds = None
    filters: dict[str, object] = {}
    if catalog_name:
        schema = uc.require_schema(f"{catalog_name}.{schema_name}", call.now_ms)
        bounds = uc.models.prefix_range(schema.full_name + ".")
        filters = {"catalog_name": catalog_name, "schema_name": schema_name}
    return uc_list_page(
        call, "registered_models", uc.models, uc.model_json, filters=filters, bounds=bounds
    )


@router.get("/models/{full_name}", "registered_models.get")
def get_model(call: ApiCall) -> Json:
    """RegisteredModelInfo; missing → 404 (model, schema or catalog code)."""
    uc = _uc(call)
    return uc.model_json(uc.require_model(_three_part(call, "model"), call.now_ms))
