"""Contract tests: Unity Catalog and workspace objects; names (C08), objects visibility (C09), enums (C13)."""

from __future__ import annotations

import base64
import re

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import BadRequest, InvalidParameterValue, NotFound, ResourceDoesNotExist
from databricks.sdk.errors import NotImplemented as SdkNotImplemented
from databricks.sdk.service.catalog import (
    CatalogIsolationMode,
    CatalogType,
    ColumnTypeName,
    TableType,
)
from databricks.sdk.service.sharing import (
    AuthenticationType,
    SharedDataObject,
    SharedDataObjectDataObjectType,
    SharedDataObjectUpdate,
    SharedDataObjectUpdateAction,
)
from databricks.sdk.service.workspace import ExportFormat, ObjectType

from dbrx_emulator.testing import Emu

pytestmark = pytest.mark.contract

UC = "/api/2.1/unity-catalog"


# ---------------------------------------------------------------------------------------------- C08 names


def test_c08_names_are_case_insensitive_and_stored_lower_case(emu_client: WorkspaceClient) -> None:
    created = emu_client.shares.create("MyShare")

    assert created.name == "myshare"
    assert emu_client.shares.get("MYSHARE").name == "myshare"
    assert emu_client.catalogs.get("MAIN").name == "main"
    assert emu_client.tables.get("Main.Sales.Orders").full_name == "main.sales.orders"


@pytest.mark.parametrize("bad", ["has space", "dot.ted", "", "x" * 256, "tab\there", "del\x7f"])
def test_c08_invalid_names_are_rejected_with_the_uc_message(
    emu_client: WorkspaceClient, bad: str
) -> None:
    with pytest.raises(InvalidParameterValue) as caught:
        emu_client.api_client.do("POST", f"{UC}/shares", body={"name": bad})

    assert "Invalid input: RPC CreateShare Field managedcatalog.ShareInfo.name" in str(caught.value)
    assert (
        "Valid names cannot contain spaces, periods, forward slashes, or control characters."
        in str(caught.value)
    )


def test_c08_percent_encoded_path_segments_are_decoded(emu_client: WorkspaceClient) -> None:
    emu_client.shares.create("abc")

    found = emu_client.api_client.do("GET", f"{UC}/shares/%61b%63")

    assert found["name"] == "abc"
    with pytest.raises(NotFound) as caught:
        emu_client.shares.get("has space")  # sent as has%20space
    assert str(caught.value) == "Share 'has space' does not exist."


@pytest.mark.emulator_unserved_ok
def test_c08_a_slash_in_a_name_reaches_no_operation(emu_client: WorkspaceClient) -> None:
    """Databricks answers 404 ENDPOINT_NOT_FOUND; the emulator says 501, so the unencoded slash cannot pass as a
    missing share (docs/EMULATOR.md §6)."""
    with pytest.raises(SdkNotImplemented) as caught:
        emu_client.shares.get("a/b")
    assert caught.value.error_code == "NOT_IMPLEMENTED"
    assert str(caught.value) == f"The emulator does not implement 'GET {UC}/shares/a/b'."


# ---------------------------------------------------------------------------------------------- C09


def test_c09_objects_only_with_include_shared_data(emu: Emu, emu_client: WorkspaceClient) -> None:
    assert not hasattr(emu_client.shares, "list")
    emu_client.shares.create("s1")
    emu_client.shares.update(
        "s1",
        updates=[
            SharedDataObjectUpdate(
                action=SharedDataObjectUpdateAction.ADD,
                data_object=SharedDataObject(name="main.sales.orders"),
            )
        ],
    )
    api = emu_client.api_client

    assert "objects" not in api.do("GET", f"{UC}/shares/s1")
    assert "objects" not in api.do("GET", f"{UC}/shares/s1", query={"include_shared_data": "false"})
    assert not emu_client.shares.get("s1").objects
    with_data = emu_client.shares.get("s1", include_shared_data=True)
    assert [o.name for o in with_data.objects or []] == ["main.sales.orders"]
    assert all(not s.objects for s in emu_client.shares.list_shares())


# ---------------------------------------------------------------------------------------------- C13


def test_c13_parsed_enums_are_not_none(emu_client: WorkspaceClient) -> None:
    emu_client.shares.create("s1")
    share = emu_client.shares.update(
        "s1",
        updates=[
            SharedDataObjectUpdate(
                action=SharedDataObjectUpdateAction.ADD,
                data_object=SharedDataObject(
                    name="main.sales.v_orders", data_object_type=SharedDataObjectDataObjectType.VIEW
                ),
            )
        ],
    )
    recipient = emu_client.recipients.create("r1", AuthenticationType.TOKEN)

    (obj,) = share.objects or []
    assert obj.data_object_type is SharedDataObjectDataObjectType.VIEW
    assert obj.status is not None
    assert recipient.authentication_type is AuthenticationType.TOKEN
    assert emu_client.tables.get("main.sales.daily_sales").table_type is TableType.MATERIALIZED_VIEW


def test_c13_wrong_enum_case_is_rejected(emu: Emu, emu_client: WorkspaceClient) -> None:
    emu_client.shares.create("s1")
    body = {
        "updates": [
            {
                "action": "ADD",
                "data_object": {"name": "main.sales.orders", "data_object_type": "table"},
            }
        ]
    }

    with pytest.raises(
        InvalidParameterValue,
        match=re.escape("Invalid value 'table' for updates[0].data_object.data_object_type"),
    ):
        emu_client.api_client.do("PATCH", f"{UC}/shares/s1", body=body)
    with pytest.raises(
        InvalidParameterValue, match="Invalid value 'token' for authentication_type"
    ):
        emu_client.api_client.do(
            "POST", f"{UC}/recipients", body={"name": "r", "authentication_type": "token"}
        )

    emu.set_behaviour(enum_case_strict=False)
    patched = emu_client.api_client.do("PATCH", f"{UC}/shares/s1", body=body)
    assert patched["objects"][0]["data_object_type"] == "TABLE"


# ---------------------------------------------------------------------------------------------- catalogs, schemas, tables


def test_catalog_and_schema_create_fill_server_fields(
    emu: Emu, emu_client: WorkspaceClient
) -> None:
    catalog = emu_client.catalogs.create("NewCat", comment="c", properties={"k": "v"})
    schema = emu_client.schemas.create("Raw", catalog_name="newcat")

    assert catalog.name == catalog.full_name == "newcat"
    assert catalog.catalog_type is CatalogType.MANAGED_CATALOG
    assert catalog.isolation_mode is CatalogIsolationMode.OPEN
    assert catalog.metastore_id == emu.state()["workspace"]["metastore_id"]
    assert catalog.owner == catalog.created_by == "00000000-0000-0000-0000-00000000c0de"
    assert catalog.properties == {"k": "v"}
    assert schema.full_name == "newcat.raw"
    assert schema.schema_id
    with pytest.raises(BadRequest, match=re.escape("Catalog 'newcat' already exists.")):
        emu_client.catalogs.create("newcat")
    with pytest.raises(BadRequest, match=re.escape("Schema 'newcat.raw' already exists.")):
        emu_client.schemas.create("raw", catalog_name="newcat")
    with pytest.raises(NotFound, match=re.escape("Catalog 'nocat' does not exist.")):
        emu_client.schemas.create("raw", catalog_name="nocat")


def test_catalog_create_needs_storage_root_without_metastore_root(
    emu: Emu, emu_client: WorkspaceClient
) -> None:
    emu.reset(seed={"workspace": {"metastore_storage_root": None}})

    with pytest.raises(InvalidParameterValue, match="Metastore storage root URL does not exist"):
        emu_client.catalogs.create("c1")
    assert emu_client.catalogs.create(
        "c1", storage_root="abfss://x@y.dfs.core.windows.net/c1"
    ).storage_root


def test_missing_uc_objects_use_the_most_specific_code(emu_client: WorkspaceClient) -> None:
    cases = {
        "nocat.sales.orders": ("CATALOG_DOES_NOT_EXIST", "Catalog 'nocat' does not exist."),
        "main.noschema.orders": ("SCHEMA_DOES_NOT_EXIST", "Schema 'main.noschema' does not exist."),
        "main.sales.nope": ("TABLE_DOES_NOT_EXIST", "Table 'main.sales.nope' does not exist."),
    }
    for full_name, (code, message) in cases.items():
        with pytest.raises(NotFound) as caught:
            emu_client.tables.get(full_name)
        assert (caught.value.error_code, str(caught.value)) == (code, message)
    with pytest.raises(NotFound, match=re.escape("External location 'nope' does not exist.")):
        emu_client.external_locations.get("nope")


def test_tables_get_exists_and_list_options(emu_client: WorkspaceClient) -> None:
    table = emu_client.tables.get("main.sales.orders")
    assert table.table_type is TableType.MANAGED
    assert table.properties == {"delta.enableChangeDataFeed": "true"}
    columns = table.columns or []
    assert [(c.name, c.type_text, c.position) for c in columns[:2]] == [
        ("order_id", "BIGINT", 0),
        ("customer_id", "BIGINT", 1),
    ]
    assert columns[0].type_name is ColumnTypeName.LONG
    amount = columns[3]
    assert (amount.type_name, amount.type_precision, amount.type_scale) == (
        ColumnTypeName.DECIMAL,
        10,
        2,
    )
    assert columns[0].nullable is False
    assert table.storage_location
    assert table.table_id
    view = emu_client.tables.get("main.sales.v_orders")
    assert view.view_definition
    assert view.storage_location is None
    assert emu_client.tables.get("main.sales.order_events").pipeline_id

    assert emu_client.tables.exists("main.sales.orders").table_exists is True
    assert emu_client.tables.exists("main.sales.nope").table_exists is False
    with pytest.raises(NotFound, match=re.escape("Schema 'main.nope' does not exist.")):
        emu_client.tables.exists("main.nope.orders")

    slim = list(emu_client.tables.list("main", "finance", omit_columns=True, omit_properties=True))
    assert [t.name for t in slim] == ["gl_entries", "invoices", "v_invoice_summary"]
    assert all(not t.columns and not t.properties for t in slim)


def test_tables_list_omits_user_names_follows_pages_and_needs_the_schema(
    emu: Emu, emu_client: WorkspaceClient
) -> None:
    full = list(emu_client.tables.list("main", "finance"))
    assert all(t.owner and t.created_by and t.columns and t.properties is not None for t in full)
    slim = list(
        emu_client.tables.list(
            "main",
            "finance",
            omit_columns=True,
            omit_properties=True,
            omit_username=True,
            max_results=2,
        )
    )
    assert [(t.name, t.table_type) for t in slim] == [
        (t.name, t.table_type) for t in full
    ]  # every page followed
    assert all(t.owner is None and t.created_by is None and t.updated_by is None for t in slim)
    assert all(t.full_name and t.table_id for t in slim)
    pages = [call for call in emu.calls("tables.list") if call["query"].get("max_results") == "2"]
    assert len(pages) == 2  # three tables, two per page
    with pytest.raises(NotFound, match=re.escape("Schema 'main.nope' does not exist.")):
        list(emu_client.tables.list("main", "nope"))


def test_both_uc_prefixes_are_served_with_one_operation_id(
    emu: Emu, emu_client: WorkspaceClient
) -> None:
    emu_client.api_client.do("GET", "/api/2.0/unity-catalog/catalogs/main")
    emu_client.catalogs.get("main")

    operation = emu.stats()["operations"]["catalogs.get"]
    assert operation["count"] == 2
    assert operation["path"] == f"{UC}/catalogs/{{name}}"
    assert [c["path"] for c in emu.calls("catalogs.get")] == [
        "/api/2.0/unity-catalog/catalogs/main",
        f"{UC}/catalogs/main",
    ]


def test_read_after_write_lag_hides_new_catalogs_and_schemas(
    emu: Emu, emu_client: WorkspaceClient
) -> None:
    emu.set_behaviour(read_after_write_lag_ms=500)
    emu_client.catalogs.create("lagged")

    with pytest.raises(NotFound):
        emu_client.catalogs.get("lagged")
    assert "lagged" not in [c.name for c in emu_client.catalogs.list()]
    emu.advance(500)
    assert emu_client.catalogs.get("lagged").name == "lagged"


# ---------------------------------------------------------------------------------------------- workspace objects


def test_workspace_get_status_and_export(emu_client: WorkspaceClient) -> None:
    loader = "/Workspace/Shared/deltashare/pipelines/cdf_share_loader.py"
    info = emu_client.workspace.get_status(loader)
    assert info.object_type is ObjectType.FILE
    assert info.path == loader
    assert info.object_id
    assert info.size

    folder = emu_client.workspace.get_status("/Workspace/Shared/deltashare")
    assert folder.object_type is ObjectType.DIRECTORY
    notebook = emu_client.workspace.get_status("/Shared/deltashare/notebooks/readme")
    assert notebook.object_type is ObjectType.NOTEBOOK

    exported = emu_client.workspace.export("/Workspace/Shared/deltashare/notebooks/readme")
    assert base64.b64decode(exported.content or "") == b"print('hi')"
    assert exported.file_type == "py"

    with pytest.raises(ResourceDoesNotExist, match=r"Path \(/Workspace/nope\) doesn't exist."):
        emu_client.workspace.get_status("/Workspace/nope")
    with pytest.raises(InvalidParameterValue):
        emu_client.workspace.export("/Workspace/Shared/deltashare")
    with pytest.raises(InvalidParameterValue):
        emu_client.workspace.export(loader, format=ExportFormat.JUPYTER)
