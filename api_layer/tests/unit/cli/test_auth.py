"""Bearer token resolution (docs/API.md §14.2): explicit token, msal client credentials, or no header at all."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any, ClassVar

import pytest

from dbrx_api.cli.auth import (
    ClientCredentials,
    acquire_with_msal,
    client_credentials_from,
    resolve_token,
    tls_verification,
)
from dbrx_api.cli.errors import AuthError, UsageError
from fixtures.cli import PACK_ID, STATUS_PATH, FakeApi, json_response, run_cli, status_doc

SECRET = "s3cr3t-client-secret-value"
CREDENTIALS_ENV = {
    "DELTASHARE_TENANT_ID": "11111111-2222-3333-4444-555555555555",
    "DELTASHARE_CLIENT_ID": "66666666-7777-8888-9999-000000000000",
    "DELTASHARE_CLIENT_SECRET": SECRET,
    "DELTASHARE_SCOPE": "api://deltashare-dev/.default",
}


def test_explicit_token_wins_over_client_credentials() -> None:
    def never(credentials: ClientCredentials, ca_bundle: str | None) -> str:
        raise AssertionError("must not be called")

    assert resolve_token("given", CREDENTIALS_ENV, never) == "given"


def test_no_token_and_no_credentials_means_no_authorization_header() -> None:
    assert resolve_token(None, {}) is None
    api = FakeApi().on("GET", STATUS_PATH, json_response(200, status_doc("COMPLETED")))
    run = run_cli(["status", PACK_ID], api)
    assert run.exit_code == 0
    assert "authorization" not in api.requests[0].headers


def test_client_credentials_token_is_acquired_once_and_sent() -> None:
    seen: list[ClientCredentials] = []

    def acquire(credentials: ClientCredentials, ca_bundle: str | None) -> str:
        seen.append(credentials)
        return "entra-access-token"

    api = FakeApi().on("GET", STATUS_PATH, json_response(200, status_doc("COMPLETED")))
    run = run_cli(["status", PACK_ID], api, env=CREDENTIALS_ENV, acquire_token=acquire)
    assert run.exit_code == 0
    assert api.requests[0].headers["authorization"] == "Bearer entra-access-token"
    assert [c.scope for c in seen] == ["api://deltashare-dev/.default"]
    assert SECRET not in repr(seen[0])


def test_partial_client_credentials_are_a_usage_error_naming_the_missing_variables() -> None:
    env = {k: v for k, v in CREDENTIALS_ENV.items() if k != "DELTASHARE_SCOPE"}
    with pytest.raises(UsageError) as caught:
        client_credentials_from(env)
    assert "missing: DELTASHARE_SCOPE" in caught.value.detail
    assert SECRET not in caught.value.detail
    run = run_cli(["status", PACK_ID], env=env)
    assert run.exit_code == 2


class _FakeConfidentialClient:
    """Stands in for msal.ConfidentialClientApplication; records its arguments."""

    instances: ClassVar[list[_FakeConfidentialClient]] = []
    result: ClassVar[dict[str, Any]] = {}

    def __init__(self, client_id: str, **kwargs: Any) -> None:
        self.client_id = client_id
        self.kwargs = kwargs
        self.scopes: list[str] = []
        _FakeConfidentialClient.instances.append(self)

    def acquire_token_for_client(self, scopes: list[str]) -> dict[str, Any]:
        self.scopes = scopes
        return _FakeConfidentialClient.result


@pytest.fixture
def fake_msal(monkeypatch: pytest.MonkeyPatch) -> type[_FakeConfidentialClient]:
    module = types.ModuleType("msal")
    module.ConfidentialClientApplication = _FakeConfidentialClient  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "msal", module)
    _FakeConfidentialClient.instances = []
    return _FakeConfidentialClient


def test_msal_client_credentials_flow(fake_msal: type[_FakeConfidentialClient]) -> None:
    fake_msal.result = {"access_token": "at-1", "token_type": "Bearer"}
    credentials = client_credentials_from(CREDENTIALS_ENV)
    assert credentials is not None
    assert acquire_with_msal(credentials, None) == "at-1"
    client = fake_msal.instances[0]
    assert client.client_id == CREDENTIALS_ENV["DELTASHARE_CLIENT_ID"]
    assert client.kwargs["client_credential"] == SECRET
    assert (
        client.kwargs["authority"]
        == f"https://login.microsoftonline.com/{CREDENTIALS_ENV['DELTASHARE_TENANT_ID']}"
    )
    assert client.scopes == ["api://deltashare-dev/.default"]


def test_msal_refusal_is_exit_3_and_never_prints_the_secret(
    fake_msal: type[_FakeConfidentialClient],
) -> None:
    fake_msal.result = {
        "error": "invalid_client",
        "error_description": "AADSTS7000215: Invalid client secret provided.\nTrace ID: abc",
    }
    credentials = client_credentials_from(CREDENTIALS_ENV)
    assert credentials is not None
    with pytest.raises(AuthError) as caught:
        acquire_with_msal(credentials, None)
    assert "invalid_client (AADSTS7000215: Invalid client secret provided.)" in caught.value.detail
    api = FakeApi()
    for fmt in ("text", "json"):
        run = run_cli(
            ["status", PACK_ID, "--format", fmt],
            api,
            env=CREDENTIALS_ENV,
            acquire_token=acquire_with_msal,
        )
        assert run.exit_code == 3
        assert SECRET not in run.stdout + run.stderr
    assert api.requests == []  # nothing is sent without a token


def test_ca_bundle_must_exist(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        tls_verification({"DELTASHARE_CA_BUNDLE": str(tmp_path / "missing.pem")})
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    with pytest.raises(UsageError):
        tls_verification({"DELTASHARE_CA_BUNDLE": str(garbage)})
    assert tls_verification({}) is True
