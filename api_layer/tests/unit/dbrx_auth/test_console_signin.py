"""The console's Entra ID sign-in (docs/API.md §17.1) against a fake authority: MSAL's authorization code flow with
PKCE, the signed flow and session cookies. No network: MSAL's transport is a fake that plays the authority."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from dbrx_api.dbrx_auth import console_signin
from dbrx_api.dbrx_auth.principal import Principal
from dbrx_api.errors import AuthenticationError
from dbrx_api.settings import AuthSettings, ConsoleSettings

AUTHORITY = "https://login.authority.test/tenant-1"
SECRET = "s" * 40


class FakeResponse:
    def __init__(self, status_code: int, body: dict[str, Any]) -> None:
        self.status_code = status_code
        self.text = json.dumps(body)
        self.headers: dict[str, str] = {"Content-Type": "application/json"}

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise RuntimeError(self.status_code)


class FakeAuthority:
    """MSAL's `http_client`: the authority's discovery document and token endpoint, recording each call."""

    def __init__(self, *, token: dict[str, Any] | None = None) -> None:
        self.token = (
            token
            if token is not None
            else {"access_token": "the-access-token", "token_type": "Bearer", "expires_in": 3600}
        )
        self.posts: list[dict[str, Any]] = []
        self.gets: list[str] = []

    def get(self, url: str, params: Any = None, headers: Any = None, **_: Any) -> FakeResponse:
        self.gets.append(url)
        if "openid-configuration" in url:
            return FakeResponse(
                200,
                {
                    "authorization_endpoint": f"{AUTHORITY}/oauth2/v2.0/authorize",
                    "token_endpoint": f"{AUTHORITY}/oauth2/v2.0/token",
                    "issuer": f"{AUTHORITY}/v2.0",
                },
            )
        if (
            "discovery/instance" in url
        ):  # MSAL's instance discovery of an authority host it does not know
            return FakeResponse(
                200,
                {"tenant_discovery_endpoint": f"{AUTHORITY}/v2.0/.well-known/openid-configuration"},
            )
        return FakeResponse(404, {"error": "not_found"})

    def post(
        self, url: str, params: Any = None, data: Any = None, headers: Any = None, **_: Any
    ) -> FakeResponse:
        self.posts.append({"url": url, "data": dict(data or {})})
        return FakeResponse(200, self.token)

    def close(self) -> None:
        """MSAL may close its transport."""


class FakeValidator:
    def __init__(self) -> None:
        self.tokens: list[str] = []

    def validate(self, token: str) -> Principal:
        self.tokens.append(token)
        return Principal(
            id="oid-1",
            name="john.smith@example.com",
            tenant="tenant-1",
            roles=frozenset({"approver"}),
            emails=frozenset({"john.smith@example.com"}),
        )


def console_settings(**overrides: Any) -> ConsoleSettings:
    values: dict[str, Any] = {
        "client_id": "console-client",
        "client_secret": "console-secret",
        "authority": AUTHORITY,
        "scopes": ["api://deltashare/access_as_user"],
        "redirect_uri": "https://deltashare.test/console/auth/callback",
        "session_secret": SECRET,
    }
    values.update(overrides)
    return ConsoleSettings(**values)


def auth_settings() -> AuthSettings:
    return AuthSettings(mode="entra", tenant_ids=["tenant-1"], audiences=["api://deltashare"])


def sign_in(
    authority: FakeAuthority | None = None,
) -> tuple[console_signin.ConsoleSignIn, FakeAuthority, FakeValidator]:
    fake = authority or FakeAuthority()
    validator = FakeValidator()
    flow = console_signin.ConsoleSignIn(
        console_settings(), auth_settings(), validator, http_client=fake
    )
    return flow, fake, validator


def test_the_code_flow_uses_pkce_and_the_session_keeps_the_validated_principal_only() -> None:
    signin, authority, validator = sign_in()
    url, cookie = signin.start("/console/packs/1")

    query = parse_qs(urlsplit(url).query)
    assert url.startswith(f"{AUTHORITY}/oauth2/v2.0/authorize?")
    assert query["code_challenge_method"] == ["S256"]
    assert query["redirect_uri"] == ["https://deltashare.test/console/auth/callback"]
    assert "api://deltashare/access_as_user" in query["scope"][0]
    state = query["state"][0]

    signed_in = signin.finish(cookie, {"code": "the-code", "state": state})
    principal = signed_in.principal
    assert (principal.id, signed_in.return_to) == ("oid-1", "/console/packs/1")
    # The session lives as long as the token (3600 s here), not the 8 h cap: its roles are the token's.
    assert signed_in.session_lifetime_s == 3600
    assert validator.tokens == ["the-access-token"]  # validated as the API validates a bearer token
    [redeemed] = authority.posts
    sent = redeemed["data"]
    assert sent["code"] == "the-code"
    assert sent["grant_type"] == "authorization_code"
    # The verifier MSAL sends hashes to the challenge it put in the authorization URL.
    digest = hashlib.sha256(sent["code_verifier"].encode()).digest()
    assert base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == query["code_challenge"][0]

    session = console_signin.session_value(principal, console_settings())
    assert "the-access-token" not in session
    assert "the-code" not in session
    restored = console_signin.principal_from_session(session, console_settings())
    assert restored is not None
    assert (restored.id, restored.roles, restored.emails) == (
        "oid-1",
        frozenset({"approver"}),
        frozenset({"john.smith@example.com"}),
    )


def test_a_reply_with_another_state_or_a_forged_flow_cookie_is_refused() -> None:
    signin, authority, _ = sign_in()
    _, cookie = signin.start("/console")
    with pytest.raises(AuthenticationError) as caught:
        signin.finish(cookie, {"code": "the-code", "state": "someone-elses"})
    assert caught.value.code == "signin_failed"
    assert authority.posts == []

    body, _, mac = cookie.partition(".")
    with pytest.raises(AuthenticationError):
        signin.finish(f"{body}x.{mac}", {"code": "c", "state": "s"})
    with pytest.raises(AuthenticationError):
        signin.finish(None, {"code": "c", "state": "s"})


def test_an_authority_that_issues_no_token_fails_the_sign_in() -> None:
    signin, _, validator = sign_in(
        FakeAuthority(token={"error": "invalid_grant", "error_description": "expired"})
    )
    url, cookie = signin.start("/console")
    state = parse_qs(urlsplit(url).query)["state"][0]
    with pytest.raises(AuthenticationError) as caught:
        signin.finish(cookie, {"code": "the-code", "state": state})
    assert caught.value.code == "signin_failed"
    assert validator.tokens == []


def test_session_cookies_are_tamper_proof_bound_to_their_purpose_and_expire() -> None:
    principal = FakeValidator().validate("x")
    settings = console_settings()
    value = console_signin.session_value(principal, settings)
    assert console_signin.principal_from_session(value, settings) is not None
    body, _, mac = value.partition(".")
    forged = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    forged["roles"] = ["admin"]
    forged_body = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
    assert console_signin.principal_from_session(f"{forged_body}.{mac}", settings) is None
    other = console_settings(session_secret="t" * 40)
    assert console_signin.principal_from_session(value, other) is None
    # A flow cookie is not a session cookie, even under the same secret.
    flow = console_signin.sign({"id": "oid-1", "exp": time.time() + 60}, SECRET, purpose="flow")
    assert console_signin.principal_from_session(flow, settings) is None
    expired = console_signin.session_value(
        principal, settings, now=time.time() - settings.session_max_age_s - 1
    )
    assert console_signin.principal_from_session(expired, settings) is None
    assert console_signin.principal_from_session("garbage", settings) is None


def test_sign_in_needs_complete_settings() -> None:
    assert not console_settings(session_secret="short").sign_in_configured
    assert not console_settings(client_secret=None).sign_in_configured
    with pytest.raises(ValueError, match="not configured"):
        console_signin.ConsoleSignIn(console_settings(scopes=[]), auth_settings(), FakeValidator())
    assert console_signin.authority_of(console_settings(authority=None), auth_settings()) == (
        "https://login.microsoftonline.com/tenant-1"
    )


def test_a_session_never_outlives_the_token_its_roles_came_from() -> None:
    settings = console_settings(session_max_age_s=8 * 3600)
    assert console_signin.session_lifetime_s(settings, 4200.0) == 4200
    assert (
        console_signin.session_lifetime_s(settings, 10 * 3600.0) == 8 * 3600
    )  # the cap still holds
    assert console_signin.session_lifetime_s(settings, None) == 8 * 3600
    signin, _, _ = sign_in(
        FakeAuthority(token={"access_token": "t", "token_type": "Bearer", "expires_in": 1800})
    )
    url, cookie = signin.start("/console")
    state = parse_qs(urlsplit(url).query)["state"][0]
    signed_in = signin.finish(cookie, {"code": "the-code", "state": state})
    assert signed_in.session_lifetime_s == 1800
    principal = signed_in.principal
    started = time.time() - 1801  # signed in just over one token lifetime ago
    stale = console_signin.session_value(principal, settings, lifetime_s=1800, now=started)
    assert console_signin.principal_from_session(stale, settings) is None
    fresh = console_signin.session_value(
        principal, settings, lifetime_s=1800, now=time.time() - 1700
    )
    assert console_signin.principal_from_session(fresh, settings) is not None
