"""Token hygiene and access review (docs/API.md §16): the expiring-token report and who can read what.

Both read live and follow the minimal-call rules of docs/API.md §1.10: one paged `recipients.list` for the report
(plus one `share_permissions` per recipient it lists), and each share read once for the access view. Activation
links are never part of either answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Literal

from databricks.sdk import WorkspaceClient
from databricks.sdk.service.sharing import (
    AuthenticationType,
    RecipientInfo,
    RecipientTokenInfo,
    ShareInfo,
)

from dbrx_api.dltshr import shares as share_gateway
from dbrx_api.dltshr.recipients import iter_share_permissions, sdk_get_recipient
from dbrx_api.errors import ValidationFailed, upstream
from dbrx_api.schemas.access import (
    AccessObject,
    AccessShare,
    ObjectAccess,
    ObjectReader,
    RecipientAccess,
    TokenReport,
    TokenReportItem,
)
from dbrx_api.schemas.common import enum_text, from_epoch_ms

_DAY_SECONDS = 86_400


def _days_left(expiry: datetime | None, now: datetime) -> float | None:
    return None if expiry is None else round((expiry - now).total_seconds() / _DAY_SECONDS, 1)


def _token_item(
    recipient: RecipientInfo, token: RecipientTokenInfo, shares: list[str], now: datetime
) -> TokenReportItem:
    expiry = from_epoch_ms(token.expiration_time)
    return TokenReportItem(
        recipient=recipient.name or "",
        token_id=token.id,
        created_at=from_epoch_ms(token.created_at),
        expiration_time=expiry,
        days_left=_days_left(expiry, now),
        # A token whose activation link is still listed has not been downloaded yet.
        activated=not token.activation_url,
        shares=shares,
    )


def _in_window(token: RecipientTokenInfo, now: datetime, within: timedelta | None) -> bool:
    expiry = from_epoch_ms(token.expiration_time)
    if expiry is not None and expiry <= now:
        return False  # expired tokens are not listed by Databricks either; keep the report to live ones
    return within is None or (expiry is not None and expiry <= now + within)


def token_report(
    ws: WorkspaceClient,
    *,
    expiring_within: timedelta | None = None,
    activated: bool | None = None,
    recipient: str | None = None,
    now: datetime | None = None,
) -> TokenReport:
    """Every live token of every open-sharing recipient (or of one), soonest expiry first, with its shares."""
    moment = now or datetime.now(UTC)
    with upstream("recipient", recipient):
        infos = [sdk_get_recipient(ws, recipient)] if recipient else list(ws.recipients.list())
    items: list[TokenReportItem] = []
    for info in infos:
        if info.authentication_type != AuthenticationType.TOKEN:
            continue
        tokens = [
            t
            for t in info.tokens or []
            if _in_window(t, moment, expiring_within)
            and (activated is None or (not t.activation_url) == activated)
        ]
        if not tokens:
            continue
        shares = _granted_shares(ws, info.name or "")
        items.extend(_token_item(info, token, shares, moment) for token in tokens)
    items.sort(
        key=lambda i: (
            i.expiration_time or datetime.max.replace(tzinfo=UTC),
            i.recipient,
            i.token_id or "",
        )
    )
    window_days = (
        None if expiring_within is None else expiring_within.total_seconds() / _DAY_SECONDS
    )
    return TokenReport(generated_at=moment, expiring_within_days=window_days, items=items)


def _granted_shares(ws: WorkspaceClient, recipient: str) -> list[str]:
    return sorted(
        {
            p.share_name or ""
            for p in iter_share_permissions(ws, recipient)
            if any(
                (a.principal or "").lower() == recipient.lower()
                and "SELECT" in {enum_text(priv) for priv in a.privileges or []}
                for a in p.privilege_assignments or []
            )
        }
    )


def _objects(share: ShareInfo) -> list[AccessObject]:
    return sorted(
        (
            AccessObject(
                name=o.name or "",
                type=enum_text(o.data_object_type) or "TABLE",
                shared_as=o.shared_as or o.string_shared_as,
            )
            for o in share.objects or []
        ),
        key=lambda o: o.name,
    )


def recipient_access(ws: WorkspaceClient, recipient: str) -> RecipientAccess:
    """The shares a recipient can read now and their objects (each granted share read once)."""
    with upstream("recipient", recipient):
        info = sdk_get_recipient(ws, recipient)
    name = info.name or recipient
    shares = [
        AccessShare(share=share, objects=_objects(share_gateway.sdk_get_share(ws, share)))
        for share in _granted_shares(ws, name)
    ]
    return RecipientAccess(recipient=name, shares=shares)


def _readers_via(share: ShareInfo, full_name: str) -> Literal["object", "schema"] | None:
    """How a share exposes `full_name`: the object itself, or its schema shared whole; None when it does not."""
    wanted = full_name.lower()
    schema = wanted.rsplit(".", 1)[0]
    names = {(o.name or "").lower(): enum_text(o.data_object_type) for o in share.objects or []}
    if wanted in names:
        return "object"
    if names.get(schema) == "SCHEMA":
        return "schema"
    return None


def object_access(ws: WorkspaceClient, full_name: str) -> ObjectAccess:
    """The recipients that can read `catalog.schema.table` now: through each share holding it or its schema."""
    with upstream("share"):
        names = sorted(s.name or "" for s in ws.shares.list_shares())
    readers: list[ObjectReader] = []
    for name in names:
        share = share_gateway.sdk_get_share(ws, name)
        via = _readers_via(share, full_name)
        if via is None:
            continue
        readers.extend(
            ObjectReader(recipient=recipient, share=name, via=via)
            for recipient in _share_grantees(ws, name)
        )
    readers.sort(key=lambda r: (r.recipient, r.share))
    return ObjectAccess(object=full_name.lower(), readers=readers)


def _share_grantees(ws: WorkspaceClient, share: str) -> Iterable[str]:
    return sorted(
        {
            a.principal or ""
            for a in share_gateway.iter_share_permissions(ws, share)
            if "SELECT" in {enum_text(priv) for priv in a.privileges or []}
        }
    )


def access_view(
    ws: WorkspaceClient, *, recipient: str | None, object_name: str | None
) -> RecipientAccess | ObjectAccess:
    """`recipient_access` or `object_access`: exactly one of the two must be asked."""
    if (recipient is None) == (object_name is None):
        raise ValidationFailed(
            "give exactly one of the query parameters 'recipient' and 'object'",
            code="access_query_invalid",
            errors=[
                {
                    # Neither given: the request as a whole; both: the second one.
                    "loc": ["query"] if recipient is None else ["query", "object"],
                    "msg": "give exactly one of 'recipient' and 'object'",
                    "type": "access_query_invalid",
                }
            ],
        )
    if recipient is not None:
        return recipient_access(ws, recipient)
    return object_access(ws, object_name or "")
