"""Catalogs endpoints through HTTP, the real databricks-sdk and the emulator (docs/API.md §6, §11.1)."""

from __future__ import annotations

from typing import Any

import pytest
from databricks.sdk import WorkspaceClient
from fastapi.testclient import TestClient

pytestmark = pytest.mark.integration


def test_list_and_get(api: TestClient, emu: Any) -> None:
    listing = api.get("/catalogs").json()
    assert [c["name"] for c in listing["items"]] == ["main", "share_cat"]
    filtered = api.get("/catalogs", params={"contains": "SHARE"}).json()
    assert [c["name"] for c in filtered["items"]] == ["share_cat"]

    emu.reset_stats()
    detail = api.get("/catalogs/MAIN", params={"include_schemas": True}).json()
    assert detail["name"] == "main"
    assert detail["schemas"] == ["finance", "sales"]
    assert emu.count("catalogs.get") == 1
    assert emu.count("schemas.list") == 1
    assert api.get("/catalogs/main").json()["schemas"] is None


def test_unknown_catalog_is_404(api: TestClient) -> None:
    response = api.get("/catalogs/nope")
    assert (response.status_code, response.json()["code"]) == (404, "catalog_not_found")


def test_list_error_is_a_problem_not_an_empty_list(api: TestClient, emu: Any) -> None:
    emu.add_fault(operation="catalogs.list", kind="internal")
    response = api.get("/catalogs")
    assert (response.status_code, response.json()["code"]) == (502, "upstream_error")


def test_create_catalog(api: TestClient, emu_client: WorkspaceClient) -> None:
    response = api.post("/catalogs/Analytics", json={"description": "team catalog"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["name"] == "analytics"
    assert body["comment"] == "team catalog"
    assert response.headers["location"] == "/catalogs/analytics"
    assert emu_client.catalogs.get("analytics").comment == "team catalog"
    duplicate = api.post("/catalogs/analytics")
    assert (duplicate.status_code, duplicate.json()["code"]) == (409, "catalog_already_exists")


def test_create_catalog_from_external_location(
    api: TestClient, emu_client: WorkspaceClient
) -> None:
    response = api.post("/catalogs/landing", json={"external_location": "ext_landing"})
    assert response.status_code == 201, response.text
    assert (
        emu_client.catalogs.get("landing").storage_root
        == "abfss://landing@storage.dfs.core.windows.net/"
    )
    missing = api.post("/catalogs/landing2", json={"external_location": "nope"})
    assert (missing.status_code, missing.json()["code"]) == (404, "external_location_not_found")
    both = api.post(
        "/catalogs/x", json={"external_location": "ext_landing", "storage_root": "abfss://a@b/c"}
    )
    assert both.status_code == 422
    assert both.json()["errors"][0]["type"] == "mutually_exclusive"


def test_create_catalog_without_storage_is_upstream_rejected(api: TestClient, emu: Any) -> None:
    emu.reset(seed={"workspace": {"metastore_storage_root": None}, "catalogs": []})
    response = api.post("/catalogs/analytics")
    assert (response.status_code, response.json()["code"]) == (400, "upstream_rejected")
    assert "storage" in response.json()["detail"].lower()
