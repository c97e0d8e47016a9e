"""Delta Sharing recipients: D2D and D2O creation, IP allowlists, tokens and expiry (docs/API.md §5, §11.2-11.3).

Activation links are token material: they leave this module only in the values returned by `create_d2o`,
`rotate_token` and `get_recipient(include_activation_link=True)`, and never go to logs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from databricks.sdk import WorkspaceClient
from databricks.sdk.service.sharing import (
    AuthenticationType,
    IpAccessList,
    RecipientInfo,
    RecipientTokenInfo,
    SecurablePropertiesKvPairs,
    ShareToPrivilegeAssignment,
)

from dbrx_api.errors import AppError, InvalidRequest, UpstreamError, is_transport_failure, upstream
from dbrx_api.once import DirectSender, OnceSender
from dbrx_api.passthrough import Item, enum_values, known_enum, list_all
from dbrx_api.schemas.common import (
    DeleteResult,
    ListQuery,
    enum_text,
    epoch_ms_text,
    from_epoch_ms,
    list_body,
    to_epoch_ms,
)
from dbrx_api.schemas.paths import path_segment
from dbrx_api.schemas.recipients import (
    IMMEDIATE_EXPIRY_WARNING,
    MAX_IP_ENTRIES,
    NO_IP_LIST_WARNING,
    D2DRecipientCreate,
    D2ORecipientCreate,
    IpsAdded,
    IpsRemoved,
    RecipientChanged,
    RecipientDetail,
    RecipientShare,
    RecipientType,
    TokenInfo,
    comparable_ip,
    custom_properties,
)

logger = logging.getLogger(__name__)

# How far an upstream clock may lag ours when deciding whether a token was created by our rotation request: small,
# so that a token created shortly before the request is not mistaken for the rotated one.
_ROTATION_CLOCK_SKEW = timedelta(seconds=2)
EMPTY_IP_LIST_WARNING = "the IP access list is now empty: the credential is usable from any network"


# ------------------------------------------------------------------------------------------ conversions


def recipient_type(info: RecipientInfo) -> RecipientType:
    """D2D for Databricks-to-Databricks recipients, D2O for every open-sharing authentication type."""
    return "D2D" if info.authentication_type == AuthenticationType.DATABRICKS else "D2O"


def _token_active(token: RecipientTokenInfo, now: datetime) -> bool:
    expiry = from_epoch_ms(token.expiration_time)
    return expiry is None or expiry > now


def _tokens(info: RecipientInfo, *, with_links: bool) -> list[TokenInfo]:
    now = datetime.now(UTC)
    tokens = [
        TokenInfo(
            id=t.id,
            created_at=from_epoch_ms(t.created_at),
            created_by=t.created_by,
            updated_at=from_epoch_ms(t.updated_at),
            expiration_time=from_epoch_ms(t.expiration_time),
            active=_token_active(t, now),
            activation_url=(t.activation_url or None) if with_links else None,
        )
        for t in info.tokens or []
    ]
    return sorted(
        tokens, key=lambda t: (t.created_at or datetime.min.replace(tzinfo=UTC), t.id or "")
    )


def recipient_properties(info: RecipientInfo) -> dict[str, str]:
    """The recipient's custom properties, sorted (Databricks' built-in `databricks.*` ones left out)."""
    return custom_properties(
        info.properties_kvpairs.properties if info.properties_kvpairs else None
    )


def _kvpairs(properties: Mapping[str, str] | None) -> SecurablePropertiesKvPairs | None:
    # An empty map serialises to `properties_kvpairs: {}`, which clears the properties (docs/EMULATOR.md §7.5).
    return None if properties is None else SecurablePropertiesKvPairs(properties=dict(properties))


def _summary_fields(info: RecipientInfo, *, with_links: bool = False) -> dict[str, object]:
    ip_list = info.ip_access_list.allowed_ip_addresses if info.ip_access_list else None
    return {
        "name": info.name or "",
        "type": recipient_type(info),
        "authentication_type": enum_text(info.authentication_type) or "UNKNOWN",
        "owner": info.owner,
        "comment": info.comment,
        "activated": info.activated,
        "data_recipient_global_metastore_id": info.data_recipient_global_metastore_id,
        "cloud": info.cloud,
        "region": info.region,
        "ip_access_list": list(ip_list or []),
        "properties": recipient_properties(info),
        "expiration_time": from_epoch_ms(info.expiration_time),
        "tokens": _tokens(info, with_links=with_links),
        "created_at": from_epoch_ms(info.created_at),
        "created_by": info.created_by,
        "updated_at": from_epoch_ms(info.updated_at),
        "updated_by": info.updated_by,
    }


def _activation_link(info: RecipientInfo) -> str | None:
    """The link of the newest active token not yet downloaded (None once the credential was retrieved)."""
    now = datetime.now(UTC)
    candidates = [t for t in info.tokens or [] if t.activation_url and _token_active(t, now)]
    if not candidates:
        return info.activation_url or None if not info.activated else None
    # A rotation creates the new token in the same millisecond as it shortens the old one: break ties by expiry.
    newest = max(candidates, key=lambda t: (t.created_at or 0, t.expiration_time or 2**63))
    return newest.activation_url


def _detail(
    info: RecipientInfo,
    *,
    shares: list[RecipientShare] | None,
    with_links: bool = False,
    warnings: list[str] | None = None,
) -> RecipientDetail:
    """RecipientDetail; `shares` is required so every caller says whether it read the grants (None = not read)."""
    return RecipientDetail.model_validate(
        {
            **_summary_fields(info, with_links=with_links),
            "shares": shares,
            "activation_link": _activation_link(info) if with_links else None,
            "warnings": warnings or [],
        }
    )


# ------------------------------------------------------------------------------------------ gateway
# Each Databricks call on a recipient, built once: the REST service below and the share-pack orchestrator
# (workflow/orchestrator/apply.py, delete.py) both call these. They take the workspace's `WorkspaceClient` (or the
# orchestrator's counted `CountedWorkspace.client`, typed as one) and plain values, put names into URL paths through
# `path_segment` and return the SDK's object; SDK errors leave as `AppError` (`upstream`).

_ROTATE_PATH = "/api/2.1/unity-catalog/recipients/{name}/rotate-token"


def sdk_get_recipient(ws: WorkspaceClient, name: str) -> RecipientInfo:
    """`recipients.get`."""
    with upstream("recipient", name):
        return ws.recipients.get(path_segment(name))


def sdk_create_d2d_recipient(
    ws: WorkspaceClient,
    name: str,
    *,
    metastore_id: str | None,
    comment: str | None,
    sharing_code: str | None = None,
    properties: Mapping[str, str] | None = None,
) -> RecipientInfo:
    """`recipients.create` of a DATABRICKS (D2D) recipient bound to a metastore sharing identifier."""
    with upstream("recipient", name):
        return ws.recipients.create(
            name,
            AuthenticationType.DATABRICKS,
            data_recipient_global_metastore_id=metastore_id,
            comment=comment,
            sharing_code=sharing_code,
            properties_kvpairs=_kvpairs(properties or None),
        )


def sdk_create_d2o_recipient(
    ws: WorkspaceClient,
    name: str,
    *,
    comment: str | None,
    ips: Sequence[str] | None,
    expiration_ms: int | None,
    properties: Mapping[str, str] | None = None,
) -> RecipientInfo:
    """`recipients.create` of a TOKEN (D2O) recipient; no IP list (properties) is sent when None or empty.

    The response carries the one-time activation link.
    """
    with upstream("recipient", name):
        return ws.recipients.create(
            name,
            AuthenticationType.TOKEN,
            comment=comment,
            ip_access_list=IpAccessList(allowed_ip_addresses=list(ips)) if ips else None,
            expiration_time=expiration_ms,
            properties_kvpairs=_kvpairs(properties or None),
        )


def sdk_update_recipient(
    ws: WorkspaceClient,
    name: str,
    *,
    comment: str | None = None,
    ips: Sequence[str] | None = None,
    expiration_ms: int | None = None,
    properties: Mapping[str, str] | None = None,
) -> RecipientInfo:
    """One `recipients.update` carrying the given fields (None: not sent, left as it is).

    `properties` replaces the whole custom map (`{}` removes every custom property).
    """
    arguments: dict[str, Any] = {}
    if comment is not None:
        arguments["comment"] = comment
    if ips is not None:
        # An empty list serialises to `{}`, which clears the allowlist (docs/databricks-wire-contract.md trap 10).
        arguments["ip_access_list"] = IpAccessList(allowed_ip_addresses=list(ips))
    if expiration_ms is not None:
        arguments["expiration_time"] = expiration_ms
    if properties is not None:
        arguments["properties_kvpairs"] = _kvpairs(properties)
    with upstream("recipient", name):
        return ws.recipients.update(path_segment(name), **arguments)


def sdk_rotate_recipient_token(
    ws: WorkspaceClient,
    name: str,
    *,
    existing_token_expire_in_seconds: int,
    sender: OnceSender | None = None,
) -> RecipientInfo:
    """`recipients.rotate_token`, sent exactly once (`dbrx_api.once`) through `sender` (default: the client itself).

    Rotation is not idempotent: a replayed request rotates twice (docs/databricks-wire-contract.md §2.3). A lost
    response leaves as `upstream_unreachable`; the caller reads the recipient to learn whether it happened.
    """
    with upstream("recipient", name):
        response = (sender or DirectSender(ws)).post_once(
            "recipients.rotate_token",
            _ROTATE_PATH.format(name=path_segment(name)),
            {"existing_token_expire_in_seconds": existing_token_expire_in_seconds},
        )
    return RecipientInfo.from_dict(response)


def sdk_delete_recipient(ws: WorkspaceClient, name: str) -> None:
    """`recipients.delete` (its grants on every share go with it)."""
    with upstream("recipient", name):
        ws.recipients.delete(path_segment(name))


# ------------------------------------------------------------------------------------------ reads


RECIPIENTS_PATH = "/api/2.1/unity-catalog/recipients"
_AUTHENTICATION_TYPES = enum_values(AuthenticationType)
_NO_TIME = float("-inf")  # sorts a token without creation time first, as `_tokens` does


def _token_item(token: Item, now_ms: float) -> Item:
    expiry = token.get("expiration_time")
    return {
        "id": token.get("id"),
        "created_at": epoch_ms_text(token.get("created_at")),
        "created_by": token.get("created_by"),
        "updated_at": epoch_ms_text(token.get("updated_at")),
        "expiration_time": epoch_ms_text(expiry),
        "active": expiry is None or expiry == "" or int(expiry) > now_ms,
        "activation_url": None,  # never in a listing (docs/API.md §1.11)
    }


def _token_order(token: Item) -> tuple[float, str]:
    created = token.get("created_at")
    return (_NO_TIME if created is None else int(created), token.get("id") or "")


def recipient_summary_item(recipient: Item, now_ms: float) -> Item:
    """A **RecipientSummary** (docs/API.md §2.2) from a recipient as Databricks sends it, members in the model's
    order, tokens without activation links; `now_ms` decides which tokens are active."""
    get = recipient.get
    authentication = known_enum(get("authentication_type"), _AUTHENTICATION_TYPES)
    ip_list = (get("ip_access_list") or {}).get("allowed_ip_addresses")
    properties = (get("properties_kvpairs") or {}).get("properties")
    return {
        "name": get("name") or "",
        "type": "D2D" if authentication == AuthenticationType.DATABRICKS.value else "D2O",
        "authentication_type": authentication or "UNKNOWN",
        "owner": get("owner"),
        "comment": get("comment"),
        "activated": get("activated"),
        "data_recipient_global_metastore_id": get("data_recipient_global_metastore_id"),
        "cloud": get("cloud"),
        "region": get("region"),
        "ip_access_list": list(ip_list or []),
        "properties": custom_properties(properties),
        "expiration_time": epoch_ms_text(get("expiration_time")),
        "tokens": [
            _token_item(token, now_ms) for token in sorted(get("tokens") or [], key=_token_order)
        ],
        "created_at": epoch_ms_text(get("created_at")),
        "created_by": get("created_by"),
        "updated_at": epoch_ms_text(get("updated_at")),
        "updated_by": get("updated_by"),
    }


def list_recipients(
    ws: WorkspaceClient, query: ListQuery, *, type_filter: RecipientType | None = None
) -> bytes:
    """The JSON body of `GET /recipients` (a **RecipientList**): every recipient (all upstream pages), filtered
    by name and type, without activation links.

    A pass-through read (`dbrx_api.passthrough`): the pages the SDK's `recipients.list()` requests, shaped from
    the decoded JSON, serialised once (docs/API.md §5.1).
    """
    with upstream("recipient"):
        recipients = list_all(ws, RECIPIENTS_PATH, "recipients", {"max_results": 0})
    now_ms = datetime.now(UTC).timestamp() * 1000
    items = [recipient_summary_item(recipient, now_ms) for recipient in recipients]
    if type_filter is not None:
        items = [item for item in items if item["type"] == type_filter]
    return list_body(items, query)


def iter_share_permissions(ws: WorkspaceClient, name: str) -> Iterator[ShareToPrivilegeAssignment]:
    """Every share a recipient is granted on, following `next_page_token` (the SDK returns one page)."""
    page_token: str | None = None
    while True:
        with upstream("recipient", name):
            response = ws.recipients.share_permissions(path_segment(name), page_token=page_token)
        yield from response.permissions_out or []
        page_token = response.next_page_token
        if not page_token:
            return


def shares_of(ws: WorkspaceClient, name: str) -> list[RecipientShare]:
    """The shares a recipient is granted on, with its privileges on each, sorted by share (every page)."""
    shares = [
        RecipientShare(
            share=p.share_name or "",
            privileges=sorted(
                {
                    enum_text(priv) or ""
                    for a in p.privilege_assignments or []
                    if (a.principal or "").lower() == name.lower()
                    for priv in a.privileges or []
                }
            ),
        )
        for p in iter_share_permissions(ws, name)
    ]
    return sorted(shares, key=lambda s: s.share.lower())


def get_recipient(
    ws: WorkspaceClient,
    name: str,
    *,
    include_shares: bool = True,
    include_activation_link: bool = False,
) -> RecipientDetail:
    """A recipient with its shares; activation links only when explicitly asked for (writer role)."""
    info = sdk_get_recipient(ws, name)
    shares = shares_of(ws, name) if include_shares else None
    return _detail(info, shares=shares, with_links=include_activation_link)


# ------------------------------------------------------------------------------------------ create / delete


def create_d2d(ws: WorkspaceClient, name: str, body: D2DRecipientCreate) -> RecipientDetail:
    """Create a Databricks-to-Databricks recipient bound to a metastore sharing identifier."""
    info = sdk_create_d2d_recipient(
        ws,
        name,
        metastore_id=body.recipient_identifier,
        comment=body.description,
        sharing_code=body.sharing_code,
        properties=body.properties,
    )
    # A recipient that did not exist a moment ago holds no grants: [] is true without a read.
    return _detail(info, shares=[])


def create_d2o(
    ws: WorkspaceClient, name: str, body: D2ORecipientCreate, *, now: datetime | None = None
) -> RecipientDetail:
    """Create an open-sharing (token) recipient; the response carries its one-time activation link."""
    if len(body.ip_access_list) > MAX_IP_ENTRIES:
        raise InvalidRequest(
            f"The IP access list would have {len(body.ip_access_list)} entries; the limit is {MAX_IP_ENTRIES}.",
            code="ip_limit_exceeded",
        )
    expiration = None
    if body.expiration_days is not None:
        expiration = to_epoch_ms((now or datetime.now(UTC)) + timedelta(days=body.expiration_days))
    info = sdk_create_d2o_recipient(
        ws,
        name,
        comment=body.description,
        ips=body.ip_access_list,
        expiration_ms=expiration,
        properties=body.properties,
    )
    warnings = [] if body.ip_access_list else [NO_IP_LIST_WARNING]
    return _detail(info, shares=[], with_links=True, warnings=warnings)


def delete_recipient(ws: WorkspaceClient, name: str) -> DeleteResult:
    """Delete a recipient; its grants on every share disappear with it."""
    sdk_delete_recipient(ws, name)
    return DeleteResult(name=name.lower(), deleted=True)


# ------------------------------------------------------------------------------------------ token recipients


def _get_token_recipient(ws: WorkspaceClient, name: str, action: str) -> RecipientInfo:
    info = sdk_get_recipient(ws, name)
    if info.authentication_type != AuthenticationType.TOKEN:
        raise InvalidRequest(
            f"Recipient '{info.name}' uses {enum_text(info.authentication_type)} authentication; "
            f"{action} applies only to TOKEN (D2O) recipients.",
            code="recipient_not_token_type",
        )
    return info


def _current_ips(info: RecipientInfo) -> list[str]:
    return list(info.ip_access_list.allowed_ip_addresses or []) if info.ip_access_list else []


def add_ips(ws: WorkspaceClient, name: str, ips: list[str]) -> IpsAdded:
    """Add canonical IPs/CIDRs to a TOKEN recipient's allowlist (one write, only when something is new)."""
    info = _get_token_recipient(ws, name, "an IP access list")
    current = _current_ips(info)
    # Live entries compared in canonical form (a live `10.0.0.1/32` is `10.0.0.1`), as share packs compare them.
    held = {comparable_ip(ip) for ip in current}
    added = [ip for ip in ips if ip not in held]
    already_present = [ip for ip in ips if ip in held]
    resulting = current + added
    if len(resulting) > MAX_IP_ENTRIES:
        raise InvalidRequest(
            f"The IP access list would have {len(resulting)} entries; the limit is {MAX_IP_ENTRIES}.",
            code="ip_limit_exceeded",
        )
    if added:
        info = sdk_update_recipient(ws, name, ips=resulting)
        resulting = _current_ips(info) if info.ip_access_list is not None else resulting
    return IpsAdded(
        recipient=info.name or name.lower(),
        added=added,
        already_present=already_present,
        ip_access_list=resulting,
    )


def revoke_ips(ws: WorkspaceClient, name: str, ips: list[str]) -> IpsRemoved:
    """Remove IPs from a TOKEN recipient's allowlist; emptying it sends `{}`, which clears the list."""
    info = _get_token_recipient(ws, name, "an IP access list")
    current = _current_ips(info)
    held = {comparable_ip(ip) for ip in current}
    removed = [ip for ip in ips if ip in held]
    not_present = [ip for ip in ips if ip not in held]
    resulting = [ip for ip in current if comparable_ip(ip) not in removed]
    if removed:
        sdk_update_recipient(ws, name, ips=resulting)
    warnings = [EMPTY_IP_LIST_WARNING] if removed and not resulting else []
    return IpsRemoved(
        recipient=info.name or name.lower(),
        removed=removed,
        not_present=not_present,
        ip_access_list=resulting,
        warnings=warnings,
    )


def _expiring_token_activated(info: RecipientInfo) -> bool:
    """Whether the token a rotation shortens (the newest active one) was already downloaded by the partner.

    Databricks empties a token's `activation_url` once its credential is retrieved. No active token: nothing to cut.
    """
    now = datetime.now(UTC)
    active = [t for t in info.tokens or [] if _token_active(t, now)]
    if not active:
        return False
    newest = max(active, key=lambda t: (t.created_at or 0, t.expiration_time or 2**63))
    return not newest.activation_url


def rotate_token(
    ws: WorkspaceClient, name: str, *, existing_token_expire_in_seconds: int = 0
) -> RecipientDetail:
    """Rotate a TOKEN recipient's bearer token; the response carries the new activation link.

    Rotation is not idempotent: when the outcome is unknown (transport failure after retries) the recipient is read
    once and the rotation reported as done if a token created after the request began is visible. With no grace
    period (0) the recipient is read first, and `warnings` says so when the token being expired was activated.
    """
    warnings: list[str] = []
    if existing_token_expire_in_seconds == 0:
        # The rotation response no longer lists the token it expired, so whether a partner is being cut off can
        # only be seen before; the read costs one call and only when no grace period was asked for.
        before = sdk_get_recipient(ws, name)
        if _expiring_token_activated(before):
            warnings.append(IMMEDIATE_EXPIRY_WARNING)
    started = datetime.now(UTC)
    try:
        info = sdk_rotate_recipient_token(
            ws, name, existing_token_expire_in_seconds=existing_token_expire_in_seconds
        )
    except AppError as exc:
        if not is_transport_failure(exc):
            raise
        info = sdk_get_recipient(ws, name)
        threshold = to_epoch_ms(started - _ROTATION_CLOCK_SKEW)
        if not any((t.created_at or 0) >= threshold for t in info.tokens or []):
            raise UpstreamError(
                "The token rotation request could not be confirmed; the workspace was unreachable.",
                code="upstream_unreachable",
            ) from exc
        logger.warning("token rotation confirmed by read-back after a transport failure")
    # Rotation does not touch grants and this response does not read them: null, not a misleading [].
    return _detail(info, shares=None, with_links=True, warnings=warnings)


def set_description(ws: WorkspaceClient, name: str, description: str) -> RecipientChanged:
    """Set the recipient's description (one write, only when it differs)."""
    info = sdk_get_recipient(ws, name)
    changed = (info.comment or "") != description
    if changed:
        info = sdk_update_recipient(ws, name, comment=description)
    return RecipientChanged.model_validate({**_summary_fields(info), "changed": changed})


def set_properties(
    ws: WorkspaceClient, name: str, properties: Mapping[str, str]
) -> RecipientChanged:
    """Replace the recipient's custom properties (one write, only when the map differs)."""
    info = sdk_get_recipient(ws, name)
    changed = recipient_properties(info) != dict(properties)
    if changed:
        info = sdk_update_recipient(ws, name, properties=properties)
    return RecipientChanged.model_validate({**_summary_fields(info), "changed": changed})


def set_expiration(
    ws: WorkspaceClient, name: str, expiration_days: int, *, now: datetime | None = None
) -> RecipientChanged:
    """Set a TOKEN recipient's token expiry to now + days."""
    _get_token_recipient(ws, name, "token expiry")
    expiration = to_epoch_ms((now or datetime.now(UTC)) + timedelta(days=expiration_days))
    info = sdk_update_recipient(ws, name, expiration_ms=expiration)
    return RecipientChanged.model_validate({**_summary_fields(info), "changed": True})
