"""One managing pack per resource and one audit key shape, through HTTP (docs/WORKFLOW.md §5.3, §9.10)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fixtures.orchestrator import views_pack

pytestmark = pytest.mark.integration

UPLOAD = "/workflow/sharepack/upload_and_validate"
PLAN = "/workflow/sharepack/plan"
FINAL = {"COMPLETED", "FAILED", "REJECTED", "SUPERSEDED", "PENDING_APPROVAL", "AWAITING_APPROVAL"}


def post_pack(client: TestClient, path: str, text: str) -> Any:
    return client.post(path, files={"file": ("pack.yaml", text.encode(), "application/x-yaml")})


def provisioned(client: TestClient, text: str) -> dict[str, Any]:
    response = post_pack(client, UPLOAD, text)
    assert response.status_code == 202, response.text
    body = dict(response.json())
    deadline = time.monotonic() + 60
    while True:
        status = dict(client.get(body["status_url"]).json())
        if status["status"] in FINAL:
            break
        assert time.monotonic() < deadline, status
        time.sleep(0.1)
    assert status["status"] == "COMPLETED", status
    return body


def test_second_pack_cannot_declare_the_first_packs_resources(
    workflow_api: Callable[..., TestClient], emu: Any
) -> None:
    client = workflow_api(inline=True)
    first = provisioned(
        client,
        views_pack(
            emu.url,
            {"first_share": ["main.sales.v_orders"]},
            recipients=("first_partner",),
            requestor="first@example.com",
        ),
    )
    second = views_pack(
        emu.url,
        {"first_share": ["main.sales.v_orders"]},
        recipients=("first_partner",),
        requestor="second@example.com",
    )

    for path in (UPLOAD, PLAN):
        response = post_pack(client, path, second)
        assert response.status_code == 422, response.text
        problem = response.json()
        assert problem["code"] == "sharepack_invalid"
        errors = problem["errors"]
        assert [(e["type"], e["loc"]) for e in errors] == [
            ("resource_managed_by_other_pack", "recipient[0]"),
            ("resource_managed_by_other_pack", "share[0]"),
        ]
        for error in errors:
            assert error["line"] is not None
            assert first["share_pack_id"] in error["msg"]
            assert "retail analytics/sales-insights/first@example.com" in error["msg"]
    # Nothing was stored for the second pack.
    listed = client.get("/workflow/sharepacks").json()["items"]
    assert [item["share_pack_id"] for item in listed] == [first["share_pack_id"]]

    # Granting the first pack's recipient from another pack's share is a reference, not a declaration.
    referencing = views_pack(
        emu.url,
        {"second_share": ["main.sales.v_orders"]},
        recipients=("second_partner",),
        requestor="second@example.com",
    ).replace("recipients: [second_partner]", "recipients: [first_partner, second_partner]")
    assert post_pack(client, UPLOAD, referencing).status_code == 202


def test_api_and_worker_audit_rows_share_one_key_shape(
    workflow_api: Callable[..., TestClient], emu: Any
) -> None:
    client = workflow_api(inline=True)
    headers = {"X-Workspace-URL": emu.url}
    assert client.post("/shares", json={"name": "api_share"}, headers=headers).status_code == 201
    pack = provisioned(
        client,
        views_pack(
            emu.url,
            {"pack_share": ["main.sales.v_orders"]},
            recipients=("pack_partner",),
            requestor="audit@example.com",
        ),
    )
    ctx = client.app.state.workflow  # type: ignore[attr-defined]
    with ctx.pool.connection() as conn:
        rows = conn.execute(
            "SELECT source, action, actor_id, actor_name, actor_kind, workspace_url, entity_type, entity_key, "
            "new_values FROM deltashare.audit_trail WHERE entity_type = 'share' ORDER BY audit_id"
        ).fetchall()
    api_row = next(r for r in rows if r["source"] == "api")
    worker_row = next(
        r for r in rows if r["source"] == "workflow" and r["action"] == "share.create"
    )
    assert (api_row["entity_type"], api_row["entity_key"]) == ("share", "api_share")
    assert (worker_row["entity_type"], worker_row["entity_key"]) == ("share", "pack_share")
    assert api_row["workspace_url"] == worker_row["workspace_url"] == emu.url
    # The worker's row names the uploader of the version, and the worker that performed the step.
    assert worker_row["actor_id"] == api_row["actor_id"] == "local-developer"
    assert worker_row["actor_name"] is not None
    assert worker_row["actor_kind"] == "user"
    assert worker_row["new_values"]["performed_by"].startswith("worker:")
    assert "approved_by" in worker_row["new_values"]
    with ctx.pool.connection() as conn:
        keys = conn.execute(
            "SELECT entity_key FROM deltashare.audit_trail WHERE share_pack_id = %s "
            "AND source = 'workflow'",
            (pack["share_pack_id"],),
        ).fetchall()
    assert keys
    assert all("/" not in row["entity_key"] for row in keys)
