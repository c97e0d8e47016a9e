"""Cross-cutting behaviour: workspace header rules, upstream failure mapping, request ids, limits, documents."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dbrx_api.dltshr import shares as share_service
from fixtures.api import assert_unknown_query_refused_everywhere

pytestmark = pytest.mark.integration


def test_missing_or_invalid_workspace_header(api: TestClient, emu: Any) -> None:
    emu.reset_stats()
    missing = api.get("/shares", headers={"X-Workspace-URL": ""})
    assert (missing.status_code, missing.json()["code"]) == (400, "workspace_header_missing")
    invalid = api.get(
        "/shares", headers={"X-Workspace-URL": "https://adb-1.2.azuredatabricks.net/path"}
    )
    assert (invalid.status_code, invalid.json()["code"]) == (400, "workspace_url_invalid")
    assert emu.stats()["total"] == 0


def test_unlisted_workspace_gets_403_and_no_call(api: TestClient, emu: Any) -> None:
    emu.reset_stats()
    for url in (
        "https://adb-999.9.azuredatabricks.net",
        "http://127.0.0.1:1",
        "https://evil.example.com",
    ):
        response = api.get("/shares", headers={"X-Workspace-URL": url})
        assert (response.status_code, response.json()["code"]) == (403, "workspace_not_allowed")
    stats = emu.stats()
    assert stats["total"] == 0
    assert stats["meta"]["host_metadata"] == 0


def test_header_and_role_checks_precede_body_validation(api: TestClient) -> None:
    response = api.post(
        "/shares", json={"nme": "x"}, headers={"X-Workspace-URL": "https://evil.example.com"}
    )
    assert response.json()["code"] == "workspace_not_allowed"


def test_throttling_beyond_retry_budget_is_503_with_retry_after(api: TestClient, emu: Any) -> None:
    emu.add_fault(operation="shares.list_shares", kind="throttle", retry_after_seconds=1)
    response = api.get("/shares")
    assert response.status_code == 503
    assert response.json()["code"] == "upstream_unavailable"
    assert response.headers["retry-after"] == "1"
    assert emu.count("shares.list_shares") >= 2  # the SDK retried within its budget


def test_unavailable_is_503(api: TestClient, emu: Any) -> None:
    emu.add_fault(operation="shares.get", kind="unavailable")
    response = api.get("/shares/x")
    assert (response.status_code, response.json()["code"]) == (503, "upstream_unavailable")
    assert response.headers["retry-after"]


def test_upstream_500_is_502_never_404(api: TestClient, emu: Any) -> None:
    emu.add_fault(operation="shares.get", kind="internal")
    response = api.get("/shares/x")
    assert (response.status_code, response.json()["code"]) == (502, "upstream_error")
    assert emu.count("shares.get") == 1  # a 500 is not retried


def test_upstream_rejected_credentials_are_502(make_api: Any) -> None:
    api = make_api(databricks={"auth": {"token": "dapi-wrong"}})
    response = api.get("/shares")
    assert (response.status_code, response.json()["code"]) == (502, "upstream_auth_failed")
    assert "dapi-wrong" not in response.text
    assert "Config" not in response.text


def test_transient_message_is_retried_then_succeeds(api: TestClient, emu: Any) -> None:
    emu.add_fault(operation="shares.list_shares", kind="transient_message", times=1)
    assert api.get("/shares").status_code == 200
    assert emu.count("shares.list_shares") == 2


def test_request_id_echoed_or_generated(api: TestClient) -> None:
    echoed = api.get("/health", headers={"X-Request-ID": "ci-run:42.a"})
    assert echoed.headers["x-request-id"] == "ci-run:42.a"
    generated = api.get("/health", headers={"X-Request-ID": "bad id with spaces"})
    assert str(uuid.UUID(generated.headers["x-request-id"])) == generated.headers["x-request-id"]
    problem = api.get("/shares/nope")
    assert problem.json()["request_id"] == problem.headers["x-request-id"]


def test_json_responses_are_not_cached(api: TestClient) -> None:
    assert api.get("/shares").headers["cache-control"] == "no-store"
    assert api.get("/shares/nope").headers["cache-control"] == "no-store"


def test_unknown_route_and_method(api: TestClient) -> None:
    unknown = api.get("/nothing/here")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "not_found")
    method = api.patch("/shares")
    assert (method.status_code, method.json()["code"]) == (405, "method_not_allowed")


def test_body_limits_and_media_type(api: TestClient, emu: Any) -> None:
    emu.reset_stats()
    big = api.put(
        "/shares/s1/dataobject/add",
        content=b'{"tables": ["' + b"a" * 1_100_000 + b'"]}',
        headers={"content-type": "application/json"},
    )
    assert (big.status_code, big.json()["code"]) == (413, "payload_too_large")
    form = api.post("/shares", data={"name": "x"})
    assert (form.status_code, form.json()["code"]) == (415, "unsupported_media_type")
    assert emu.stats()["total"] == 0


def test_chunked_body_over_the_limit_is_413(api: TestClient, emu: Any) -> None:
    """A streamed body (no Content-Length) cut at the limit is a 413, not a parse failure (docs/API.md §1.5.2)."""

    def chunked() -> Iterator[bytes]:
        yield b'{"tables": ["'
        for _ in range(32):  # 2 MiB, over server.max_json_body_bytes (1 MiB)
            yield b"a" * 65536
        yield b'"]}'

    emu.reset_stats()
    response = api.put(
        "/shares/s1/dataobject/add",
        content=chunked(),
        headers={"content-type": "application/json"},
    )
    problem = response.json()
    assert (response.status_code, problem["code"]) == (413, "payload_too_large")
    assert "1048576 bytes" in problem["detail"]
    assert emu.stats()["total"] == 0


def test_unknown_query_parameters_are_422_on_every_operation(api: TestClient, emu: Any) -> None:
    """docs/API.md §1.7: a misspelt filter is refused, never ignored (it used to list everything)."""
    emu.reset_stats()
    assert_unknown_query_refused_everywhere(api)
    typo = api.get("/shares", params={"prefx": "sal", "limit": 2})
    problem = typo.json()
    assert problem["detail"] == (
        "Unknown query parameter 'prefx'; this operation accepts 'contains', 'limit', 'offset', 'prefix'."
    )
    assert (
        api.get("/health", params={"x": "1"})
        .json()["detail"]
        .endswith("accepts no query parameters.")
    )
    for page in ("/openapi.json", "/docs", "/redoc"):
        response = api.get(page, params={"x": "1"})
        assert (response.status_code, response.json()["code"]) == (422, "query_parameter_unknown")
    assert emu.stats()["total"] == 0


def test_enum_query_values_are_case_insensitive(api: TestClient) -> None:
    upper = api.get("/recipients", params={"type": "D2O"})
    lower = api.get("/recipients", params={"type": "d2o"})
    assert lower.status_code == 200, lower.text
    assert lower.json() == upper.json()
    catalogs = api.get("/catalogs").json()["items"]
    kind = catalogs[0]["catalog_type"]
    assert kind
    same = api.get("/catalogs", params={"catalog_type": kind.lower()}).json()["items"]
    assert [c["name"] for c in same] == [c["name"] for c in catalogs if c["catalog_type"] == kind]


def test_internal_error_hides_details(api: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*_: object, **__: object) -> None:
        raise RuntimeError("secret internal detail dapi-123")

    monkeypatch.setattr(share_service, "list_shares", explode)
    response = api.get("/shares")
    assert response.status_code == 500
    problem = response.json()
    assert problem["code"] == "internal_error"
    assert (
        problem["detail"] == "An internal error occurred; quote the request id when reporting it."
    )
    assert "secret" not in response.text
    assert problem["request_id"] == response.headers["x-request-id"]


def test_invalid_path_name_is_422(api: TestClient, emu: Any) -> None:
    emu.reset_stats()
    response = api.get("/shares/has space")
    assert response.status_code == 422
    assert response.json()["errors"][0]["type"] == "name_invalid"
    assert emu.stats()["total"] == 0


def test_one_workspace_client_per_workspace(api: TestClient, emu: Any) -> None:
    api.get("/shares")  # builds the client if no earlier test did
    emu.reset_stats()
    for _ in range(5):
        api.get("/shares")
    assert (
        emu.stats()["meta"]["host_metadata"] == 0
    )  # the session's client was built earlier and is reused


def test_api_prefix(make_api: Any) -> None:
    api = make_api(api_prefix="/api")
    assert api.get("/api/health").status_code == 200
    assert api.get("/api/shares").status_code == 200
    assert api.get("/shares").status_code == 404
    created = api.post("/api/shares", json={"name": "p1"})
    assert created.headers["location"] == "/api/shares/p1"
    assert api.get("/api/openapi.json").status_code == 200
    docs = api.get("/api/docs")
    assert docs.status_code == 200
    assert "/api/openapi.json" in docs.text
    assert api.get("/api/docs-assets/swagger-ui-bundle.js").status_code == 200


def test_workflow_routes_are_404_when_disabled(api: TestClient) -> None:
    response = api.post("/workflow/sharepack/upload_and_validate")
    assert (response.status_code, response.json()["code"]) == (404, "workflow_disabled")
