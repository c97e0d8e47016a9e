"""A pack aimed at a workspace outside the allowlist: 403 `workspace_not_allowed` naming `metadata.workspace_url`
and where it is in the uploaded file, its line (YAML) or cell (Excel) (docs/API.md §10)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fixtures.sharepacks import column_of, line_of, row_of, template_workbook, workbook_bytes
from fixtures.workflow_api import example_pack

pytestmark = pytest.mark.integration

UPLOAD = "/workflow/sharepack/upload_and_validate"
OTHER = "https://adb-999.9.azuredatabricks.net"


def test_yaml_pack_names_the_field_and_its_line(
    workflow_api: Callable[..., TestClient], emu: Any
) -> None:
    client = workflow_api()
    text = example_pack(OTHER)
    for path in (UPLOAD, "/workflow/sharepack/plan"):
        response = client.post(
            path, files={"file": ("sales.yaml", text.encode(), "application/x-yaml")}
        )
        problem = response.json()
        assert (response.status_code, problem["code"]) == (403, "workspace_not_allowed"), path
        line = line_of(text.encode(), "workspace_url:")
        (error,) = problem["errors"]
        assert (error["loc"], error["line"], error["input"]) == (
            "metadata.workspace_url",
            line,
            OTHER,
        )
        assert f"metadata.workspace_url (line {line})" in problem["detail"]
        assert "allowlist" in problem["detail"]
        assert error["hint"]
        assert ".local/" in error["hint"]
    assert emu.stats()["total"] == 0


def test_excel_pack_names_the_field_and_its_cell(
    workflow_api: Callable[..., TestClient], emu: Any
) -> None:
    workbook = template_workbook()
    sheet = workbook["metadata"]
    row = row_of(sheet, "field", "workspace_url")
    sheet.cell(row=row, column=column_of(sheet, "value"), value=OTHER)
    response = workflow_api().post(
        UPLOAD,
        files={
            "file": (
                "sales.xlsx",
                workbook_bytes(workbook),
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            )
        },
    )
    problem = response.json()
    assert (response.status_code, problem["code"]) == (403, "workspace_not_allowed")
    (error,) = problem["errors"]
    assert (error["loc"], error["sheet"], error["row"]) == (
        "metadata.workspace_url",
        "metadata",
        row,
    )
    assert error["cell"]
    assert error["cell"].endswith(str(row))
    assert f"metadata!{error['cell']}" in problem["detail"]
