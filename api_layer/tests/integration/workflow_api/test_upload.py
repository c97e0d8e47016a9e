"""Share-pack upload, approval gate, versions, status, list and history through HTTP (docs/API.md §10, §12)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fixtures.api import assert_unknown_query_refused_everywhere
from fixtures.workflow_api import example_pack

pytestmark = pytest.mark.integration

UPLOAD = "/workflow/sharepack/upload_and_validate"


def upload(client: TestClient, text: str, name: str = "sales.yaml", **headers: str) -> Any:
    return client.post(
        UPLOAD, files={"file": (name, text.encode(), "application/x-yaml")}, headers=headers
    )


def test_upload_stores_queues_and_reports(
    workflow_api: Callable[..., TestClient], emu: Any
) -> None:
    client = workflow_api()
    response = upload(client, example_pack(emu.url))
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["version"] == 1
    assert body["status"] == "QUEUED"
    assert body["created_version"] is True
    assert body["rerun"] is False
    assert body["enqueue"] == "sent"
    assert (
        response.headers["location"]
        == body["status_url"]
        == f"/workflow/sharepack/{body['share_pack_id']}"
    )
    ctx = client.app.state.workflow  # type: ignore[attr-defined]
    assert ctx.queue.approximate_counts()[0] == 1
    assert emu.stats()["total"] == 0  # upload makes no Databricks call

    status = client.get(body["status_url"]).json()
    assert status["status"] == "QUEUED"
    assert status["current_version"] == 1
    assert status["pack_key"] == "retail analytics/sales-insights/jane.doe@example.com"
    assert status["requested_by"]["id"] == "local-developer"
    assert status["governance"]["servicenow"] == "RITM0012345"
    assert status["latest_run"] is None


def test_identical_upload_changes_nothing(
    workflow_api: Callable[..., TestClient], emu: Any
) -> None:
    client = workflow_api()
    first = upload(client, example_pack(emu.url)).json()
    again = upload(client, example_pack(emu.url))
    assert again.status_code == 200
    body = again.json()
    assert body["created_version"] is False
    assert body["version"] == first["version"]
    assert body["enqueue"] == "none"
    ctx = client.app.state.workflow  # type: ignore[attr-defined]
    assert ctx.queue.approximate_counts()[0] == 1


def test_new_version_supersedes_the_queued_one(
    workflow_api: Callable[..., TestClient], emu: Any
) -> None:
    client = workflow_api()
    first = upload(client, example_pack(emu.url)).json()
    second = upload(client, example_pack(emu.url, description="Changed text")).json()
    assert second["share_pack_id"] == first["share_pack_id"]
    assert second["version"] == 2
    history = client.get(f"/workflow/sharepack/{first['share_pack_id']}/history").json()
    versions = {v["version"]: v for v in history["versions"]}
    assert [t["to_status"] for t in versions[1]["transitions"]] == [
        "RECEIVED",
        "VALIDATED",
        "QUEUED",
        "SUPERSEDED",
    ]
    assert versions[1]["is_current"] is False
    assert versions[1]["effective_to"] == versions[2]["effective_from"]
    assert versions[2]["is_current"] is True
    assert versions[2]["config"] is None
    with_config = client.get(
        f"/workflow/sharepack/{first['share_pack_id']}/history", params={"include_config": True}
    ).json()
    assert with_config["versions"][1]["config"]["metadata"]["description"] == "Changed text"


@pytest.mark.parametrize(
    ("approver_status", "expected"),
    [
        ("pending", "PENDING_APPROVAL"),
        ("request_more_info", "PENDING_APPROVAL"),
        ("declined", "REJECTED"),
    ],
)
def test_approval_gate(
    workflow_api: Callable[..., TestClient], emu: Any, approver_status: str, expected: str
) -> None:
    client = workflow_api()
    body = upload(client, example_pack(emu.url, approver_status=approver_status)).json()
    assert body["status"] == expected
    assert body["enqueue"] == "none"
    ctx = client.app.state.workflow  # type: ignore[attr-defined]
    assert ctx.queue.approximate_counts()[0] == 0


def test_invalid_pack_stores_nothing(workflow_api: Callable[..., TestClient], emu: Any) -> None:
    client = workflow_api()
    broken = example_pack(emu.url).replace("cron: 0 0 2 ? * *", "cron: 0 2 * * 1-5", 1)
    broken = broken.replace("servicenow: RITM0012345", "servicenow: ''")
    response = upload(client, broken)
    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "sharepack_invalid"
    assert len(problem["errors"]) >= 1
    assert all(e["severity"] == "error" and e.get("line") for e in problem["errors"])
    assert client.get("/workflow/sharepacks").json()["items"] == []


def test_file_type_and_size(workflow_api: Callable[..., TestClient], emu: Any) -> None:
    client = workflow_api()
    wrong = client.post(UPLOAD, files={"file": ("pack.txt", b"metadata: {}", "text/plain")})
    assert (wrong.status_code, wrong.json()["code"]) == (415, "file_type_unsupported")
    xls = client.post(
        UPLOAD,
        files={"file": ("pack.xls", b"\xd0\xcf\x11\xe0" + b"\0" * 100, "application/octet-stream")},
    )
    assert (xls.status_code, xls.json()["code"]) == (415, "xls_not_supported")
    big = client.post(
        UPLOAD, files={"file": ("pack.yaml", b"#" * (6 * 1024 * 1024), "application/x-yaml")}
    )
    assert (big.status_code, big.json()["code"]) == (413, "file_too_large")


def test_chunked_upload_over_the_limit_is_413(workflow_api: Callable[..., TestClient]) -> None:
    """50 MB streamed without Content-Length: cut at the limit and reported as such (docs/API.md §10.1)."""

    def chunked() -> Iterator[bytes]:
        yield (
            b"--b0undary\r\n"
            b'Content-Disposition: form-data; name="file"; filename="pack.yaml"\r\n'
            b"Content-Type: application/x-yaml\r\n\r\n"
        )
        for _ in range(50 * 16):
            yield b"#" * 65536
        yield b"\r\n--b0undary--\r\n"

    client = workflow_api()
    response = client.post(
        UPLOAD,
        content=chunked(),
        headers={"content-type": "multipart/form-data; boundary=b0undary"},
    )
    problem = response.json()
    assert (response.status_code, problem["code"]) == (413, "file_too_large")
    assert str(5 * 1024 * 1024) in problem["detail"]
    assert client.get("/workflow/sharepacks").json()["items"] == []


@pytest.mark.parametrize("path", [UPLOAD, "/workflow/sharepack/plan"])
@pytest.mark.parametrize("media_type", ["application/x-yaml", "text/yaml"])
def test_raw_yaml_body_is_told_to_send_a_form(
    workflow_api: Callable[..., TestClient], emu: Any, path: str, media_type: str
) -> None:
    client = workflow_api()
    response = client.post(
        path, content=example_pack(emu.url).encode(), headers={"content-type": media_type}
    )
    problem = response.json()
    assert (response.status_code, problem["code"]) == (415, "unsupported_media_type")
    assert "multipart/form-data" in problem["detail"]
    assert "'file'" in problem["detail"]
    assert "application/json" not in problem["detail"]


def test_two_file_parts_are_422(workflow_api: Callable[..., TestClient], emu: Any) -> None:
    client = workflow_api()
    pack = example_pack(emu.url).encode()
    for path in (UPLOAD, "/workflow/sharepack/plan?offline=true"):
        response = client.post(
            path,
            files=[
                ("file", ("a.yaml", pack, "application/x-yaml")),
                ("file", ("b.yaml", pack, "application/x-yaml")),
            ],
        )
        problem = response.json()
        assert (response.status_code, problem["code"]) == (422, "validation_failed"), path
        assert problem["errors"][0]["loc"] == ["body", "file"]
        assert "'file'" in problem["detail"]
    assert client.get("/workflow/sharepacks").json()["items"] == []


def test_workspace_rules(workflow_api: Callable[..., TestClient], emu: Any) -> None:
    client = workflow_api()
    other = upload(client, example_pack("https://adb-999.9.azuredatabricks.net"))
    assert (other.status_code, other.json()["code"]) == (403, "workspace_not_allowed")
    mismatch = upload(client, example_pack(emu.url), **{"X-Workspace-URL": "http://127.0.0.1:1"})
    assert (mismatch.status_code, mismatch.json()["code"]) == (422, "workspace_mismatch")
    same = upload(client, example_pack(emu.url), **{"X-Workspace-URL": emu.url + "/"})
    assert same.status_code == 202
    assert emu.stats()["total"] == 0


def test_delete_pack_needs_admin(
    workflow_api: Callable[..., TestClient], emu: Any, token_factory: Any
) -> None:
    client = workflow_api(auth=True)
    delete_pack = example_pack(emu.url, strategy="DELETE")
    writer = {"Authorization": f"Bearer {token_factory.mint(roles=['DeltaShare.Writer'])}"}
    denied = upload(client, delete_pack, **writer)
    assert (denied.status_code, denied.json()["code"]) == (403, "role_missing")
    admin = {"Authorization": f"Bearer {token_factory.mint(roles=['DeltaShare.Admin'])}"}
    assert client.get("/workflow/sharepacks", headers=admin).json()["items"] == []
    accepted = upload(client, delete_pack, **admin)
    assert accepted.status_code == 202, accepted.text
    status = client.get(accepted.json()["status_url"], headers=admin).json()
    assert status["strategy"] == "DELETE"
    assert status["requested_by"]["id"] == "0a1b2c3d-0000-4000-8000-00000000abcd"


def test_unknown_and_malformed_ids(workflow_api: Callable[..., TestClient]) -> None:
    client = workflow_api()
    for path in (f"/workflow/sharepack/{uuid.uuid4()}", "/workflow/sharepack/not-a-uuid"):
        response = client.get(path)
        assert (response.status_code, response.json()["code"]) == (404, "sharepack_not_found")
        history = client.get(f"{path}/history")
        assert history.status_code == 404


def test_list_filters_and_cursor(workflow_api: Callable[..., TestClient], emu: Any) -> None:
    client = workflow_api()
    ids = []
    for project in ("p-one", "p-two", "p-three"):
        ids.append(
            upload(client, example_pack(emu.url, project_name=project)).json()["share_pack_id"]
        )
    upload(client, example_pack(emu.url, project_name="p-four", approver_status="pending"))
    queued = client.get("/workflow/sharepacks", params={"status": "QUEUED"}).json()
    assert {i["share_pack_id"] for i in queued["items"]} == set(ids)
    first = client.get("/workflow/sharepacks", params={"limit": 2}).json()
    assert first["count"] == 2
    assert first["next_cursor"]
    rest = client.get(
        "/workflow/sharepacks", params={"limit": 2, "cursor": first["next_cursor"]}
    ).json()
    assert rest["count"] == 2
    seen = [i["share_pack_id"] for i in first["items"] + rest["items"]]
    assert len(set(seen)) == 4
    bad = client.get("/workflow/sharepacks", params={"cursor": "garbage"})
    assert bad.status_code == 422
    mine = client.get("/workflow/sharepacks", params={"requested_by": "LOCAL-DEVELOPER"}).json()
    assert mine["count"] == 4


def test_list_filters_by_workspace_pack_key_and_project(
    workflow_api: Callable[..., TestClient], emu: Any
) -> None:
    """docs/API.md §12.1: the filters that exist in the data; each one filters, none is ignored."""
    client = workflow_api()
    one = upload(client, example_pack(emu.url, project_name="p-one")).json()["share_pack_id"]
    two = upload(client, example_pack(emu.url, project_name="p-two")).json()["share_pack_id"]

    def listed(**params: str) -> set[str]:
        response = client.get("/workflow/sharepacks", params=params)
        assert response.status_code == 200, response.text
        return {item["share_pack_id"] for item in response.json()["items"]}

    # Normalised like X-Workspace-URL: scheme and host case, one trailing '/'.
    assert listed(workspace=emu.url.upper() + "/") == {one, two}
    assert listed(workspace="https://adb-9.9.azuredatabricks.net") == set()
    assert listed(pack_key="RETAIL ANALYTICS/P-ONE/JANE.DOE@EXAMPLE.COM") == {one}
    assert listed(pack_key="retail analytics/p-one") == set()  # exact, not a prefix
    assert listed(project="P-Two") == {two}
    assert listed(project="p-three") == set()
    assert listed(workspace=emu.url, project="p-one", status="queued") == {one}
    invalid = client.get("/workflow/sharepacks", params={"workspace": emu.url + "/path"})
    assert invalid.status_code == 422
    assert invalid.json()["errors"][0]["loc"] == ["query", "workspace"]


def test_list_refuses_unknown_filters(workflow_api: Callable[..., TestClient], emu: Any) -> None:
    """An unsupported filter was ignored and the list answered with every pack (docs/API.md §1.7)."""
    client = workflow_api()
    upload(client, example_pack(emu.url))
    response = client.get(
        "/workflow/sharepacks", params={"workspace": emu.url, "packkey": "x", "owner": "y"}
    )
    problem = response.json()
    assert (response.status_code, problem["code"]) == (422, "query_parameter_unknown")
    assert [e["loc"] for e in problem["errors"]] == [["query", "owner"], ["query", "packkey"]]
    assert "'owner', 'packkey'" in problem["detail"]
    assert {"workspace", "pack_key", "project", "status", "cursor"} <= set(problem["accepted"])


def test_every_workflow_operation_refuses_unknown_query_parameters(
    workflow_api: Callable[..., TestClient],
) -> None:
    client = workflow_api()
    assert_unknown_query_refused_everywhere(client, only_prefix="/workflow/")


def test_template_and_schema_are_public_and_cacheable(
    workflow_api: Callable[..., TestClient],
) -> None:
    client = workflow_api(auth=True)
    template = client.get("/workflow/sharepack/template.xlsx")
    assert template.status_code == 200
    assert template.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert 'filename="sharepack_template.xlsx"' in template.headers["content-disposition"]
    assert template.content[:4] == b"PK\x03\x04"
    assert client.get("/workflow/sharepack/template.xlsx").content == template.content
    schema = client.get("/workflow/sharepack/schema.json")
    assert schema.headers["content-type"].startswith("application/schema+json")
    assert schema.json()["$schema"].startswith("https://json-schema.org/draft/2020-12")
    assert schema.headers["etag"]


def test_workflow_health(workflow_api: Callable[..., TestClient]) -> None:
    client = workflow_api()
    body = client.get("/workflow/health").json()
    assert body["status"] == "ok"
    assert (
        body["checks"]["database"]["schema_version"]
        == body["checks"]["database"]["expected_schema_version"]
    )
    assert body["checks"]["queue"]["kind"] == "in_process"
    assert body["checks"]["queue"]["durable"] is False
    assert body["checks"]["worker"]["mode"] == "external"
    ready = client.get("/health/ready").json()
    assert {"database", "migrations", "queue"} <= set(ready["checks"])


def test_rest_mutations_are_audited_in_the_database(
    workflow_api: Callable[..., TestClient], emu: Any
) -> None:
    client = workflow_api()
    headers = {"X-Workspace-URL": emu.url}
    created = client.post("/recipients/d2o/audited", json={}, headers=headers).json()
    assert (
        client.post("/shares", json={"name": "audited_share"}, headers=headers).status_code == 201
    )
    assert client.delete("/shares/nope", headers=headers).status_code == 404
    ctx = client.app.state.workflow  # type: ignore[attr-defined]
    with ctx.pool.connection() as conn:
        rows = conn.execute(
            "SELECT action, entity_key, outcome, actor_id, workspace_url, request_id, new_values::text AS nv "
            "FROM deltashare.audit_trail WHERE source = 'api' ORDER BY audit_id"
        ).fetchall()
        text = conn.execute(
            "SELECT string_agg(new_values::text, ' ') AS t FROM deltashare.audit_trail"
        ).fetchone()
    assert [(r["action"], r["entity_key"], r["outcome"]) for r in rows] == [
        ("recipient.create_d2o", "audited", "succeeded"),
        ("share.create", "audited_share", "succeeded"),
        ("share.delete", "nope", "failed"),
    ]
    assert all(r["actor_id"] == "local-developer" and r["workspace_url"] == emu.url for r in rows)
    assert all(r["request_id"] for r in rows)
    assert created["activation_link"] not in (text["t"] if text else "")
