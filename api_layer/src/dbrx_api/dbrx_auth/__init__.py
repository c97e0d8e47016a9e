"""Inbound authentication: Entra ID token validation and the request principal (docs/API.md §1.2)."""

from dbrx_api.dbrx_auth.entra import (
    JwksKeyProvider,
    SigningKeyProvider,
    SigningKeysUnavailable,
    StaticKeyProvider,
    TokenValidator,
    UnknownSigningKey,
)
from dbrx_api.dbrx_auth.principal import LOCAL_DEVELOPER, ROLES, Principal, Role, roles_from_claim

__all__ = [
    "LOCAL_DEVELOPER",
    "ROLES",
    "JwksKeyProvider",
    "Principal",
    "Role",
    "SigningKeyProvider",
    "SigningKeysUnavailable",
    "StaticKeyProvider",
    "TokenValidator",
    "UnknownSigningKey",
    "roles_from_claim",
]
