"""Recipients (docs/API.md §5, §11.2-11.3): thin routes over `dltshr.recipients`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, Response, status
from pydantic import BeforeValidator

from dbrx_api.dependencies import ActivationLinkDep, WorkspaceClientDep
from dbrx_api.dltshr import recipients as recipient_service
from dbrx_api.routes.common import ListQueryDep, UcNamePath, json_body, operation, set_location
from dbrx_api.schemas.common import DeleteResult
from dbrx_api.schemas.recipients import (
    D2DRecipientCreate,
    D2ORecipientCreate,
    DescriptionUpdate,
    ExpirationUpdate,
    IpList,
    IpsAdded,
    IpsRemoved,
    PropertiesUpdate,
    RecipientChanged,
    RecipientDetail,
    RecipientList,
    RecipientType,
    RotateToken,
)

router = APIRouter(prefix="/recipients", tags=["Recipients"])

# Enum query values are case-insensitive (docs/API.md §1.7): `type=d2o` filters rather than failing.
RecipientTypeQuery = Annotated[
    RecipientType,
    BeforeValidator(lambda value: value.upper() if isinstance(value, str) else value),
]

# Swagger shows the grace period first: expiring an activated token at once cuts the partner off (docs/API.md §5.8).
ROTATE_EXAMPLES: dict[str, Any] = {
    "grace": {
        "summary": "Keep the current token valid for one hour",
        "value": {"existing_token_expire_in_seconds": 3600},
    },
    "immediate": {
        "summary": "Expire the current token now (same as no body)",
        "value": {"existing_token_expire_in_seconds": 0},
    },
}


@router.get("", response_model=RecipientList, **operation("recipients_list", "reader"))
def list_recipients(
    ws: WorkspaceClientDep,
    query: ListQueryDep,
    type: Annotated[
        RecipientTypeQuery | None, Query(description="D2D or D2O (case-insensitive)")
    ] = None,
) -> Response:
    """List recipients (no activation links), filtered by name and type."""
    return json_body(recipient_service.list_recipients(ws, query, type_filter=type))


@router.get("/{name}", **operation("recipients_get", "reader", errors=[404]))
def get_recipient(
    name: UcNamePath,
    include_activation_link: ActivationLinkDep,
    ws: WorkspaceClientDep,
    include_shares: Annotated[bool, Query(description="Include the shares granted to it")] = True,
) -> RecipientDetail:
    """A recipient with its shares; `include_activation_link=true` (writer) also returns its activation link."""
    return recipient_service.get_recipient(
        ws, name, include_shares=include_shares, include_activation_link=include_activation_link
    )


@router.post(
    "/d2d/{name}",
    status_code=status.HTTP_201_CREATED,
    **operation("recipients_create_d2d", "writer", body=True, errors=[409]),
)
def create_d2d(
    name: UcNamePath,
    body: D2DRecipientCreate,
    ws: WorkspaceClientDep,
    request: Request,
    response: Response,
) -> RecipientDetail:
    """Create a Databricks-to-Databricks recipient from its metastore sharing identifier."""
    created = recipient_service.create_d2d(ws, name, body)
    set_location(request, response, "get_recipient", name=created.name)
    return created


@router.post(
    "/d2o/{name}",
    status_code=status.HTTP_201_CREATED,
    **operation("recipients_create_d2o", "writer", body=True, errors=[409]),
)
def create_d2o(
    name: UcNamePath,
    ws: WorkspaceClientDep,
    request: Request,
    response: Response,
    body: Annotated[D2ORecipientCreate | None, Body()] = None,
) -> RecipientDetail:
    """Create an open-sharing (token) recipient; the response carries its one-time activation link."""
    created = recipient_service.create_d2o(ws, name, body or D2ORecipientCreate())
    set_location(request, response, "get_recipient", name=created.name)
    return created


@router.delete("/{name}", **operation("recipients_delete", "admin", errors=[404]))
def delete_recipient(name: UcNamePath, ws: WorkspaceClientDep) -> DeleteResult:
    """Delete a recipient; its grants on every share disappear with it."""
    return recipient_service.delete_recipient(ws, name)


@router.put(
    "/{name}/ipaddress/add",
    **operation("recipients_add_ips", "writer", body=True, errors=[404]),
)
def add_ips(name: UcNamePath, body: IpList, ws: WorkspaceClientDep) -> IpsAdded:
    """Add IPv4/IPv6 addresses or CIDRs to a token recipient's access list (idempotent)."""
    return recipient_service.add_ips(ws, name, body.ip_access_list)


@router.put(
    "/{name}/ipaddress/revoke",
    **operation("recipients_revoke_ips", "writer", body=True, errors=[404]),
)
def revoke_ips(name: UcNamePath, body: IpList, ws: WorkspaceClientDep) -> IpsRemoved:
    """Remove addresses from a token recipient's access list (idempotent)."""
    return recipient_service.revoke_ips(ws, name, body.ip_access_list)


@router.post(
    "/{name}/tokens/rotate",
    **operation("recipients_rotate_token", "writer", body=True, errors=[404, 409]),
)
def rotate_token(
    name: UcNamePath,
    ws: WorkspaceClientDep,
    body: Annotated[RotateToken | None, Body(openapi_examples=ROTATE_EXAMPLES)] = None,
) -> RecipientDetail:
    """Rotate a token recipient's bearer token; returns the new activation link.

    Without a body the current token expires immediately; send `existing_token_expire_in_seconds` (e.g. 3600) to
    give the partner a grace period to download the new credential (docs/API.md §5.8).
    """
    seconds = (body or RotateToken()).existing_token_expire_in_seconds
    return recipient_service.rotate_token(ws, name, existing_token_expire_in_seconds=seconds)


@router.put(
    "/{name}/description",
    **operation("recipients_set_description", "writer", body=True, errors=[404]),
)
def set_description(
    name: UcNamePath, body: DescriptionUpdate, ws: WorkspaceClientDep
) -> RecipientChanged:
    """Set the recipient's description (no upstream write when unchanged)."""
    return recipient_service.set_description(ws, name, body.description)


@router.put(
    "/{name}/properties",
    **operation("recipients_set_properties", "writer", body=True, errors=[404]),
)
def set_properties(
    name: UcNamePath, body: PropertiesUpdate, ws: WorkspaceClientDep
) -> RecipientChanged:
    """Replace the recipient's custom properties (`{}` removes them all; no upstream write when unchanged)."""
    return recipient_service.set_properties(ws, name, body.properties)


@router.put(
    "/{name}/expiration",
    **operation("recipients_set_expiration", "writer", body=True, errors=[404]),
)
def set_expiration(
    name: UcNamePath, body: ExpirationUpdate, ws: WorkspaceClientDep
) -> RecipientChanged:
    """Set a token recipient's token expiry to now + `expiration_days`."""
    return recipient_service.set_expiration(ws, name, body.expiration_days)
