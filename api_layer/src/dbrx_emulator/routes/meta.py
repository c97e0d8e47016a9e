"""Host metadata (`/.well-known/databricks-config`, docs/EMULATOR.md §4.1)."""

from __future__ import annotations

from dbrx_emulator.api import ApiCall, ApiRouter, Json
from dbrx_emulator.errors import endpoint_not_found

router = ApiRouter()


@router.get("/.well-known/databricks-config", "meta.host_metadata", public=True)
def host_metadata(call: ApiCall) -> Json:
    """Workspace id, account id and OIDC endpoint; never `cloud` (it would change the SDK's cloud detection)."""
    mode = call.rt.behaviour.host_metadata
    if mode == "404":
        raise endpoint_not_found(call.method, call.path)
    if mode == "minimal":
        return {}
    return {
        "workspace_id": call.rt.workspace.workspace_id,
        "account_id": call.rt.workspace.account_id,
        "oidc_endpoint": f"{call.base_url}/oidc",
    }
