"""Public recipient activation endpoints (no Authorization; docs/EMULATOR.md §7.5)."""

from __future__ import annotations

from dbrx_emulator.api import ApiCall, ApiRouter, Json
from dbrx_emulator.state.sharing import SharingState

router = ApiRouter(prefixes=("/api/2.1/unity-catalog/public",))


@router.get("/data_sharing_activation_info/{code}", "activation.get_info", public=True)
def get_info(call: ApiCall) -> Json:
    """Who an activation code is for; unknown or used codes are a 404."""
    return call.rt.store.area(SharingState).activation_info(call.params["code"], call.now_ms)


@router.get("/data_sharing_activation/{code}", "activation.retrieve", public=True)
def retrieve(call: ApiCall) -> Json:
    """The credential file, once."""
    return call.rt.store.area(SharingState).retrieve(
        call.params["code"], call.now_ms, call.base_url
    )
