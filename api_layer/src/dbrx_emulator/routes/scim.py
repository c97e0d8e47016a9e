"""SCIM `Me` (docs/EMULATOR.md §4.3)."""

from __future__ import annotations

import hashlib

from dbrx_emulator.api import ApiCall, ApiResponse, ApiRouter, Json

router = ApiRouter()

SCIM_SCHEMAS = [
    "urn:ietf:params:scim:schemas:core:2.0:User",
    "urn:ietf:params:scim:schemas:extension:workspace:2.0:User",
]
_ALWAYS_RETURNED = ("id", "schemas")


def _group_id(name: str) -> str:
    return str(int(hashlib.sha256(name.encode()).hexdigest(), 16) % 10**15 + 10**15)


def _split(value: str | None) -> set[str]:
    return {part.strip() for part in (value or "").split(",") if part.strip()}


@router.get("/api/2.0/preview/scim/v2/Me", "current_user.me")
def me(call: ApiCall) -> ApiResponse:
    """The seeded principal in SCIM camelCase, with `X-Databricks-Org-Id`."""
    user = call.rt.workspace.current_user
    body: Json = {
        "id": user.id,
        "userName": user.user_name,
        "displayName": user.display_name,
        "active": True,
        "emails": [
            {"value": e, "type": "work", "primary": i == 0} for i, e in enumerate(user.emails)
        ],
        "groups": [
            {
                "display": g,
                "value": _group_id(g),
                "$ref": f"Groups/{_group_id(g)}",
                "type": "direct",
            }
            for g in user.groups
        ],
        "entitlements": [{"value": e} for e in user.entitlements],
        "schemas": list(SCIM_SCHEMAS),
    }
    wanted = _split(call.query.get_str("attributes"))
    excluded = _split(call.query.get_str("excludedAttributes"))
    if wanted:
        body = {k: v for k, v in body.items() if k in wanted or k in _ALWAYS_RETURNED}
    body = {k: v for k, v in body.items() if k not in excluded or k in _ALWAYS_RETURNED}
    return ApiResponse(body, headers={"X-Databricks-Org-Id": call.rt.workspace.workspace_id})
