"""Principal roles: mapping from claim values and the admin ⊃ writer ⊃ reader hierarchy."""

from __future__ import annotations

import pytest

from dbrx_api.dbrx_auth.principal import (
    LOCAL_DEVELOPER,
    Principal,
    Role,
    roles_from_claim,
)
from dbrx_api.settings import RoleNames


def _principal(*roles: Role) -> Principal:
    return Principal(id="p-1", name="Jane", tenant="t-1", roles=frozenset(roles))


@pytest.mark.parametrize(
    ("held", "expected"),
    [
        ((), {"reader": False, "writer": False, "admin": False}),
        (("reader",), {"reader": True, "writer": False, "admin": False}),
        (("writer",), {"reader": True, "writer": True, "admin": False}),
        (("admin",), {"reader": True, "writer": True, "admin": True}),
        (("reader", "admin"), {"reader": True, "writer": True, "admin": True}),
    ],
)
def test_has_role_follows_the_hierarchy(held: tuple[Role, ...], expected: dict[Role, bool]) -> None:
    principal = _principal(*held)
    assert {role: principal.has_role(role) for role in expected} == expected


def test_has_role_rejects_an_unknown_logical_role() -> None:
    with pytest.raises(ValueError, match=r"unknown role 'DeltaShare\.Admin'"):
        _principal("admin").has_role("DeltaShare.Admin")  # type: ignore[arg-type]


def test_highest_role() -> None:
    assert _principal("reader", "writer").highest_role == "writer"
    assert _principal().highest_role is None


def test_roles_from_claim_maps_configured_names_and_ignores_the_rest() -> None:
    names = RoleNames(reader="R", writer="W", admin="A")
    assert roles_from_claim(["W", "DeltaShare.Admin", 7, "other"], names) == {"writer"}
    assert roles_from_claim(["R", "A"], names) == {"reader", "admin"}
    assert roles_from_claim("A", names) == frozenset()  # not a list: no roles
    assert roles_from_claim(None, names) == frozenset()


def test_default_role_names() -> None:
    claim = ["DeltaShare.Reader", "DeltaShare.Writer", "DeltaShare.Admin"]
    assert roles_from_claim(claim, RoleNames()) == {"reader", "writer", "admin"}


def test_local_developer_holds_every_role() -> None:
    assert LOCAL_DEVELOPER.id == "local-developer"
    assert all(LOCAL_DEVELOPER.has_role(role) for role in ("reader", "writer", "admin"))


def test_principal_is_immutable() -> None:
    principal = _principal("reader")
    with pytest.raises(AttributeError):
        principal.roles = frozenset({"admin"})  # type: ignore[misc]
