"""Workflow operations in the OpenAPI document (docs/API.md §2.9), present only when the feature is on."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

pytestmark = pytest.mark.integration

WORKFLOW_INDEX = [
    ("post", "/workflow/sharepack/upload_and_validate", "writer", "workflow_upload"),
    ("get", "/workflow/sharepack/{id}", "reader", "workflow_get"),
    ("get", "/workflow/health", "reader", "workflow_health"),
    ("get", "/workflow/sharepacks", "reader", "workflow_list"),
    ("get", "/workflow/sharepack/{id}/history", "reader", "workflow_history"),
    ("post", "/workflow/sharepack/plan", "reader", "workflow_plan"),
    ("get", "/workflow/sharepack/template.xlsx", "public", "workflow_template"),
    ("get", "/workflow/sharepack/schema.json", "public", "workflow_schema"),
    ("get", "/workflow/drift", "reader", "workflow_drift"),
    ("post", "/workflow/export", "reader", "workflow_export"),
]


def test_workflow_operations_documented(workflow_api: Callable[..., TestClient]) -> None:
    document = workflow_api().get("/openapi.json").json()
    for method, path, role, operation_id in WORKFLOW_INDEX:
        operation = document["paths"][path][method]
        assert operation["operationId"] == operation_id
        assert operation["x-required-role"] == role
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                assert list(response["content"]) == ["application/problem+json"], (path, status)
    upload = document["paths"]["/workflow/sharepack/upload_and_validate"]["post"]
    assert "multipart/form-data" in upload["requestBody"]["content"]
    assert {"202", "413", "415", "422"} <= set(upload["responses"])
    paths = list(document["paths"])
    assert paths.index("/workflow/sharepack/template.xlsx") < paths.index(
        "/workflow/sharepack/{id}"
    )
