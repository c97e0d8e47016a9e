"""The Delta Sharing open protocol a token recipient's client speaks (docs/EMULATOR.md §7.8).

Served at the endpoint written into the credential file (`/api/2.0/delta-sharing/metastores/<id>`). These routes
take no workspace token: the recipient's bearer token from its profile is checked by `OpenSharingView`. Pages use
`maxResults` / `pageToken` as the protocol does; table reads answer the version and the metadata (protocol and
metaData lines as NDJSON).
"""

from __future__ import annotations

import json
import re

from dbrx_emulator.api import ApiCall, ApiResponse, ApiRouter, Json
from dbrx_emulator.pipeline import bearer_token
from dbrx_emulator.state.open_sharing import (
    OpenSharingView,
    SharedTable,
    SharingProtocolError,
    not_found,
)
from dbrx_emulator.state.shares import SharingState
from dbrx_emulator.state.uc import Column

router = ApiRouter(prefixes=("/api/2.0/delta-sharing/metastores/{metastore_id}",))
_VERSION_HEADER = "delta-table-version"
_NDJSON = "application/x-ndjson; charset=utf-8"
_SPARK_TYPES = {
    "int": "integer",
    "integer": "integer",
    "bigint": "long",
    "long": "long",
    "smallint": "short",
    "tinyint": "byte",
    "float": "float",
    "double": "double",
    "string": "string",
    "boolean": "boolean",
    "date": "date",
    "timestamp": "timestamp",
    "binary": "binary",
}
_DECIMAL = re.compile(r"^decimal\(\s*\d+\s*,\s*\d+\s*\)$")


def _view(call: ApiCall) -> OpenSharingView:
    sharing = call.rt.store.area(SharingState)
    if call.params["metastore_id"] != call.rt.workspace.metastore_id:
        raise not_found("This sharing server does not serve that metastore.")
    return OpenSharingView.authenticate(
        sharing, bearer_token(call.headers), call.client_ip, call.now_ms
    )


def _page(call: ApiCall, items: list[Json]) -> Json:
    """One page of `items`: `maxResults` (default: all) from the offset in `pageToken`."""
    size = call.query.get_int("maxResults")
    token = call.query.get_str("pageToken") or "0"
    if not token.isdigit() or (size is not None and size < 1):
        raise SharingProtocolError(
            400, "INVALID_PARAMETER_VALUE", "Invalid maxResults or pageToken."
        )
    start = int(token)
    end = len(items) if size is None else start + size
    page: Json = {"items": items[start:end]}
    if end < len(items):
        page["nextPageToken"] = str(end)
    return page


def _table_json(table: SharedTable) -> Json:
    return {
        "name": table.name,
        "schema": table.schema,
        "share": table.share,
        "id": table.table.table_id,
    }


@router.get("/shares", "open_sharing.list_shares", public=True)
def list_shares(call: ApiCall) -> Json:
    """The shares granted to the recipient."""
    view = _view(call)
    return _page(call, [{"name": share.name} for share in view.shares()])


@router.get("/shares/{share}", "open_sharing.get_share", public=True)
def get_share(call: ApiCall) -> Json:
    """One share granted to the recipient."""
    return {"share": {"name": _view(call).share(call.params["share"]).name}}


@router.get("/shares/{share}/schemas", "open_sharing.list_schemas", public=True)
def list_schemas(call: ApiCall) -> Json:
    """The schemas a share shows."""
    share = call.params["share"]
    names = _view(call).schemas(share)
    return _page(call, [{"name": name, "share": share.lower()} for name in names])


@router.get("/shares/{share}/schemas/{schema}/tables", "open_sharing.list_tables", public=True)
def list_tables(call: ApiCall) -> Json:
    """The tables of one schema of a share."""
    view = _view(call)
    share, schema = call.params["share"], call.params["schema"]
    if schema.lower() not in view.schemas(share):
        raise not_found(f"Schema '{share}.{schema}' does not exist or is not shared with you.")
    return _page(call, [_table_json(t) for t in view.tables(share, schema)])


@router.get("/shares/{share}/all-tables", "open_sharing.list_all_tables", public=True)
def list_all_tables(call: ApiCall) -> Json:
    """Every table of a share."""
    return _page(call, [_table_json(t) for t in _view(call).tables(call.params["share"])])


def _table(call: ApiCall) -> SharedTable:
    return _view(call).table(call.params["share"], call.params["schema"], call.params["table"])


@router.get(
    "/shares/{share}/schemas/{schema}/tables/{table}/version",
    "open_sharing.table_version",
    public=True,
)
def table_version(call: ApiCall) -> ApiResponse:
    """The table's current version, in the `delta-table-version` header."""
    table = _table(call)
    return ApiResponse({}, headers={_VERSION_HEADER: str(table.table.current_version)}, raw=b"{}")


@router.get(
    "/shares/{share}/schemas/{schema}/tables/{table}/metadata",
    "open_sharing.table_metadata",
    public=True,
)
def table_metadata(call: ApiCall) -> ApiResponse:
    """The protocol and metaData lines of the table, its version in the header."""
    shared = _table(call)
    table = shared.table
    metadata = {
        "id": table.table_id,
        "name": shared.name,
        "format": {"provider": "parquet", "options": {}},
        "schemaString": json.dumps(
            {"type": "struct", "fields": [_field(column) for column in table.columns]}
        ),
        "partitionColumns": [],
        "configuration": {},
    }
    if table.comment:
        metadata["description"] = table.comment
    lines = [{"protocol": {"minReaderVersion": 1}}, {"metaData": metadata}]
    raw = "".join(json.dumps(line) + "\n" for line in lines).encode()
    return ApiResponse(
        {},
        headers={_VERSION_HEADER: str(table.current_version), "content-type": _NDJSON},
        raw=raw,
    )


def _field(column: Column) -> Json:
    type_text = column.type_text.strip().lower()
    spark_type = (
        type_text.replace(" ", "")
        if _DECIMAL.match(type_text)
        else _SPARK_TYPES.get(type_text, "string")
    )
    return {"name": column.name, "type": spark_type, "nullable": column.nullable, "metadata": {}}
