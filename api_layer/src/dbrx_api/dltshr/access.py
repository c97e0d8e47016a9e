"""Token hygiene and access review (docs/API.md §16): the expiring-token report and who can read what.

Both read live and follow the minimal-call rules of docs/API.md §1.10: one paged `recipients.list` for the report
(plus one `share_permissions` per recipient it lists), and each share read once for the access view. Activation
links are never part of either answer.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from databricks.sdk import WorkspaceClient
from databricks.sdk.service.sharing import (
    AuthenticationType,
    RecipientInfo,
    RecipientTokenInfo,
    SharedDataObject,
    ShareInfo,
)

from dbrx_api.dltshr import recipients as recipient_gateway
from dbrx_api.dltshr import shares as share_gateway
from dbrx_api.dltshr.recipients import sdk_get_recipient
from dbrx_api.errors import upstream
from dbrx_api.schemas.access import AccessEntry, AccessView, TokenReport, TokenReportItem
from dbrx_api.schemas.common import enum_text, from_epoch_ms

_DAY_SECONDS = 86_400
Via = Literal["object", "schema"]


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
    """The shares a recipient can read (granted SELECT), sorted."""
    return [g.share for g in recipient_gateway.shares_of(ws, recipient) if "SELECT" in g.privileges]


def exposure(object_name: str, object_type: str | None, table: str) -> Via | None:
    """How a share's object exposes the table `table` (`catalog.schema.table`): as the object itself (`object`),
    through its whole schema shared (`schema`), or not at all (None). Names compare case-insensitively.

    The one matching rule of `?object=` (docs/API.md §16.2), for the live view and for the recorded history alike.
    """
    name = object_name.lower()
    wanted = table.lower()
    if name == wanted:
        return "object"
    if name == wanted.rsplit(".", 1)[0] and (object_type or "").upper() == "SCHEMA":
        return "schema"
    return None


def _exposes(share: ShareInfo, full_name: str | None) -> list[tuple[SharedDataObject, Via | None]]:
    """The share's objects (sorted by name), or, for a table name, the object that exposes it and how."""
    objects = sorted(share.objects or [], key=lambda o: (o.name or "").lower())
    if full_name is None:
        return [(o, None) for o in objects]
    found: list[tuple[SharedDataObject, Via | None]] = []
    for obj in objects:
        via = exposure(obj.name or "", enum_text(obj.data_object_type), full_name)
        if via is not None:
            found.append((obj, via))
    return found


def _share_grantees(ws: WorkspaceClient, share: str) -> list[str]:
    """The recipients that can read a share (granted SELECT), sorted."""
    return sorted(
        g.recipient for g in share_gateway.share_grants(ws, share) if "SELECT" in g.privileges
    )


def access_view(
    ws: WorkspaceClient, *, recipient: str | None = None, object_name: str | None = None
) -> AccessView:
    """Who can read what now: every recipient granted SELECT on a share, with the share's objects.

    `recipient` narrows to the shares granted to it (its grants read once, then only those shares); `object_name`
    (`catalog.schema.table`) to the shares holding that table or its whole schema. Each share is read once.
    """
    if recipient is not None:
        info = sdk_get_recipient(ws, recipient)
        reader = info.name or recipient.lower()
        share_names = _granted_shares(ws, reader)
    else:
        with upstream("share"):
            share_names = sorted(s.name or "" for s in ws.shares.list_shares())
    entries: list[AccessEntry] = []
    for share_name in share_names:
        exposed = _exposes(share_gateway.sdk_get_share(ws, share_name), object_name)
        if not exposed:
            continue
        readers = [reader] if recipient is not None else _share_grantees(ws, share_name)
        entries.extend(
            AccessEntry(
                recipient=name,
                share=share_name,
                object=obj.name or "",
                type=enum_text(obj.data_object_type) or "TABLE",
                shared_as=obj.shared_as or obj.string_shared_as,
                via=via,
            )
            for name in readers
            for obj, via in exposed
        )
    entries.sort(key=lambda e: (e.recipient, e.share, e.object))
    return AccessView(
        recipient=reader if recipient is not None else None,
        object=object_name.lower() if object_name is not None else None,
        entries=entries,
    )
