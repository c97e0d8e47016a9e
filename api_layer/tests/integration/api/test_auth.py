"""Caller authentication and roles through HTTP (docs/API.md §1.2), with tokens minted by a local key and JWKS.

The role coverage is built from the OpenAPI document itself, so a new route without a role check fails here.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fixtures.tokens import TokenFactory

pytestmark = pytest.mark.integration

READER, WRITER, ADMIN = "DeltaShare.Reader", "DeltaShare.Writer", "DeltaShare.Admin"
APPROVER = "DeltaShare.Approver"


@pytest.fixture
def entra_api(make_api: Callable[..., TestClient], token_factory: TokenFactory) -> TestClient:
    """The API with Entra ID token validation against the factory's loopback JWKS."""
    return make_api(auth=token_factory.auth_settings().model_dump())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_valid_v1_and_v2_tokens(entra_api: TestClient, token_factory: TokenFactory) -> None:
    for version in (1, 2):
        token = token_factory.mint(version=version, roles=[READER])
        response = entra_api.get("/shares", headers=bearer(token))
        assert response.status_code == 200, (version, response.text)


def test_missing_token_is_401_auth_missing(entra_api: TestClient) -> None:
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer "}):
        response = entra_api.get("/shares", headers=headers)
        assert response.status_code == 401
        assert response.json()["code"] == "auth_missing"
        assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(
            lambda f: f.mint(exp=int(time.time()) - 3600, iat=int(time.time()) - 7200), id="expired"
        ),
        pytest.param(lambda f: f.mint(nbf=int(time.time()) + 3600), id="not-yet-valid"),
        pytest.param(lambda f: f.mint(aud="api://someone-else"), id="wrong-audience"),
        pytest.param(
            lambda f: f.mint(iss="https://login.microsoftonline.com/other/v2.0"), id="wrong-issuer"
        ),
        pytest.param(
            lambda f: f.mint(
                tid="11111111-1111-4111-8111-111111111111",
                iss="https://login.microsoftonline.com/11111111-1111-4111-8111-111111111111/v2.0",
            ),
            id="wrong-tenant",
        ),
        pytest.param(lambda f: f.mint_unsigned(), id="alg-none"),
        pytest.param(lambda f: f.mint_hs256_with_public_key(), id="hs256-with-public-key"),
        pytest.param(lambda f: f.mint(kid="unknown-kid"), id="unknown-kid"),
        pytest.param(lambda _: "not.a.jwt", id="garbage"),
    ],
)
def test_invalid_tokens_are_401(
    entra_api: TestClient, token_factory: TokenFactory, make_token: Callable[[TokenFactory], str]
) -> None:
    token = make_token(token_factory)
    response = entra_api.get("/shares", headers=bearer(token))
    assert response.status_code == 401, response.text
    problem = response.json()
    assert problem["code"] == "auth_invalid"
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert token not in response.text


def test_missing_role_is_403_naming_the_role(
    entra_api: TestClient, token_factory: TokenFactory
) -> None:
    no_roles = token_factory.mint(roles=None)
    response = entra_api.get("/shares", headers=bearer(no_roles))
    assert (response.status_code, response.json()["code"]) == (403, "role_missing")
    assert "reader" in response.json()["detail"]
    reader = token_factory.mint(roles=[READER])
    write = entra_api.post("/shares", json={"name": "s"}, headers=bearer(reader))
    assert (write.status_code, write.json()["code"]) == (403, "role_missing")
    assert "writer" in write.json()["detail"]


def test_roles_are_hierarchical(entra_api: TestClient, token_factory: TokenFactory) -> None:
    admin = bearer(token_factory.mint(roles=[ADMIN]))
    assert entra_api.post("/shares", json={"name": "s"}, headers=admin).status_code == 201
    assert entra_api.get("/shares/s", headers=admin).status_code == 200
    writer = bearer(token_factory.mint(roles=[WRITER]))
    assert entra_api.delete("/shares/s", headers=writer).status_code == 403
    assert entra_api.delete("/shares/s", headers=admin).status_code == 200


def test_recipient_properties_need_writer(
    entra_api: TestClient, token_factory: TokenFactory, emu: Any
) -> None:
    writer = bearer(token_factory.mint(roles=[WRITER]))
    assert entra_api.post("/recipients/d2o/acme", json={}, headers=writer).status_code == 201
    reader = bearer(token_factory.mint(roles=[READER]))
    body = {"properties": {"tier": "gold"}}
    emu.reset_stats()
    denied = entra_api.put("/recipients/acme/properties", json=body, headers=reader)
    assert (denied.status_code, denied.json()["code"]) == (403, "role_missing")
    assert emu.mutating_total() == 0
    allowed = entra_api.put("/recipients/acme/properties", json=body, headers=writer)
    assert allowed.json()["properties"] == {"tier": "gold"}
    assert entra_api.get("/recipients/acme", headers=reader).json()["properties"] == {
        "tier": "gold"
    }


def test_activation_link_needs_writer(entra_api: TestClient, token_factory: TokenFactory) -> None:
    writer = bearer(token_factory.mint(roles=[WRITER]))
    assert entra_api.post("/recipients/d2o/acme", json={}, headers=writer).status_code == 201
    reader = bearer(token_factory.mint(roles=[READER]))
    assert entra_api.get("/recipients/acme", headers=reader).status_code == 200
    denied = entra_api.get(
        "/recipients/acme", params={"include_activation_link": True}, headers=reader
    )
    assert (denied.status_code, denied.json()["code"]) == (403, "role_missing")
    allowed = entra_api.get(
        "/recipients/acme", params={"include_activation_link": True}, headers=writer
    )
    assert allowed.json()["activation_link"]


def test_auth_is_checked_before_the_workspace_header(
    entra_api: TestClient, token_factory: TokenFactory
) -> None:
    response = entra_api.get("/shares", headers={"X-Workspace-URL": "https://evil.example.com"})
    assert response.json()["code"] == "auth_missing"
    reader = bearer(token_factory.mint(roles=[READER]))
    denied = entra_api.post(
        "/shares", json={}, headers={**reader, "X-Workspace-URL": "https://evil.example.com"}
    )
    assert denied.json()["code"] == "role_missing"


def _operations(client: TestClient) -> list[tuple[str, str, str]]:
    document = client.get("/openapi.json").json()
    return [
        (method.upper(), path, operation["x-required-role"])
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x1", path)


def test_every_operation_declares_and_enforces_its_role(
    entra_api: TestClient, token_factory: TokenFactory, emu: Any
) -> None:
    operations = _operations(entra_api)
    assert len(operations) > 20
    no_roles = bearer(token_factory.mint(roles=None))
    rank = {"reader": 1, "writer": 2, "approver": 2, "admin": 3}
    # The roles just short of each one: approver and writer do not imply each other.
    below = {"writer": [READER, APPROVER], "approver": [WRITER], "admin": [WRITER, APPROVER]}
    emu.reset_stats()
    for method, path, role in operations:
        url = _concrete(path)
        anonymous = entra_api.request(method, url)
        if role == "public":
            assert anonymous.status_code != 401, (method, path)
            continue
        assert role in rank, (method, path, role)
        assert (anonymous.status_code, anonymous.json()["code"]) == (401, "auth_missing"), (
            method,
            path,
        )
        denied = entra_api.request(method, url, headers=no_roles)
        assert (denied.status_code, denied.json()["code"]) == (403, "role_missing"), (method, path)
        if role in below:
            weaker = bearer(token_factory.mint(roles=below[role]))
            assert entra_api.request(method, url, headers=weaker).status_code == 403, (method, path)
    assert emu.stats()["total"] == 0  # nothing reached Databricks without the right role


def test_principal_is_logged_never_the_token(
    entra_api: TestClient, token_factory: TokenFactory, caplog: pytest.LogCaptureFixture
) -> None:
    token = token_factory.mint(roles=[WRITER])
    with caplog.at_level("INFO"):
        entra_api.post("/shares", json={"name": "logged"}, headers=bearer(token))
    records = [r for r in caplog.records if r.getMessage() == "audit"]
    assert records, "a mutating call writes an audit record to the logs when there is no database"
    audit = records[-1].__dict__["audit"]
    assert audit["action"] == "share.create"
    assert audit["entity_key"] == "logged"
    assert audit["actor_id"] == "0a1b2c3d-0000-4000-8000-00000000abcd"
    assert audit["outcome"] == "succeeded"
    assert all(token not in r.getMessage() and token not in str(r.__dict__) for r in caplog.records)


def test_audit_keeps_the_result_without_secrets(
    entra_api: TestClient, token_factory: TokenFactory, caplog: pytest.LogCaptureFixture
) -> None:
    writer = bearer(token_factory.mint(roles=[WRITER]))
    with caplog.at_level("INFO"):
        created = entra_api.post(
            "/recipients/d2o/audited", json={"ip_access_list": ["203.0.113.0/24"]}, headers=writer
        ).json()
    link = created["activation_link"]
    assert link
    [record] = [r for r in caplog.records if r.getMessage() == "audit"]
    audit = record.__dict__["audit"]
    assert audit["action"] == "recipient.create_d2o"
    assert audit["new_values"]["response"]["ip_access_list"] == ["203.0.113.0/24"]
    assert link not in str(audit)
    assert audit["new_values"]["response"]["activation_link"].lower() == "[redacted]"


def test_unknown_query_parameter_is_checked_after_authentication_and_role(
    entra_api: TestClient, token_factory: TokenFactory
) -> None:
    """docs/API.md §1.2 order: 401, then 403, then the 422 of an unknown query parameter (docs/API.md §1.7)."""
    anonymous = entra_api.get("/shares", params={"bogus": "1"})
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "auth_missing")
    reader = bearer(token_factory.mint(roles=[READER]))
    denied = entra_api.delete("/shares/s1", params={"bogus": "1"}, headers=reader)
    assert (denied.status_code, denied.json()["code"]) == (403, "role_missing")
    refused = entra_api.get("/shares", params={"bogus": "1"}, headers=reader)
    assert (refused.status_code, refused.json()["code"]) == (422, "query_parameter_unknown")
