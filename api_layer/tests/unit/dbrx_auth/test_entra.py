"""Entra ID token validation against locally minted tokens and a loopback JWKS endpoint."""

from __future__ import annotations

import logging
import socket
import time
import uuid
from typing import Any

import jwt
import pytest

from dbrx_api.dbrx_auth.entra import JwksKeyProvider, StaticKeyProvider, TokenValidator
from dbrx_api.errors import AuthenticationError, ServiceUnavailable
from dbrx_api.settings import RoleNames
from fixtures.tokens import JwksServer, TokenFactory


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def validator(token_factory: TokenFactory, clock: FakeClock) -> TokenValidator:
    settings = token_factory.auth_settings()
    return TokenValidator(settings, JwksKeyProvider(settings, clock=clock))


def _rejection(validator: TokenValidator, token: str) -> AuthenticationError:
    with pytest.raises(AuthenticationError) as caught:
        validator.validate(token)
    error = caught.value
    assert error.status_code == 401
    assert error.code == "auth_invalid"
    assert error.headers == {"WWW-Authenticate": 'Bearer error="invalid_token"'}
    return error


def _assert_no_token_content(token: str, *texts: str) -> None:
    segments = [part for part in token.split(".") if len(part) > 8]
    for text in texts:
        assert token not in text
        for segment in segments:
            assert segment not in text


# ------------------------------------------------------------------------------------------ accepted


def test_v2_user_token_yields_its_principal(
    validator: TokenValidator, token_factory: TokenFactory
) -> None:
    principal = validator.validate(token_factory.mint(roles=["DeltaShare.Writer"]))
    assert principal.id == "0a1b2c3d-0000-4000-8000-00000000abcd"
    assert principal.name == "jane.doe@example.com"
    assert principal.tenant == token_factory.tenant_id
    assert principal.roles == {"writer"}
    assert principal.kind == "user"
    assert principal.has_role("reader")
    assert not principal.has_role("admin")


def test_v1_token_is_accepted(validator: TokenValidator, token_factory: TokenFactory) -> None:
    principal = validator.validate(token_factory.mint(version=1))
    assert principal.name == "jane.doe@example.com"  # upn
    assert principal.roles == {"reader"}


def test_v2_app_token_falls_back_to_azp_and_app_display_name(
    validator: TokenValidator, token_factory: TokenFactory
) -> None:
    token = token_factory.mint(
        oid=None, preferred_username=None, scp=None, app_displayname="ci-pipeline"
    )
    principal = validator.validate(token)
    assert principal.id == token_factory.client_id
    assert principal.name == "ci-pipeline"
    assert principal.kind == "app"


def test_v1_app_token_falls_back_to_appid(
    validator: TokenValidator, token_factory: TokenFactory
) -> None:
    principal = validator.validate(token_factory.mint(version=1, oid=None, upn=None, scp=None))
    assert principal.id == token_factory.client_id
    assert principal.name == token_factory.client_id


def test_idtyp_claim_decides_the_kind(
    validator: TokenValidator, token_factory: TokenFactory
) -> None:
    assert validator.validate(token_factory.mint(idtyp="app")).kind == "app"


def test_token_without_roles_is_authenticated_but_holds_no_role(
    validator: TokenValidator, token_factory: TokenFactory
) -> None:
    principal = validator.validate(token_factory.mint(roles=None))
    assert principal.roles == frozenset()
    assert not principal.has_role("reader")


def test_configured_role_names_are_mapped(token_factory: TokenFactory) -> None:
    settings = token_factory.auth_settings(roles=RoleNames(admin="Custom.Admin"))
    principal = TokenValidator(settings).validate(
        token_factory.mint(roles=["Custom.Admin", "DeltaShare.Admin"])
    )
    assert principal.roles == {"admin"}
    assert principal.has_role("writer")


def test_any_configured_audience_is_accepted(token_factory: TokenFactory) -> None:
    settings = token_factory.auth_settings(audiences=["api://other", token_factory.audience])
    assert TokenValidator(settings).validate(token_factory.mint()).tenant == token_factory.tenant_id


def test_expiry_within_leeway_is_accepted(
    validator: TokenValidator, token_factory: TokenFactory
) -> None:
    now = int(time.time())
    validator.validate(token_factory.mint(exp=now - 30, nbf=now + 30, iat=now + 30))


def test_allowed_client_ids(token_factory: TokenFactory) -> None:
    allowed = TokenValidator(
        token_factory.auth_settings(allowed_client_ids=[token_factory.client_id])
    )
    allowed.validate(token_factory.mint())  # azp (v2)
    allowed.validate(token_factory.mint(version=1))  # appid (v1)
    other = TokenValidator(token_factory.auth_settings(allowed_client_ids=["some-other-app"]))
    error = _rejection(other, token_factory.mint())
    assert "application" in error.detail


def test_static_key_provider_needs_no_http(token_factory: TokenFactory) -> None:
    jwks = token_factory.jwks()
    before = token_factory.jwks_fetches()
    validator = TokenValidator(token_factory.auth_settings(), StaticKeyProvider(jwks))
    assert validator.validate(token_factory.mint()).roles == {"reader"}
    assert token_factory.jwks_fetches() == before


# ------------------------------------------------------------------------------------------ rejected


@pytest.mark.parametrize(
    ("overrides", "detail_fragment"),
    [
        ({"exp": int(time.time()) - 3600}, "expired"),
        ({"nbf": int(time.time()) + 3600}, "not valid yet"),
        ({"iat": int(time.time()) + 3600}, "not valid yet"),
        ({"aud": "api://someone-else"}, "audience"),
        ({"iss": "https://login.microsoftonline.com/common/v2.0"}, "issuer"),
        ({"iss": "https://evil.example.com/"}, "issuer"),
        ({"nbf": None}, "'nbf'"),
        ({"exp": None}, "'exp'"),
        ({"oid": None, "azp": None}, "identifies no caller"),
    ],
)
def test_claim_failures_are_rejected(
    validator: TokenValidator,
    token_factory: TokenFactory,
    overrides: dict[str, Any],
    detail_fragment: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = token_factory.mint(**overrides)
    with caplog.at_level(logging.DEBUG):
        error = _rejection(validator, token)
    assert detail_fragment in error.detail
    _assert_no_token_content(token, error.detail, caplog.text, repr(error.extra))


def test_issuer_of_another_tenant_is_rejected(
    validator: TokenValidator, token_factory: TokenFactory
) -> None:
    other = uuid.uuid4()
    error = _rejection(
        validator, token_factory.mint(iss=f"https://login.microsoftonline.com/{other}/v2.0")
    )
    assert "issuer" in error.detail


def test_wrong_tenant_is_rejected_without_fetching_its_keys(
    validator: TokenValidator, token_factory: TokenFactory, jwks_server: JwksServer
) -> None:
    other = str(uuid.uuid4())
    token = token_factory.mint(tid=other, iss=f"https://login.microsoftonline.com/{other}/v2.0")
    error = _rejection(validator, token)
    assert "tenant" in error.detail
    assert jwks_server.fetches(other) == 0


def test_missing_tenant_is_rejected(validator: TokenValidator, token_factory: TokenFactory) -> None:
    assert "tenant" in _rejection(validator, token_factory.mint(tid=None)).detail


def test_alg_none_is_rejected_before_any_key_lookup(
    validator: TokenValidator, token_factory: TokenFactory
) -> None:
    before = token_factory.jwks_fetches()
    error = _rejection(validator, token_factory.mint_unsigned())
    assert "algorithm" in error.detail
    assert token_factory.jwks_fetches() == before


def test_hs256_signed_with_the_public_key_is_rejected(
    validator: TokenValidator, token_factory: TokenFactory
) -> None:
    token = token_factory.mint_hs256_with_public_key()
    # The forged token really is a valid HS256 token for anyone trusting the PEM as a secret.
    assert (
        jwt.decode(
            token,
            token_factory.public_key_pem.decode(),
            algorithms=["HS256"],
            audience=token_factory.audience,
            options={"verify_signature": False},
        )["tid"]
        == token_factory.tenant_id
    )
    assert "algorithm" in _rejection(validator, token).detail


def test_rs256_header_on_a_tampered_payload_fails_the_signature(
    validator: TokenValidator, token_factory: TokenFactory
) -> None:
    genuine = token_factory.mint(roles=["DeltaShare.Reader"])
    forged_payload = token_factory.mint(roles=["DeltaShare.Admin"]).split(".")[1]
    header, _, signature = genuine.split(".")
    error = _rejection(validator, f"{header}.{forged_payload}.{signature}")
    assert "signature" in error.detail


def test_token_signed_by_an_unpublished_key_with_a_known_kid_fails(
    validator: TokenValidator, token_factory: TokenFactory
) -> None:
    secret_kid = token_factory.add_signing_key(publish=False)
    forged = token_factory.mint(kid=secret_kid, headers={"kid": token_factory.kid})
    assert "signature" in _rejection(validator, forged).detail


@pytest.mark.parametrize(
    "token", ["", "abc", "a.b", "a.b.c", "x" * 20_000, "eyJhbGciOiJSUzI1NiJ9.e30"]
)
def test_malformed_tokens_are_rejected_without_http(
    validator: TokenValidator, token_factory: TokenFactory, token: str
) -> None:
    before = token_factory.jwks_fetches()
    _rejection(validator, token)
    assert token_factory.jwks_fetches() == before


def test_token_without_kid_is_rejected(
    validator: TokenValidator, token_factory: TokenFactory
) -> None:
    token = jwt.encode(token_factory.claims(), token_factory.private_key, algorithm="RS256")
    assert "kid" in _rejection(validator, token).detail


# ------------------------------------------------------------------------------------------ key set


def test_unknown_kid_refetches_exactly_once_per_cooldown(
    validator: TokenValidator, token_factory: TokenFactory, clock: FakeClock
) -> None:
    assert validator.warm()
    after_warm = token_factory.jwks_fetches()
    unknown = token_factory.add_signing_key(publish=False)
    token = token_factory.mint(kid=unknown)

    assert "unknown key" in _rejection(validator, token).detail
    assert token_factory.jwks_fetches() == after_warm + 1
    _rejection(validator, token)
    clock.now += 29
    _rejection(validator, token)
    assert token_factory.jwks_fetches() == after_warm + 1  # cooldown: no second refetch

    clock.now += 2
    _rejection(validator, token)
    assert token_factory.jwks_fetches() == after_warm + 2


def test_rotated_key_is_picked_up_with_one_refetch(
    validator: TokenValidator, token_factory: TokenFactory
) -> None:
    validator.validate(token_factory.mint())
    after_first = token_factory.jwks_fetches()
    rotated = token_factory.add_signing_key()
    assert validator.validate(token_factory.mint(kid=rotated)).roles == {"reader"}
    assert token_factory.jwks_fetches() == after_first + 1
    validator.validate(token_factory.mint(kid=rotated))
    validator.validate(token_factory.mint())
    assert token_factory.jwks_fetches() == after_first + 1  # cached


def test_key_set_is_cached_for_jwks_cache_s(token_factory: TokenFactory, clock: FakeClock) -> None:
    settings = token_factory.auth_settings(jwks_cache_s=600)
    validator = TokenValidator(settings, JwksKeyProvider(settings, clock=clock))
    validator.validate(token_factory.mint())
    first = token_factory.jwks_fetches()
    clock.now += 599
    validator.validate(token_factory.mint())
    assert token_factory.jwks_fetches() == first
    clock.now += 2
    validator.validate(token_factory.mint())
    assert token_factory.jwks_fetches() == first + 1


def test_stale_keys_are_served_while_the_endpoint_is_down(
    token_factory: TokenFactory, clock: FakeClock
) -> None:
    server = JwksServer()
    try:
        server.publish(token_factory.tenant_id, token_factory.jwks()["keys"])
        settings = token_factory.auth_settings(jwks_url=server.url_template, jwks_cache_s=60)
        validator = TokenValidator(settings, JwksKeyProvider(settings, clock=clock))
        assert validator.warm()
    finally:
        server.stop()
    clock.now += 3600
    assert validator.validate(token_factory.mint()).roles == {"reader"}


def test_unreachable_jwks_without_cached_keys_is_a_503(token_factory: TokenFactory) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    settings = token_factory.auth_settings(
        jwks_url=f"http://127.0.0.1:{closed_port}/{{tenant}}/keys", jwks_timeout_s=1
    )
    validator = TokenValidator(settings)
    assert validator.warm() is False
    with pytest.raises(ServiceUnavailable) as caught:
        validator.validate(token_factory.mint())
    assert caught.value.code == "auth_unavailable"
    assert caught.value.headers["Retry-After"] == "30"
