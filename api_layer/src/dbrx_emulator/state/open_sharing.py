"""The recipient's side of Delta Sharing: what a bearer token can read (docs/EMULATOR.md §7.8).

An open-sharing (TOKEN) recipient's client calls the sharing server named in its credential file. `OpenSharingView`
answers those calls from the provider's state: the token must have been downloaded through the activation link and
must not have expired (a rotated token stays valid through its grace period), the client's address must be inside
the recipient's IP access list when it has one, and only shares granted `SELECT` to the recipient are visible.
Tables are the table-like objects of a share under the names the recipient sees (`shared_as`, `<schema>.<table>`),
plus the tables of every shared schema.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from dbrx_emulator.errors import ApiError
from dbrx_emulator.state.recipients import Recipient, Token
from dbrx_emulator.state.shares import TABLE_LIKE, Share, SharingState
from dbrx_emulator.state.uc import Table, UcState


class SharingProtocolError(ApiError):
    """An error of the Delta Sharing protocol: `{"errorCode", "message"}` with the HTTP status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(status, code, message)

    def body(self, request_id: str) -> dict[str, Any]:
        """The body the open protocol sends (not the Databricks REST error shape)."""
        del request_id
        return {"errorCode": self.error_code, "message": self.message}


def unauthenticated(message: str) -> SharingProtocolError:
    """401: no bearer token, an unknown one, or one no longer valid."""
    return SharingProtocolError(401, "UNAUTHENTICATED", message)


def forbidden(message: str) -> SharingProtocolError:
    """403: a valid token used from an address outside the recipient's IP access list."""
    return SharingProtocolError(403, "PERMISSION_DENIED", message)


def not_found(message: str) -> SharingProtocolError:
    """404: a share, schema or table this recipient cannot see (never says whether it exists)."""
    return SharingProtocolError(404, "RESOURCE_DOES_NOT_EXIST", message)


@dataclass(frozen=True)
class SharedTable:
    """A table as a recipient sees it: share, schema and table names, and the provider's table behind it."""

    share: str
    schema: str
    name: str
    table: Table
    history_shared: bool


class OpenSharingView:
    """What one authenticated recipient can read."""

    def __init__(self, sharing: SharingState, recipient: Recipient, now_ms: int) -> None:
        self.sharing = sharing
        self.recipient = recipient
        self.now_ms = now_ms

    @classmethod
    def authenticate(
        cls, sharing: SharingState, bearer: str | None, client_ip: str, now_ms: int
    ) -> OpenSharingView:
        """The view of the recipient owning `bearer`, after the token, expiry and IP checks."""
        if not bearer:
            raise unauthenticated("A bearer token from a Delta Sharing profile is required.")
        found = _token_owner(sharing, bearer)
        if found is None:
            raise unauthenticated("The bearer token is not valid.")
        recipient, token = found
        if not token.active(now_ms):
            raise unauthenticated("The bearer token has expired.")
        if recipient.ip_access_list and not _allowed(client_ip, recipient.ip_access_list):
            raise forbidden(
                f"Access from {client_ip} is not allowed by the recipient's IP access list."
            )
        return cls(sharing, recipient, now_ms)

    def shares(self) -> list[Share]:
        """Shares granted SELECT to this recipient, by name."""
        name = self.recipient.name
        return [
            share
            for share in self.sharing.shares.values()
            if "SELECT" in share.grants.get(name, set()) and self.now_ms >= share.visible_from
        ]

    def share(self, name: str) -> Share:
        """One visible share."""
        for share in self.shares():
            if share.name == name.lower():
                return share
        raise not_found(f"Share '{name}' does not exist or is not shared with you.")

    def tables(self, share_name: str, schema: str | None = None) -> list[SharedTable]:
        """The tables of a share (of one of its schemas), sorted by schema and name."""
        share = self.share(share_name)
        uc = self.sharing.rt.store.area(UcState)
        found: list[SharedTable] = []
        for obj in share.objects.values():
            if obj.data_object_type in TABLE_LIKE:
                table = uc.tables.get(obj.name)
                alias_schema, _, alias_table = obj.alias.partition(".")
                if table is not None:
                    found.append(
                        SharedTable(
                            share.name,
                            alias_schema,
                            alias_table,
                            table,
                            obj.history_data_sharing_status == "ENABLED",
                        )
                    )
            elif obj.data_object_type == "SCHEMA":
                shared_schema = uc.schemas.get(obj.name)
                if shared_schema is not None:
                    alias = obj.alias
                    found.extend(
                        SharedTable(share.name, alias, table.name, table, False)
                        for table in uc.tables_in(shared_schema)
                    )
        if schema is not None:
            found = [t for t in found if t.schema == schema.lower()]
        return sorted(found, key=lambda t: (t.schema, t.name))

    def schemas(self, share_name: str) -> list[str]:
        """The schema names a share shows."""
        share = self.share(share_name)
        names = {t.schema for t in self.tables(share.name)}
        names.update(
            obj.alias for obj in share.objects.values() if obj.data_object_type == "SCHEMA"
        )
        return sorted(names)

    def table(self, share_name: str, schema: str, name: str) -> SharedTable:
        """One table of a share."""
        for table in self.tables(share_name, schema):
            if table.name == name.lower():
                return table
        raise not_found(
            f"Table '{share_name}.{schema}.{name}' does not exist or is not shared with you."
        )


def _token_owner(sharing: SharingState, bearer: str) -> tuple[Recipient, Token] | None:
    for recipient in sharing.recipients.values():
        if recipient.authentication_type != "TOKEN":
            continue
        for token in recipient.tokens:
            if token.bearer_token is not None and token.bearer_token == bearer:
                return recipient, token
    return None


def _allowed(client_ip: str, allow_list: list[str]) -> bool:
    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(entry, strict=False) for entry in allow_list)
