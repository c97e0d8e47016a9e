"""Who is calling: the principal extracted from a validated token, and its roles (docs/API.md §1.2).

Roles are stored as logical names (`reader`, `writer`, `admin`); the configurable app-role claim values
(`auth.roles`, e.g. `DeltaShare.Writer`) are mapped to them once, when the token is validated. The roles are
hierarchical: admin implies writer implies reader.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from dbrx_api.settings import RoleNames

Role = Literal["reader", "writer", "admin"]
PrincipalKind = Literal["user", "app"]

ROLES: tuple[Role, ...] = get_args(Role)
_RANK: dict[Role, int] = {"reader": 1, "writer": 2, "admin": 3}


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of a request.

    `id` is the stable identifier written to logs, the audit trail and the workflow tables (`changed_by`,
    `requested_by`); `name` is for humans only. `kind` feeds `audit_trail.actor_kind`.
    """

    id: str
    name: str
    tenant: str
    roles: frozenset[Role] = frozenset()
    kind: PrincipalKind = "user"

    def has_role(self, role: Role) -> bool:
        """Whether the principal holds `role` directly or through a higher role."""
        if role not in _RANK:
            raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
        needed = _RANK[role]
        return any(_RANK[held] >= needed for held in self.roles)

    @property
    def highest_role(self) -> Role | None:
        """The strongest role held, or None for a principal without any app role."""
        return max(self.roles, key=_RANK.__getitem__, default=None)


def roles_from_claim(claim: object, names: RoleNames) -> frozenset[Role]:
    """Map the token's `roles` claim (app role values) to logical roles; unknown values are ignored."""
    if not isinstance(claim, list | tuple):
        return frozenset()
    values = {value for value in claim if isinstance(value, str)}
    return frozenset(role for role in ROLES if getattr(names, role) in values)


def all_roles() -> frozenset[Role]:
    """Every logical role (what the local developer holds)."""
    return frozenset(ROLES)


LOCAL_DEVELOPER = Principal(
    id="local-developer",
    name="local-developer",
    tenant="local",
    roles=all_roles(),
    kind="user",
)
"""The principal of every request when `auth.mode = "disabled"` (local environment only)."""
