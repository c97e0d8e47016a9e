"""Bearer token and TLS trust for the CLI (docs/API.md §14.2).

Order: `--token` / `DELTASHARE_TOKEN` as is; else an Entra ID client-credentials token via msal when all four
`DELTASHARE_TENANT_ID`, `DELTASHARE_CLIENT_ID`, `DELTASHARE_CLIENT_SECRET`, `DELTASHARE_SCOPE` are set; else no
`Authorization` header at all (a local service with authentication disabled). Tokens and the client secret are
never printed: error messages name variables, never their values.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from dbrx_api.cli.errors import AuthError, UsageError
from dbrx_api.cli.options import ENV_CA_BUNDLE

ENV_TENANT_ID = "DELTASHARE_TENANT_ID"
ENV_CLIENT_ID = "DELTASHARE_CLIENT_ID"
ENV_CLIENT_SECRET = "DELTASHARE_CLIENT_SECRET"  # noqa: S105 - the variable's name, not a secret
ENV_SCOPE = "DELTASHARE_SCOPE"
CLIENT_CREDENTIAL_VARIABLES = (ENV_TENANT_ID, ENV_CLIENT_ID, ENV_CLIENT_SECRET, ENV_SCOPE)
AUTHORITY_HOST = "https://login.microsoftonline.com"


@dataclass(frozen=True, repr=False)
class ClientCredentials:
    """An Entra ID app registration allowed to call the API (its secret is never shown by `repr`)."""

    tenant_id: str
    client_id: str
    client_secret: str
    scope: str

    def __repr__(self) -> str:
        return f"ClientCredentials(tenant_id={self.tenant_id!r}, client_id={self.client_id!r}, scope={self.scope!r})"


# (credentials, CA bundle path or None) -> access token; replaced in tests
TokenAcquirer = Callable[[ClientCredentials, str | None], str]


def client_credentials_from(environ: Mapping[str, str]) -> ClientCredentials | None:
    """The client credentials in the environment; `None` when none of the four variables is set.

    Raises:
        UsageError: some but not all of the four variables are set (names the missing ones).
    """
    values = {name: environ.get(name, "").strip() for name in CLIENT_CREDENTIAL_VARIABLES}
    present = [name for name, value in values.items() if value]
    if not present:
        return None
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise UsageError(
            "client-credentials login needs all of "
            + ", ".join(CLIENT_CREDENTIAL_VARIABLES)
            + "; missing: "
            + ", ".join(missing)
        )
    return ClientCredentials(
        tenant_id=values[ENV_TENANT_ID],
        client_id=values[ENV_CLIENT_ID],
        client_secret=values[ENV_CLIENT_SECRET],
        scope=values[ENV_SCOPE],
    )


def acquire_with_msal(credentials: ClientCredentials, ca_bundle: str | None) -> str:
    """A client-credentials access token from Entra ID (msal is imported only when this is used)."""
    import msal

    try:
        app = msal.ConfidentialClientApplication(
            credentials.client_id,
            client_credential=credentials.client_secret,
            authority=f"{AUTHORITY_HOST}/{credentials.tenant_id}",
            verify=ca_bundle if ca_bundle else True,
        )
        result = app.acquire_token_for_client(scopes=[credentials.scope])
    except (ValueError, OSError) as exc:  # msal's configuration errors and requests' network errors
        raise AuthError(
            f"could not obtain a token from Entra ID for client {credentials.client_id}: "
            f"{type(exc).__name__}"
        ) from exc
    token = result.get("access_token") if isinstance(result, dict) else None
    if not token:
        error = (
            result.get("error", "unknown_error") if isinstance(result, dict) else "unknown_error"
        )
        description = str(result.get("error_description", "")) if isinstance(result, dict) else ""
        # the first line of Entra's description says what is wrong (e.g. AADSTS7000215 invalid secret)
        first_line = description.strip().splitlines()[0] if description.strip() else ""
        raise AuthError(
            f"Entra ID refused the client credentials of {credentials.client_id} for scope "
            f"{credentials.scope}: {error}" + (f" ({first_line})" if first_line else "")
        )
    return str(token)


def resolve_token(
    explicit_token: str | None,
    environ: Mapping[str, str],
    acquire: TokenAcquirer = acquire_with_msal,
) -> str | None:
    """The bearer token to send, or `None` to send no `Authorization` header."""
    if explicit_token:
        return explicit_token
    credentials = client_credentials_from(environ)
    if credentials is None:
        return None
    return acquire(credentials, ca_bundle_path(environ))


def ca_bundle_path(environ: Mapping[str, str]) -> str | None:
    """`DELTASHARE_CA_BUNDLE` when set; raises `UsageError` when it names no readable file."""
    value = environ.get(ENV_CA_BUNDLE, "").strip()
    if not value:
        return None
    if not Path(value).is_file():
        raise UsageError(f"{ENV_CA_BUNDLE} names no readable file: {value}")
    return value


def tls_verification(environ: Mapping[str, str]) -> ssl.SSLContext | bool:
    """What httpx should verify server certificates against: the CA bundle, or the default trust store."""
    path = ca_bundle_path(environ)
    if path is None:
        return True
    try:
        return ssl.create_default_context(cafile=path)
    except (ssl.SSLError, OSError) as exc:
        raise UsageError(
            f"{ENV_CA_BUNDLE} is not a usable CA bundle: {path} ({type(exc).__name__})"
        ) from exc
