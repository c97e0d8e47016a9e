"""The OpenAPI document honours the contract of docs/API.md §1.1 and the endpoint index of docs/API.md §2.9."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

pytestmark = pytest.mark.integration

# (method, path, role, operationId, needs X-Workspace-URL) — docs/API.md §2.9
INDEX: list[tuple[str, str, str, str, bool]] = [
    ("get", "/health", "public", "health_live", False),
    ("get", "/health/ready", "public", "health_ready", False),
    ("get", "/shares", "reader", "shares_list", True),
    ("get", "/shares/{name}", "reader", "shares_get", True),
    ("post", "/shares", "writer", "shares_create", True),
    ("delete", "/shares/{name}", "admin", "shares_delete", True),
    ("put", "/shares/{name}/dataobject/add", "writer", "shares_add_objects", True),
    ("put", "/shares/{name}/dataobject/revoke", "writer", "shares_revoke_objects", True),
    ("put", "/shares/{name}/recipients/add", "writer", "shares_add_recipients", True),
    ("put", "/shares/{name}/recipients/remove", "writer", "shares_remove_recipients", True),
    ("get", "/recipients", "reader", "recipients_list", True),
    ("get", "/recipients/{name}", "reader", "recipients_get", True),
    ("post", "/recipients/d2d/{name}", "writer", "recipients_create_d2d", True),
    ("post", "/recipients/d2o/{name}", "writer", "recipients_create_d2o", True),
    ("delete", "/recipients/{name}", "admin", "recipients_delete", True),
    ("put", "/recipients/{name}/ipaddress/add", "writer", "recipients_add_ips", True),
    ("put", "/recipients/{name}/ipaddress/revoke", "writer", "recipients_revoke_ips", True),
    ("post", "/recipients/{name}/tokens/rotate", "writer", "recipients_rotate_token", True),
    ("get", "/tokens", "reader", "recipients_token_report", True),
    ("get", "/access", "reader", "access_view", True),
    ("get", "/catalogs", "reader", "catalogs_list", True),
    ("get", "/catalogs/{name}", "reader", "catalogs_get", True),
    ("post", "/catalogs/{name}", "writer", "catalogs_create", True),
    ("put", "/recipients/{name}/description", "writer", "recipients_set_description", True),
    ("put", "/recipients/{name}/expiration", "writer", "recipients_set_expiration", True),
    ("put", "/recipients/{name}/properties", "writer", "recipients_set_properties", True),
    ("get", "/pipelines", "reader", "pipelines_list", True),
    ("get", "/pipelines/{name}", "reader", "pipelines_get", True),
    ("post", "/pipelines", "writer", "pipelines_create", True),
    ("patch", "/pipelines/{name}/continuous", "writer", "pipelines_set_continuous", True),
    ("post", "/pipelines/{name}/full-refresh", "writer", "pipelines_full_refresh", True),
    ("delete", "/pipelines/{pipeline_id}", "admin", "pipelines_delete", True),
    ("get", "/schedules", "reader", "schedules_list", True),
    ("get", "/schedules/pipeline/{name}", "reader", "schedules_list_for_pipeline", True),
    ("post", "/pipelines/{name}/schedules", "writer", "schedules_create", True),
    ("patch", "/pipelines/{name}/schedules/{job}/cron", "writer", "schedules_set_cron", True),
    (
        "patch",
        "/pipelines/{name}/schedules/{job}/timezone",
        "writer",
        "schedules_set_timezone",
        True,
    ),
    ("delete", "/pipelines/{name}/schedules/{job}", "admin", "schedules_delete", True),
    ("get", "/pipelines/{pipeline_id}/metrics", "reader", "metrics_pipeline_updates", True),
    ("get", "/pipelines/{name}/job-runs/metrics", "reader", "metrics_job_runs", True),
    ("put", "/pipelines/{name}/configuration", "writer", "pipelines_set_configuration", True),
    ("put", "/pipelines/{name}/libraries", "writer", "pipelines_set_libraries", True),
    ("put", "/pipelines/{name}/notifications/add", "writer", "pipelines_add_notifications", True),
    (
        "put",
        "/pipelines/{name}/notifications/remove",
        "writer",
        "pipelines_remove_notifications",
        True,
    ),
    ("delete", "/pipelines/{name}/schedules", "admin", "schedules_delete_all", True),
]
COMMON_WORKSPACE_ERRORS = {"400", "401", "403", "422", "500", "502", "503"}


@pytest.fixture(scope="module")
def document(api_app: Any) -> dict[str, Any]:
    with TestClient(api_app) as client:
        response = client.get("/openapi.json")
    assert response.status_code == 200
    return dict(response.json())


def test_openapi_version_and_security_scheme(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1")
    schemes = document["components"]["securitySchemes"]
    assert any(s["type"] == "http" and s["scheme"] == "bearer" for s in schemes.values())
    assert "Problem" in document["components"]["schemas"]


@pytest.mark.parametrize(("method", "path", "role", "operation_id", "workspace"), INDEX)
def test_index_entry(
    document: dict[str, Any], method: str, path: str, role: str, operation_id: str, workspace: bool
) -> None:
    operation = document["paths"][path][method]
    assert operation["operationId"] == operation_id
    assert operation["x-required-role"] == role
    assert (
        role == "public" and "Public." in operation["description"]
    ) or f"**{role}**" in operation["description"]
    headers = [p for p in operation.get("parameters", []) if p["in"] == "header"]
    if workspace:
        workspace_headers = [h for h in headers if h["name"] == "X-Workspace-URL"]
        assert workspace_headers
        assert workspace_headers[0]["required"] is True
        assert set(operation["responses"]) >= COMMON_WORKSPACE_ERRORS
    else:
        assert not any(h["name"] == "X-Workspace-URL" for h in headers)
    if role != "public":
        assert operation.get("security"), "authenticated operations declare the bearer scheme"
    for status, response in operation["responses"].items():
        if int(status) >= 400:
            assert list(response["content"]) == ["application/problem+json"], (path, status)


def test_no_undocumented_operations(document: dict[str, Any]) -> None:
    """Every non-workflow operation in the document is in the index (the workflow has its own tests)."""
    listed = {(m, p) for m, p, *_ in INDEX}
    extra = {
        (method, path)
        for path, item in document["paths"].items()
        for method in item
        if not path.startswith("/workflow") and (method, path) not in listed
    }
    assert extra == set()


def test_rotate_documents_the_grace_period(document: dict[str, Any]) -> None:
    """The rotation body explains the grace period and shows one, since no body expires the token at once (docs/API.md §5.8)."""
    operation = document["paths"]["/recipients/{name}/tokens/rotate"]["post"]
    content = operation["requestBody"]["content"]["application/json"]
    assert content["examples"]["grace"]["value"] == {"existing_token_expire_in_seconds": 3600}
    field = document["components"]["schemas"]["RotateToken"]["properties"][
        "existing_token_expire_in_seconds"
    ]
    assert "grace period" in field["description"].lower()
    assert field["examples"] == [3600]
    assert "immediately" in operation["description"]


def test_recipient_shares_field_documents_null(document: dict[str, Any]) -> None:
    """`shares` of RecipientDetail is nullable and says what null means (docs/API.md §2.2)."""
    field = document["components"]["schemas"]["RecipientDetail"]["properties"]["shares"]
    assert {"type": "null"} in field["anyOf"]
    assert "not read" in field["description"]
