"""What the shares and the recipients of the Delta Sharing area (`shares.SharingState`) both use.

`SharingBase` is the root of that area's classes (`recipients.RecipientsArea`, then `shares.SharingState`): the
audit stamps, ownership check, read-after-write lag and error helpers the rules of both resources share.
"""

from __future__ import annotations

from typing import Any

from dbrx_emulator.api import Body, Json
from dbrx_emulator.errors import ApiError, not_owner, uc_not_found
from dbrx_emulator.state.uc import Audit
from dbrx_emulator.store import StateArea


def omit_none(data: dict[str, Any]) -> Json:
    """`data` without its `None` values (unset fields are omitted from responses)."""
    return {k: v for k, v in data.items() if v is not None}


class SharingBase(StateArea):
    """Helpers of the Delta Sharing area; `shares.SharingState` is the area that is registered."""

    name = "sharing"

    def audit(self, owner: str | None, at_ms: int) -> Audit:
        """Audit stamps for an object the principal creates at `at_ms`."""
        principal = self.rt.principal
        return Audit(owner or principal, at_ms, principal, at_ms, principal)

    def _strict(self) -> bool:
        return self.rt.behaviour.enum_case_strict

    def _not_found(self, kind: str, name: str) -> ApiError:
        return uc_not_found(self.rt.behaviour.not_found_style, kind, name)

    def _visible_lag(self, now_ms: int) -> int:
        return now_ms + self.rt.behaviour.read_after_write_lag_ms

    def _check_owner(self, kind: str, name: str, owner: str, body: Body) -> None:
        """Owners change anything; a metastore admin who is not the owner may change only `owner`."""
        if owner == self.rt.principal:
            return
        changes = {k for k, v in body.data.items() if v is not None and k != "name"}
        if self.rt.workspace.metastore_admin and changes <= {"owner"}:
            return
        raise not_owner(kind, name)
