"""In-process validation of Microsoft Entra ID access tokens (docs/API.md §1.2).

`TokenValidator.validate(token)` returns the caller's `Principal` or raises `AuthenticationError`
(`auth_invalid`, with `WWW-Authenticate: Bearer error="invalid_token"`). Only RS256 is accepted; the key is chosen
by `kid` from the JWKS of the token's tenant, which must be one of `auth.tenant_ids`. The unverified header and
claims are read only to pick that key set: the signature check decides.

Signing keys come from a `SigningKeyProvider`. The default, `JwksKeyProvider`, fetches each allowed tenant's key
set with PyJWT's `PyJWKClient`, keeps it for `auth.jwks_cache_s`, serves the last good set while a refresh fails,
and re-fetches on an unknown `kid` at most once per 30 s (key rotation). The fetch is synchronous: call `validate`
from a plain `def` dependency (threadpool) and `warm()` at start-up.

Nothing derived from a token (not even its claims) is written to logs or error details.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import jwt
from jwt import PyJWK, PyJWKClient, PyJWKSet

from dbrx_api.dbrx_auth.principal import Principal, PrincipalKind, roles_from_claim
from dbrx_api.errors import AuthenticationError, ServiceUnavailable
from dbrx_api.settings import AuthSettings

logger = logging.getLogger(__name__)

ALGORITHM = "RS256"
UNKNOWN_KID_COOLDOWN_S = 30.0
MAX_TOKEN_CHARS = 16_384
REQUIRED_CLAIMS = ("exp", "nbf", "iss", "aud", "tid")
WWW_AUTHENTICATE_INVALID = 'Bearer error="invalid_token"'
KEYS_RETRY_AFTER_S = 30
NO_KEYS_RETRY_S = 1.0


class UnknownSigningKey(LookupError):
    """No key with the token's `kid` in the tenant's key set, even after the allowed refetch."""


class SigningKeysUnavailable(RuntimeError):
    """The tenant's key set has never been fetched successfully (the JWKS endpoint is unreachable)."""


class SigningKeyProvider(Protocol):
    """Where verification keys come from; tests inject their own."""

    def signing_key(self, tenant_id: str, kid: str) -> Any:
        """The public key for `kid` in `tenant_id`'s key set (anything `jwt.decode` accepts as key).

        Raises `UnknownSigningKey` or `SigningKeysUnavailable`.
        """
        ...

    def warm(self) -> bool:
        """Fetch every key set now; True when all fetches succeeded."""
        ...


# ------------------------------------------------------------------------------------------ key providers


class _TenantKeySet:
    """One tenant's JWKS: cached, refreshed after `lifetime_s`, refetched on unknown `kid` with a cooldown."""

    def __init__(
        self,
        tenant_id: str,
        url: str,
        *,
        lifetime_s: float,
        timeout_s: float,
        cooldown_s: float,
        clock: Callable[[], float],
    ) -> None:
        self.tenant_id = tenant_id
        # PyJWKClient only fetches here (its own cache is off): we need the stale-on-error behaviour and a
        # cooldown that is not restarted by the regular refresh.
        self._client = PyJWKClient(url, cache_jwk_set=False, timeout=timeout_s)
        self._lifetime_s = lifetime_s
        self._cooldown_s = cooldown_s
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at: float | None = None
        self._last_attempt: float | None = None
        self._last_forced: float | None = None

    def key(self, kid: str) -> PyJWK:
        keys = self._fresh_keys()
        found = keys.get(kid)
        if found is not None:
            return found
        with self._lock:
            found = self._keys.get(kid)  # another thread may have refetched meanwhile
            if found is None:
                now = self._clock()
                if self._last_forced is None or now - self._last_forced >= self._cooldown_s:
                    self._last_forced = now
                    self._refresh_locked(now)
                    found = self._keys.get(kid)
        if found is None:
            raise UnknownSigningKey(kid)
        return found

    def warm(self) -> bool:
        with self._lock:
            return self._refresh_locked(self._clock())

    def _fresh_keys(self) -> dict[str, PyJWK]:
        now = self._clock()
        if self._fetched_at is not None and now - self._fetched_at < self._lifetime_s:
            return self._keys
        # Another thread is refreshing: serve the stale set rather than queue behind its HTTP call.
        if not self._lock.acquire(blocking=not self._keys):
            return self._keys
        try:
            now = self._clock()
            expired = self._fetched_at is None or now - self._fetched_at >= self._lifetime_s
            # After a failed refresh keep serving the stale set and retry after the cooldown; with no keys
            # at all, retry sooner so that a start-up glitch does not refuse every caller for long.
            retry_after = self._cooldown_s if self._keys else NO_KEYS_RETRY_S
            if expired and (self._last_attempt is None or now - self._last_attempt >= retry_after):
                self._refresh_locked(now)
            if not self._keys:
                raise SigningKeysUnavailable(self.tenant_id)
            return self._keys
        finally:
            self._lock.release()

    def _refresh_locked(self, now: float) -> bool:
        self._last_attempt = now
        try:
            jwk_set = self._client.get_jwk_set()
        except jwt.PyJWTError as exc:
            logger.warning(
                "could not fetch the signing keys of tenant %s (%s)%s",
                self.tenant_id,
                type(exc).__name__,
                "; serving the cached keys" if self._keys else "",
            )
            return False
        self._keys = _signing_keys(jwk_set)
        self._fetched_at = now
        return True


def _signing_keys(jwk_set: PyJWKSet) -> dict[str, PyJWK]:
    return {
        key.key_id: key
        for key in jwk_set.keys
        if key.key_id and key.public_key_use in ("sig", None)
    }


class JwksKeyProvider:
    """Signing keys of every allowed tenant, fetched from `auth.jwks_url` (`{tenant}` replaced)."""

    def __init__(
        self,
        settings: AuthSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        unknown_kid_cooldown_s: float = UNKNOWN_KID_COOLDOWN_S,
    ) -> None:
        self._tenants = {
            tenant.lower(): _TenantKeySet(
                tenant,
                settings.jwks_url.replace("{tenant}", tenant),
                lifetime_s=settings.jwks_cache_s,
                timeout_s=settings.jwks_timeout_s,
                cooldown_s=unknown_kid_cooldown_s,
                clock=clock,
            )
            for tenant in settings.tenant_ids
        }

    def signing_key(self, tenant_id: str, kid: str) -> PyJWK:
        """The key for `kid` from the tenant's (cached) key set."""
        key_set = self._tenants.get(tenant_id.lower())
        if key_set is None:  # the validator never asks for a foreign tenant; be safe anyway
            raise UnknownSigningKey(kid)
        return key_set.key(kid)

    def warm(self) -> bool:
        """Fetch every tenant's key set now (start-up); failures are logged, not raised."""
        results = [key_set.warm() for key_set in self._tenants.values()]
        return all(results)


class StaticKeyProvider:
    """A fixed key set for every tenant (tests and air-gapped setups; no HTTP)."""

    def __init__(self, jwks: Mapping[str, Any] | PyJWKSet) -> None:
        jwk_set = jwks if isinstance(jwks, PyJWKSet) else PyJWKSet.from_dict(dict(jwks))
        self._keys = _signing_keys(jwk_set)

    def signing_key(self, tenant_id: str, kid: str) -> PyJWK:  # noqa: ARG002 - protocol signature
        """The key for `kid`, whatever the tenant."""
        try:
            return self._keys[kid]
        except KeyError:
            raise UnknownSigningKey(kid) from None

    def warm(self) -> bool:
        """Nothing to fetch."""
        return True


# ------------------------------------------------------------------------------------------ validator


_DECODE_FAILURES: tuple[tuple[type[jwt.PyJWTError], str, str], ...] = (
    # Most specific first: several of these subclass DecodeError / InvalidTokenError.
    (jwt.ExpiredSignatureError, "expired", "The bearer token has expired."),
    (jwt.ImmatureSignatureError, "not_yet_valid", "The bearer token is not valid yet (nbf/iat)."),
    (jwt.InvalidAudienceError, "audience", "The bearer token's audience (aud) is not this API."),
    (jwt.InvalidIssuerError, "issuer", "The bearer token's issuer is not accepted (iss)."),
    (jwt.InvalidIssuedAtError, "claims", "The bearer token's issued-at claim (iat) is invalid."),
    (jwt.InvalidSignatureError, "signature", "The bearer token's signature is invalid."),
    (
        jwt.InvalidAlgorithmError,
        "algorithm",
        "The bearer token's signing algorithm is not accepted.",
    ),
)


class TokenValidator:
    """Validates Entra ID access tokens against `AuthSettings` and extracts the `Principal`."""

    def __init__(
        self, settings: AuthSettings, key_provider: SigningKeyProvider | None = None
    ) -> None:
        self._settings = settings
        self._tenants = frozenset(tenant.lower() for tenant in settings.tenant_ids)
        self._audiences = list(settings.audiences)
        self._client_ids = frozenset(settings.allowed_client_ids)
        self._keys: SigningKeyProvider = key_provider or JwksKeyProvider(settings)

    def warm(self) -> bool:
        """Pre-fetch the signing keys of every allowed tenant; True when all succeeded."""
        return self._keys.warm()

    def validate(self, token: str) -> Principal:
        """Verify `token` (the part after `Bearer `) and return its principal.

        Raises:
            AuthenticationError: `auth_invalid` for any failed check; the detail names the check, never
                token content.
            ServiceUnavailable: `auth_unavailable` when the tenant's signing keys were never obtainable.
        """
        if not token or len(token) > MAX_TOKEN_CHARS or token.count(".") != 2:
            raise _rejected("malformed", "The bearer token is not a well-formed JWT.")
        header, unverified = _unverified_parts(token)
        if header.get("alg") != ALGORITHM:
            raise _rejected("algorithm", "The bearer token's signing algorithm is not accepted.")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise _rejected("malformed", "The bearer token has no key id (kid).")
        tenant_id = unverified.get("tid")
        if not isinstance(tenant_id, str) or tenant_id.lower() not in self._tenants:
            raise _rejected(
                "tenant", "The bearer token was issued by a tenant that is not accepted."
            )

        try:
            key = self._keys.signing_key(tenant_id, kid)
        except UnknownSigningKey:
            raise _rejected(
                "unknown_key", "The bearer token was signed with an unknown key."
            ) from None
        except SigningKeysUnavailable:
            logger.error("token signing keys unavailable for an accepted tenant")
            raise ServiceUnavailable(
                "The token signing keys could not be fetched from Microsoft Entra ID; try again later.",
                code="auth_unavailable",
                headers={"Retry-After": str(KEYS_RETRY_AFTER_S)},
            ) from None

        claims = self._verified_claims(token, key, tenant_id)
        if self._client_ids:
            client_id = claims.get("azp") or claims.get("appid")
            if client_id not in self._client_ids:
                raise _rejected("client", "The calling application is not accepted.")
        return self._principal(claims)

    def _verified_claims(self, token: str, key: Any, tenant_id: str) -> dict[str, Any]:
        issuers = [
            f"https://login.microsoftonline.com/{tenant_id}/v2.0",
            f"https://sts.windows.net/{tenant_id}/",
        ]
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self._audiences,
                issuer=issuers,
                leeway=self._settings.leeway_s,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.MissingRequiredClaimError as exc:
            # exc.claim is one of REQUIRED_CLAIMS: our constant, not token content.
            raise _rejected(
                "claims", f"The bearer token lacks the required claim '{exc.claim}'."
            ) from None
        except jwt.PyJWTError as exc:
            for error_type, reason, detail in _DECODE_FAILURES:
                if isinstance(exc, error_type):
                    raise _rejected(reason, detail) from None
            raise _rejected("invalid", "The bearer token could not be validated.") from None
        if (
            str(claims.get("tid", "")).lower() != tenant_id.lower()
        ):  # same payload; keep the invariant explicit
            raise _rejected(
                "tenant", "The bearer token was issued by a tenant that is not accepted."
            )
        return claims

    def _principal(self, claims: Mapping[str, Any]) -> Principal:
        principal_id = _first_text(claims, "oid", "azp", "appid")
        if principal_id is None:
            raise _rejected("subject", "The bearer token identifies no caller (oid/azp/appid).")
        name = (
            _first_text(claims, "preferred_username", "upn", "app_displayname", "appid", "azp")
            or principal_id
        )
        return Principal(
            id=principal_id,
            name=name,
            tenant=str(claims["tid"]),
            roles=roles_from_claim(claims.get("roles"), self._settings.roles),
            kind=_principal_kind(claims),
            emails=frozenset(
                value.strip().lower()
                for name in ("preferred_username", "upn", "email")
                if isinstance(value := claims.get(name), str) and "@" in value
            ),
        )


def _unverified_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims *without* verification, only to choose the tenant's key set.

    Parsed here rather than with PyJWT's unverified decode: that one validates every character in Python
    and would run twice more per request on top of the verified decode, which checks everything again.
    """
    header_part, claims_part, _ = token.split(".")
    try:
        header = json.loads(_b64url_decode(header_part))
        claims = json.loads(_b64url_decode(claims_part))
    except (ValueError, binascii.Error):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise _rejected("malformed", "The bearer token is not a well-formed JWT.") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise _rejected("malformed", "The bearer token is not a well-formed JWT.")
    return header, claims


def _b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _first_text(claims: Mapping[str, Any], *names: str) -> str | None:
    for name in names:
        value = claims.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def _principal_kind(claims: Mapping[str, Any]) -> PrincipalKind:
    # `idtyp` is an optional claim; without it, delegated (user) tokens are the ones carrying `scp`.
    idtyp = claims.get("idtyp")
    if idtyp in ("app", "user"):
        return "app" if idtyp == "app" else "user"
    return "user" if "scp" in claims else "app"


def _rejected(reason: str, detail: str) -> AuthenticationError:
    level = logging.INFO if reason == "expired" else logging.WARNING
    logger.log(level, "bearer token rejected: %s", reason, extra={"auth_failure": reason})
    return AuthenticationError(
        detail, code="auth_invalid", headers={"WWW-Authenticate": WWW_AUTHENTICATE_INVALID}
    )
