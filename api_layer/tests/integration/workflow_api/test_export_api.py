"""`POST /workflow/export` (docs/API.md §12.7): YAML by default, Excel or a JSON envelope on request."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from dbrx_api.workflow.models.pack import PLACEHOLDER

pytestmark = pytest.mark.integration

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def test_export_answers_yaml_excel_and_json_and_adopting_it_plans_no_change(
    workflow_api: Callable[..., TestClient], emu: Any
) -> None:
    client = workflow_api(inline=True)
    headers = {"X-Workspace-URL": emu.url}
    assert client.post("/shares", json={"name": "api_share"}, headers=headers).status_code == 201
    body = {"shares": ["api_share"]}

    response = client.post("/workflow/export", json=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/yaml")
    text = response.text
    document = yaml.safe_load(text)
    assert document["share"] == [{"name": "api_share"}]
    assert document["metadata"]["servicenow"] == PLACEHOLDER

    as_json = client.post(
        "/workflow/export", json=body, headers={**headers, "Accept": "application/json"}
    )
    assert as_json.status_code == 200
    assert as_json.json()["document"] == text
    assert as_json.json()["mutating_calls"] == 0

    as_xlsx = client.post("/workflow/export", json=body, headers={**headers, "Accept": XLSX})
    assert as_xlsx.status_code == 200
    assert as_xlsx.headers["content-type"] == XLSX
    assert as_xlsx.content[:2] == b"PK"

    # The unfilled pack is refused at its placeholders; filled, its plan adopts the share and changes nothing.
    files = {"file": ("pack.yaml", text.encode(), "application/x-yaml")}
    refused = client.post("/workflow/sharepack/plan", files=files)
    assert refused.status_code == 422
    assert {e["type"] for e in refused.json()["errors"]} == {"placeholder_unfilled"}
    filled = text.replace(PLACEHOLDER, "owner@example.com")
    files = {"file": ("pack.yaml", filled.encode(), "application/x-yaml")}
    plan = client.post("/workflow/sharepack/plan", files=files)
    assert plan.status_code == 200, plan.text
    assert [(c["resource_type"], c["action"]) for c in plan.json()["changes"]] == [
        ("share", "adopt"),
        ("share_objects", "no_op"),
        ("share_grants", "no_op"),
    ]

    # Nothing named is an empty pack with a warning; a workspace outside the allowlist is refused.
    empty = client.post(
        "/workflow/export", json={}, headers={**headers, "Accept": "application/json"}
    )
    assert empty.status_code == 200
    assert [w["type"] for w in empty.json()["warnings"]] == ["export_empty"]
    other = {"X-Workspace-URL": "https://adb-1.1.azuredatabricks.net"}
    assert client.post("/workflow/export", json=body, headers=other).status_code == 403
