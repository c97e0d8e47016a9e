"""Sign-in of the reviewer console (docs/API.md §17.1): Entra ID authorization code flow with PKCE through MSAL,
and the signed cookies that carry the flow and then the signed-in person.

The access token MSAL obtains is validated exactly as an API bearer token is (`TokenValidator`: issuer, audience,
signature, roles from the `roles` claim), then dropped: the session cookie keeps only the principal (id, name,
roles, e-mail addresses) and an expiry, signed with HMAC-SHA256. No token, code or verifier reaches a log.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, cast

import msal

from dbrx_api.dbrx_auth.principal import ROLES, Principal, Role
from dbrx_api.errors import AuthenticationError
from dbrx_api.settings import AuthSettings, ConsoleSettings

SESSION_COOKIE = "ds_console_session"
FLOW_COOKIE = "ds_console_signin"
FLOW_MAX_AGE_S = 600


@dataclass(frozen=True)
class SignedIn:
    """A completed sign-in: who, where to send them back, and how long their session may last."""

    principal: Principal
    return_to: str
    session_lifetime_s: int


class _Validator(Protocol):
    def validate(self, token: str) -> Principal: ...


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(payload: Mapping[str, Any], secret: str, *, purpose: str) -> str:
    """`<payload>.<mac>`: the JSON payload and its HMAC-SHA256 under `secret`, bound to `purpose`."""
    body = _b64(json.dumps(dict(payload), separators=(",", ":"), sort_keys=True).encode())
    mac = hmac.new(secret.encode(), f"{purpose}.{body}".encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def unsign(value: str | None, secret: str, *, purpose: str) -> dict[str, Any] | None:
    """The payload of a value `sign` produced with the same secret and purpose and not expired (`exp`); else None."""
    if not value or value.count(".") != 1:
        return None
    body, mac = value.split(".")
    expected = hmac.new(secret.encode(), f"{purpose}.{body}".encode(), hashlib.sha256).digest()
    try:
        if not hmac.compare_digest(_unb64(mac), expected):
            return None
        payload = json.loads(_unb64(body))
    except ValueError:
        return None
    if not isinstance(payload, dict) or float(payload.get("exp", 0)) < time.time():
        return None
    return payload


def session_lifetime_s(settings: ConsoleSettings, token_lifetime_s: float | None) -> int:
    """How long a session lasts: the life of the access token it was built from, capped by
    `console.session_max_age_s`.

    The session keeps the token's roles, so it must not outlive the token: a role removed in Entra ID then stops
    working in the console when it would stop working for an API caller holding the same token
    (docs/API.md §17.1).
    """
    if token_lifetime_s is None or token_lifetime_s <= 0:
        return settings.session_max_age_s
    return int(min(settings.session_max_age_s, token_lifetime_s))


def session_value(
    principal: Principal,
    settings: ConsoleSettings,
    *,
    lifetime_s: float | None = None,
    now: float | None = None,
) -> str:
    """The signed session cookie value of a signed-in person (no token in it), valid `lifetime_s` seconds
    (default `console.session_max_age_s`)."""
    if settings.session_secret is None:
        raise ValueError("console.session_secret is not set")
    payload = {
        "id": principal.id,
        "name": principal.name,
        "tenant": principal.tenant,
        "roles": sorted(principal.roles),
        "emails": sorted(principal.emails),
        "exp": (now if now is not None else time.time())
        + (lifetime_s if lifetime_s is not None else settings.session_max_age_s),
    }
    return sign(payload, settings.session_secret.get_secret_value(), purpose="session")


def principal_from_session(value: str | None, settings: ConsoleSettings) -> Principal | None:
    """The person of a valid, unexpired session cookie, or None."""
    if settings.session_secret is None:
        return None
    payload = unsign(value, settings.session_secret.get_secret_value(), purpose="session")
    if payload is None:
        return None
    roles = frozenset(cast(Role, r) for r in payload.get("roles", []) if r in ROLES)
    return Principal(
        id=str(payload["id"]),
        name=str(payload.get("name") or payload["id"]),
        tenant=str(payload.get("tenant") or ""),
        roles=roles,
        kind="user",
        emails=frozenset(str(e) for e in payload.get("emails", [])),
    )


def authority_of(console: ConsoleSettings, auth: AuthSettings) -> str:
    """The Entra ID authority: the configured one, else the first allowed tenant's."""
    if console.authority:
        return console.authority
    tenant = auth.tenant_ids[0] if auth.tenant_ids else "organizations"
    return f"https://login.microsoftonline.com/{tenant}"


class ConsoleSignIn:
    """The authorization code flow with PKCE of one console app registration (MSAL confidential client).

    `http_client` is MSAL's transport (tests pass a fake authority); by default MSAL's own `requests` session.
    """

    def __init__(
        self,
        console: ConsoleSettings,
        auth: AuthSettings,
        validator: _Validator,
        *,
        http_client: Any = None,
    ) -> None:
        if not console.sign_in_configured:
            raise ValueError("console sign-in is not configured (console.client_id, ...)")
        if console.client_secret is None or console.session_secret is None:  # for the type checker
            raise ValueError("console sign-in is not configured")
        self._console = console
        self._validator = validator
        self._secret = console.session_secret.get_secret_value()
        extra: dict[str, Any] = {}
        if http_client is not None:
            extra["http_client"] = http_client
        self._app = msal.ConfidentialClientApplication(
            console.client_id,
            client_credential=console.client_secret.get_secret_value(),
            authority=authority_of(console, auth),
            **extra,
        )

    def start(self, return_to: str) -> tuple[str, str]:
        """`(authorization URL, signed flow cookie value)`; the flow holds the PKCE verifier, state and nonce."""
        # The reply comes back as a query (a top-level GET): a form_post reply is a cross-site POST, on which the
        # browser withholds the SameSite=Lax flow cookie (docs/API.md §17.1).
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="response_mode='form_post' is recommended")
            flow = self._app.initiate_auth_code_flow(
                list(self._console.scopes), redirect_uri=self._console.redirect_uri
            )
        payload = {"flow": flow, "return_to": return_to, "exp": time.time() + FLOW_MAX_AGE_S}
        return str(flow["auth_uri"]), sign(payload, self._secret, purpose="flow")

    def finish(self, flow_cookie: str | None, query: Mapping[str, str]) -> SignedIn:
        """Redeem the code of the callback `query` against the flow of `flow_cookie`.

        Returns the validated principal, where to return to and how long the session may last. Raises `AuthenticationError`
        (`signin_failed`) when the flow is missing or expired, the state differs, the authority refuses the
        code, or the token is not a valid API token.
        """
        payload = unsign(flow_cookie, self._secret, purpose="flow")
        if payload is None:
            raise AuthenticationError(
                "The sign-in expired or was started elsewhere; sign in again.", code="signin_failed"
            )
        try:
            result = self._app.acquire_token_by_auth_code_flow(payload["flow"], dict(query))
        except ValueError:  # MSAL: state mismatch or a reply that does not belong to the flow
            raise AuthenticationError(
                "The sign-in reply does not match the sign-in that was started.",
                code="signin_failed",
            ) from None
        token = result.get("access_token") if isinstance(result, dict) else None
        if not token:
            raise AuthenticationError(
                "Entra ID did not issue a token for the console; sign in again.",
                code="signin_failed",
            )
        principal = self._validator.validate(str(token))
        expires_in = result.get("expires_in")
        return SignedIn(
            principal=principal,
            return_to=str(payload.get("return_to") or ""),
            session_lifetime_s=session_lifetime_s(
                self._console, float(expires_in) if isinstance(expires_in, int | float) else None
            ),
        )
