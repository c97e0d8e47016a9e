"""Who is calling: the principal extracted from a validated token, and its roles (docs/API.md §1.2).

Roles are stored as logical names (`reader`, `writer`, `approver`, `admin`); the configurable app-role claim values
(`auth.roles`, e.g. `DeltaShare.Writer`) are mapped to them once, when the token is validated. Admin implies every
role; writer and approver each imply reader, and neither implies the other: the person who asks for a change and
the person who approves it are different roles (docs/GOVERNANCE.md §1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from dbrx_api.settings import RoleNames

Role = Literal["reader", "writer", "approver", "admin"]
PrincipalKind = Literal["user", "app"]

ROLES: tuple[Role, ...] = get_args(Role)
# What holding a role grants (itself included).
_GRANTS: dict[Role, frozenset[Role]] = {
    "reader": frozenset({"reader"}),
    "writer": frozenset({"writer", "reader"}),
    "approver": frozenset({"approver", "reader"}),
    "admin": frozenset(ROLES),
}
# Order of `highest_role` (the strongest role held, for logs).
_RANK: dict[Role, int] = {"reader": 1, "writer": 2, "approver": 3, "admin": 4}


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of a request.

    `id` is the stable identifier written to logs, the audit trail and the workflow tables (`changed_by`,
    `requested_by`); `name` is for humans only. `kind` feeds `audit_trail.actor_kind`. `emails` are the
    lower-cased `preferred_username`, `upn` and `email` claims: what a pack's `approver` list is matched against.
    """

    id: str
    name: str
    tenant: str
    roles: frozenset[Role] = frozenset()
    kind: PrincipalKind = "user"
    emails: frozenset[str] = frozenset()

    def has_role(self, role: Role) -> bool:
        """Whether the principal holds `role` directly or through a role that grants it."""
        if role not in _GRANTS:
            raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
        return any(role in _GRANTS[held] for held in self.roles)

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
