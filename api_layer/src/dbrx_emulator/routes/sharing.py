"""Shares and recipients (docs/EMULATOR.md §7.4, §7.5); the rules live in `state.shares` and `state.recipients`."""

from __future__ import annotations

from dbrx_emulator.api import UC_PREFIXES, ApiCall, ApiRouter, Json
from dbrx_emulator.paging import Pager
from dbrx_emulator.routes.common import permissions_page_size, uc_list_page
from dbrx_emulator.state.shares import SharingState

router = ApiRouter(prefixes=UC_PREFIXES)


def _sharing(call: ApiCall) -> SharingState:
    return call.rt.store.area(SharingState)


def _with_token(body: Json, token: str | None) -> Json:
    if token:
        body["next_page_token"] = token
    return body


# ---------------------------------------------------------------------------------------------- shares


@router.get("/shares", "shares.list_shares")
def list_shares(call: ApiCall) -> Json:
    """ShareInfo list without objects, paged by name."""
    sharing = _sharing(call)
    return uc_list_page(
        call,
        "shares",
        sharing.shares,
        lambda share: sharing.share_json(share, include_objects=False),
        accept=lambda k: call.now_ms >= sharing.shares[k].visible_from,
    )


@router.post("/shares", "shares.create")
def create_share(call: ApiCall) -> Json:
    """Create a share."""
    sharing = _sharing(call)
    return sharing.share_json(sharing.create_share(call.body, call.now_ms), include_objects=False)


@router.get("/shares/{name}", "shares.get")
def get_share(call: ApiCall) -> Json:
    """ShareInfo; objects only with `include_shared_data=true`."""
    sharing = _sharing(call)
    share = sharing.require_share(call.params["name"], call.now_ms)
    return sharing.share_json(
        share, include_objects=bool(call.query.get_bool("include_shared_data"))
    )


@router.patch("/shares/{name}", "shares.update")
def update_share(call: ApiCall) -> Json:
    """Update a share (all-or-nothing); answers ShareInfo with objects."""
    sharing = _sharing(call)
    share = sharing.require_share(call.params["name"])
    return sharing.share_json(
        sharing.update_share(share, call.body, call.now_ms), include_objects=True
    )


@router.delete("/shares/{name}", "shares.delete")
def delete_share(call: ApiCall) -> Json:
    """Delete a share and its grants."""
    sharing = _sharing(call)
    sharing.delete_share(sharing.require_share(call.params["name"]))
    return {}


@router.get("/shares/{name}/permissions", "shares.share_permissions")
def share_permissions(call: ApiCall) -> Json:
    """Grants of a share sorted by principal (lagging after updates when the behaviour asks)."""
    sharing = _sharing(call)
    share = sharing.require_share(call.params["name"], call.now_ms)
    grants = share.grants_seen_at(call.now_ms)
    pager = Pager(call.operation.id, {"name": share.name})
    principals, token = pager.page(
        sorted(grants), pager.cursor(call.query.get_str("page_token")), permissions_page_size(call)
    )
    return _with_token({"privilege_assignments": sharing.assignments(grants, principals)}, token)


@router.patch("/shares/{name}/permissions", "shares.update_permissions")
def update_share_permissions(call: ApiCall) -> Json:
    """Grant or revoke SELECT for recipients."""
    sharing = _sharing(call)
    share = sharing.require_share(call.params["name"])
    sharing.update_permissions(share, call.body, call.now_ms)
    if call.body.bool_("omit_permissions_list"):
        return {}
    return {"privilege_assignments": sharing.assignments(share.grants)}


# ---------------------------------------------------------------------------------------------- recipients


@router.get("/recipients", "recipients.list")
def list_recipients(call: ApiCall) -> Json:
    """RecipientInfo list paged by name; optional filter by sharing identifier."""
    sharing = _sharing(call)
    target = call.query.get_str("data_recipient_global_metastore_id")

    def accept(key: str) -> bool:
        recipient = sharing.recipients[key]
        if call.now_ms < recipient.visible_from:
            return False
        return (
            target is None or (recipient.data_recipient_global_metastore_id or "") == target.lower()
        )

    return uc_list_page(
        call,
        "recipients",
        sharing.recipients,
        lambda recipient: sharing.recipient_json(recipient, call.base_url, call.now_ms),
        filters={"data_recipient_global_metastore_id": target},
        accept=accept,
    )


@router.post("/recipients", "recipients.create")
def create_recipient(call: ApiCall) -> Json:
    """Create a TOKEN or DATABRICKS recipient."""
    sharing = _sharing(call)
    recipient = sharing.create_recipient(call.body, call.now_ms)
    return sharing.recipient_json(recipient, call.base_url, call.now_ms)


@router.get("/recipients/{name}", "recipients.get")
def get_recipient(call: ApiCall) -> Json:
    """RecipientInfo."""
    sharing = _sharing(call)
    recipient = sharing.require_recipient(call.params["name"], call.now_ms)
    return sharing.recipient_json(recipient, call.base_url, call.now_ms)


@router.patch("/recipients/{name}", "recipients.update")
def update_recipient(call: ApiCall) -> Json:
    """Update the present fields of a recipient."""
    sharing = _sharing(call)
    recipient = sharing.update_recipient(
        sharing.require_recipient(call.params["name"]), call.body, call.now_ms
    )
    return sharing.recipient_json(recipient, call.base_url, call.now_ms)


@router.delete("/recipients/{name}", "recipients.delete")
def delete_recipient(call: ApiCall) -> Json:
    """Delete a recipient and its grants."""
    sharing = _sharing(call)
    sharing.delete_recipient(sharing.require_recipient(call.params["name"]))
    return {}


@router.post("/recipients/{name}/rotate-token", "recipients.rotate_token")
def rotate_token(call: ApiCall) -> Json:
    """Shorten the newest active token and create a new one."""
    sharing = _sharing(call)
    recipient = sharing.rotate_token(
        sharing.require_recipient(call.params["name"]), call.body, call.now_ms
    )
    return sharing.recipient_json(recipient, call.base_url, call.now_ms)


@router.get("/recipients/{name}/share-permissions", "recipients.share_permissions")
def recipient_share_permissions(call: ApiCall) -> Json:
    """The shares a recipient may read, paged by share name."""
    sharing = _sharing(call)
    recipient = sharing.require_recipient(call.params["name"], call.now_ms)
    pager = Pager(call.operation.id, {"name": recipient.name})

    def granted(share_name: str) -> bool:
        return bool(sharing.shares[share_name].grants_seen_at(call.now_ms).get(recipient.name))

    keys, token = pager.page(
        sharing.shares.keys(),
        pager.cursor(call.query.get_str("page_token")),
        permissions_page_size(call),
        accept=granted,
    )
    permissions = [
        {
            "share_name": key,
            "privilege_assignments": sharing.assignments(
                sharing.shares[key].grants_seen_at(call.now_ms), [recipient.name]
            ),
        }
        for key in keys
    ]
    return _with_token({"permissions_out": permissions}, token)
