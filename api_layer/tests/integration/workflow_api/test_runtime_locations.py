"""Run-time issues name the entry as the uploaded file has it (docs/SHAREPACK.md §13.4, issue 12 item 3).

The canonical model sorts recipients, shares and pipelines, so the worker used to say `recipient[0]` for the file's
`recipient[1]` and lost the line or cell. A YAML and an Excel pack whose 2nd recipient and the 2nd pipeline of
the 1st share fail live checks at run time must report the file's path and line/cell, one issue per problem,
through the status, the history and the plan.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from typing import Any

import openpyxl
import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.service.sharing import AuthenticationType
from fastapi.testclient import TestClient

from dbrx_api.workflow.models import excel_layout as layout
from dbrx_api.workflow.parsers.xlsx_writer import build_workbook, save_reproducibly
from fixtures.orchestrator import load_yaml, sample_pack
from fixtures.sharepacks import line_of

pytestmark = pytest.mark.integration

OTHER_ORG = "aws:us-east-1:0f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b"  # known to the emulator
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def wait_final(client: TestClient, status_url: str, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        status = dict(client.get(status_url).json())
        if status["status"] in {"COMPLETED", "FAILED", "PENDING_APPROVAL"}:
            return status
        assert time.monotonic() < deadline, status
        time.sleep(0.1)


def failing_pack(url: str) -> str:
    """The sample (file order: partner_analytics, acme_external; sales_share first, its 2nd pipeline
    sales_order_items_pl) with the 2nd pipeline keyed on a column its source table does not have."""
    text = sample_pack(url)
    old = "source_asset: main.sales.order_items\n"
    assert text.count(old) == 1
    return text.replace(old, old + "        key_columns: [no_such_column]\n")


def as_excel(text: str) -> bytes:
    """The pack as a workbook whose rows keep the YAML's order (the writer emits canonical order: reversed)."""
    workbook = build_workbook(load_yaml(text).model)
    for title in (layout.RECIPIENT_SHEET, layout.SHARE_SHEET, layout.PIPELINES_SHEET):
        sheet = workbook[title]
        rows = [[cell.value for cell in row] for row in sheet.iter_rows(min_row=2)]
        for offset, values in enumerate(reversed(rows)):
            for column, value in enumerate(values, start=1):
                sheet.cell(row=2 + offset, column=column).value = value  # None clears
    return save_reproducibly(workbook)


def make_acme_a_d2d_recipient(client: WorkspaceClient) -> None:
    """acme_external (D2O in the pack) already exists as D2D: `recipient_type_immutable` at run time."""
    client.recipients.create(
        "acme_external",
        authentication_type=AuthenticationType.DATABRICKS,
        data_recipient_global_metastore_id=OTHER_ORG,
    )


def located(issues: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {issue["loc"]: issue for issue in issues}


def run_failing(
    client: TestClient, name: str, data: bytes, content_type: str
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Upload, wait for the worker; the status, the history and the plan of the same file."""
    response = client.post(
        "/workflow/sharepack/upload_and_validate", files={"file": (name, data, content_type)}
    )
    assert response.status_code in (200, 202), response.text
    accepted = response.json()
    status = wait_final(client, accepted["status_url"])
    history = client.get(f"{accepted['status_url']}/history").json()
    plan = client.post("/workflow/sharepack/plan", files={"file": (name, data, content_type)})
    assert plan.status_code == 200, plan.text
    return status, history, plan.json()


def check_steps(history: dict[str, Any]) -> dict[str, dict[str, Any]]:
    run = history["versions"][-1]["runs"][-1]
    return {
        step["detail"]["issue"]["loc"]: step for step in run["steps"] if step["action"] == "check"
    }


def test_yaml_run_time_issues_carry_the_files_paths_and_lines(
    workflow_api: Callable[..., TestClient], emu: Any, emu_client: WorkspaceClient
) -> None:
    client = workflow_api(inline=True)
    text = failing_pack(emu.url)
    make_acme_a_d2d_recipient(emu_client)
    data = text.encode()
    type_line = line_of(data, "type: D2O")
    source_line = line_of(data, "key_columns: [no_such_column]")

    status, history, plan = run_failing(client, "sales.yaml", data, "application/x-yaml")

    assert status["status"] == "FAILED", status
    error = status["error"]
    # `error` is the first problem (in file order), not every message joined under one code.
    assert error["code"] == "recipient_type_immutable"
    assert error["message"].startswith(f"recipient[1].type (line {type_line}): ")
    assert "no_such_column" not in error["message"]  # the second problem is its own issue
    issues = located(error["issues"])
    assert set(issues) == {"recipient[1].type", "share[0].pipelines[1].key_columns[0]"}
    assert issues["recipient[1].type"]["line"] == type_line
    assert issues["share[0].pipelines[1].key_columns[0]"]["type"] == "key_column_not_found"
    assert issues["share[0].pipelines[1].key_columns[0]"]["line"] == source_line

    steps = check_steps(history)
    assert set(steps) == set(issues)
    assert steps["recipient[1].type"]["error_code"] == "recipient_type_immutable"
    assert steps["share[0].pipelines[1].key_columns[0]"]["detail"]["issue"]["line"] == source_line

    assert plan["valid"] is False
    planned = located(plan["errors"])
    assert planned["recipient[1].type"]["line"] == type_line
    assert planned["share[0].pipelines[1].key_columns[0]"]["line"] == source_line


def test_excel_run_time_issues_carry_the_files_cells(
    workflow_api: Callable[..., TestClient], emu: Any, emu_client: WorkspaceClient
) -> None:
    client = workflow_api(inline=True)
    data = as_excel(failing_pack(emu.url))
    book = openpyxl.load_workbook(io.BytesIO(data))
    recipients = [row[0].value for row in book[layout.RECIPIENT_SHEET].iter_rows(min_row=2)]
    assert recipients == ["partner_analytics", "acme_external"]
    make_acme_a_d2d_recipient(emu_client)

    status, history, plan = run_failing(client, "sales.xlsx", data, XLSX)

    assert status["status"] == "FAILED", status
    error = status["error"]
    assert error["code"] == "recipient_type_immutable"
    issues = located(error["issues"])
    assert set(issues) == {"recipient[1].type", "share[0].pipelines[1].key_columns[0]"}
    recipient = issues["recipient[1].type"]
    assert (recipient["sheet"], recipient["row"]) == (layout.RECIPIENT_SHEET, 3)
    assert str(recipient["cell"]).endswith("3")
    pipeline = issues["share[0].pipelines[1].key_columns[0]"]
    assert (pipeline["sheet"], pipeline["row"], pipeline["column"]) == (
        layout.PIPELINES_SHEET,
        3,
        "key_columns",
    )
    assert error["message"].startswith(f"{layout.RECIPIENT_SHEET}!{recipient['cell']}")

    steps = check_steps(history)
    key_step = steps["share[0].pipelines[1].key_columns[0]"]
    assert key_step["detail"]["issue"]["cell"] == pipeline["cell"]

    assert plan["valid"] is False
    planned = located(plan["errors"])
    assert planned["recipient[1].type"]["cell"] == recipient["cell"]
    assert planned["share[0].pipelines[1].key_columns[0]"]["cell"] == pipeline["cell"]
